package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
)

// writeParquet makes a Parquet file with an unrestricted DuckDB.
func writeParquet(t *testing.T, path, selectSQL string) {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.Exec("COPY (" + selectSQL + ") TO '" + path + "' (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB) (*Engine, string) {
	t.Helper()
	root := t.TempDir()
	data := filepath.Join(root, "objects", "datasets")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), Options{Threads: 2, TempDir: filepath.Join(root, "tmp"), AllowedDirs: []string{data}, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, data
}

type result struct {
	cols      []string
	types     []string
	rows      []string
	truncated bool
}

func run(e *Engine, sqlText string, maxRows int, params ...any) (result, error) {
	var res result
	err := e.Query(context.Background(), Request{SQL: sqlText, Params: params, MaxRows: maxRows}, func(c *Cursor) error {
		for _, col := range c.Columns {
			res.cols = append(res.cols, col.Name)
			res.types = append(res.types, col.Type)
		}
		for {
			ok, err := c.Next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			res.rows = append(res.rows, string(c.AppendJSON(nil)))
		}
		res.truncated = c.Truncated()
		return nil
	})
	return res, err
}

func TestViewsAndQuery(t *testing.T) {
	e, data := open(t)
	f := filepath.Join(data, "a.parquet")
	writeParquet(t, f, "SELECT range AS id, 'n' || range AS name FROM range(10)")
	if err := e.ReplaceView(context.Background(), "probe", []string{f}); err != nil {
		t.Fatal(err)
	}
	res, err := run(e, "SELECT COUNT(*) AS n FROM probe", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.rows, ""); got != "[10]" || res.types[0] != "BIGINT" {
		t.Fatalf("count: %v %v", res.rows, res.types)
	}
	res, err = run(e, "SELECT id, name FROM probe WHERE id >= $1 ORDER BY id DESC;", 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.rows, ",") != `[9,"n9"],[8,"n8"],[7,"n7"]` || !res.truncated {
		t.Fatalf("rows %v truncated %v", res.rows, res.truncated)
	}
	if err := e.DropView(context.Background(), "probe"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(e, "SELECT * FROM probe", 10); !errs.Is(err, errs.Invalid) {
		t.Fatalf("dropped view: %v", err)
	}
}

func TestRendering(t *testing.T) {
	e, _ := open(t)
	cases := []struct{ sql, want string }{
		{"SELECT NULL::INTEGER", `[null]`},
		{"SELECT 42::TINYINT, 7::UBIGINT, true", `[42,7,true]`},
		{"SELECT 9007199254740992::BIGINT, 9007199254740993::BIGINT, -9007199254740993::BIGINT", `[9007199254740992,"9007199254740993","-9007199254740993"]`},
		{"SELECT 170141183460469231731687303715884105727::HUGEINT, 5::HUGEINT", `["170141183460469231731687303715884105727",5]`},
		{"SELECT 12.50::DECIMAL(10,2), -0.001::DECIMAL(18,3), 123456789012345678901234567.89::DECIMAL(38,2)", `["12.5","-0.001","123456789012345678901234567.89"]`},
		{"SELECT 1.5::DOUBLE, 'nan'::DOUBLE, 'inf'::FLOAT", `[1.5,"NaN","Infinity"]`},
		{"SELECT DATE '2024-02-29', TIME '13:14:15.5', TIMESTAMP '2024-01-02 03:04:05.123456'", `["2024-02-29","13:14:15.5","2024-01-02T03:04:05.123456"]`},
		{"SELECT TIMESTAMPTZ '2024-01-02 03:04:05+00'", `["2024-01-02T03:04:05Z"]`},
		{"SELECT [1, NULL, 3], ['a'], []::INT[]", `[[1,null,3],["a"],[]]`},
		{"SELECT {'z': 1, 'a': 'x', 'm': NULL}", `[{"z":1,"a":"x","m":null}]`},
		{"SELECT MAP {'k': 1}, MAP {1: 'one'}", `[{"k":1},[{"key":1,"value":"one"}]]`},
		{"SELECT '\"q\"\n'::VARCHAR, 'abc'::BLOB", `["\"q\"\n","YWJj"]`},
		{"SELECT '8c4f1b6e-2d1a-4c8e-9f0a-1b2c3d4e5f60'::UUID", `["8c4f1b6e-2d1a-4c8e-9f0a-1b2c3d4e5f60"]`},
		{"SELECT INTERVAL 3 DAY", `[{"months":0,"days":3,"micros":0}]`},
		{"SELECT [{'d': 1.25::DECIMAL(5,2)}]", `[[{"d":"1.25"}]]`},
		{"SELECT '{\"a\":[1,2]}'::JSON", `[{"a":[1,2]}]`},
	}
	for _, tc := range cases {
		t.Run(tc.sql, func(t *testing.T) {
			res, err := run(e, tc.sql, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.rows) != 1 || res.rows[0] != tc.want {
				t.Fatalf("got %v, want %s (types %v)", res.rows, tc.want, res.types)
			}
			if !json.Valid([]byte(res.rows[0])) {
				t.Fatalf("invalid JSON %s", res.rows[0])
			}
		})
	}
}

func TestLockdown(t *testing.T) {
	e, data := open(t)
	f := filepath.Join(data, "a.parquet")
	writeParquet(t, f, "SELECT 1 AS id")
	if err := e.ReplaceView(context.Background(), "probe", []string{f}); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(data), "secret.txt")
	os.WriteFile(outside, []byte("secret"), 0o644)
	hostile := []struct {
		sql  string
		kind errs.Kind
	}{
		{"COPY (SELECT 1) TO '" + filepath.Join(data, "pwn.csv") + "'", errs.Forbidden},
		{"COPY probe TO '/tmp/pwn.csv'", errs.Forbidden},
		{"INSERT INTO probe VALUES (2)", errs.Forbidden},
		{"UPDATE probe SET id = 3", errs.Forbidden},
		{"DELETE FROM probe", errs.Forbidden},
		{"INSERT INTO nope VALUES (2)", errs.Forbidden},
		{"SELEC 1", errs.Invalid},
		{"SELECT * FROM nope", errs.Invalid},
		{"CREATE TABLE t AS SELECT 1", errs.Forbidden},
		{"CREATE OR REPLACE VIEW probe AS SELECT 666 AS id", errs.Forbidden},
		{"DROP VIEW probe", errs.Forbidden},
		{"ATTACH '/tmp/x.db' AS x", errs.Forbidden},
		{"INSTALL httpfs", errs.Forbidden},
		{"LOAD httpfs", errs.Forbidden},
		{"SET threads = 1", errs.Forbidden},
		{"SET enable_external_access = true", errs.Forbidden},
		{"RESET lock_configuration", errs.Forbidden},
		{"PRAGMA threads=1", ""},
		{"SELECT 1; DROP VIEW probe", ""},
		{"SELECT * FROM read_csv('/etc/passwd')", errs.Forbidden},
		{"SELECT * FROM read_text('" + outside + "')", errs.Forbidden},
		{"SELECT * FROM read_text('" + data + "/../secret.txt')", errs.Forbidden},
		{"SELECT * FROM read_parquet('s3://bucket/x.parquet')", errs.Forbidden},
		{"SELECT * FROM read_parquet('https://example.com/x.parquet')", errs.Forbidden},
		{"SELECT * FROM glob('/*')", errs.Forbidden},
		{"SELECT * FROM query('CREATE TABLE t AS SELECT 1')", errs.Invalid},
		{"EXPORT DATABASE '/tmp/exp'", errs.Forbidden},
		{"CHECKPOINT", ""},
		{"DETACH memory", ""},
		{"SET VARIABLE x = 1", errs.Forbidden},
		{"PREPARE p AS SELECT 1", errs.Forbidden},
		{"CREATE MACRO m() AS 1", errs.Forbidden},
		{"CALL pragma_version()", ""},
		{"BEGIN TRANSACTION", errs.Forbidden},
	}
	for _, tc := range hostile {
		t.Run(tc.sql, func(t *testing.T) {
			res, err := run(e, tc.sql, 10)
			if err == nil {
				// Only harmless reads may succeed.
				if strings.HasPrefix(tc.sql, "CALL pragma_version") {
					return
				}
				t.Fatalf("hostile SQL succeeded: %v", res.rows)
			}
			if tc.kind != "" && !errs.Is(err, tc.kind) {
				t.Fatalf("kind %s, want %s: %v", errs.KindOf(err), tc.kind, err)
			}
			if errs.Is(err, errs.Internal) {
				t.Fatalf("internal error: %v", err)
			}
		})
	}
	// The view and the data are untouched, nothing was written.
	res, err := run(e, "SELECT id FROM probe", 10)
	if err != nil || strings.Join(res.rows, "") != "[1]" {
		t.Fatalf("probe after attacks: %v %v", res.rows, err)
	}
	if _, err := os.Stat(filepath.Join(data, "pwn.csv")); err == nil {
		t.Fatal("COPY wrote a file")
	}
	// Its own Parquet is readable by path.
	if _, err := run(e, "SELECT * FROM read_parquet('"+f+"')", 10); err != nil {
		t.Fatalf("own parquet: %v", err)
	}
	if _, err := run(e, "SELECT * FROM glob('"+data+"/*')", 10); err != nil {
		t.Fatalf("own glob: %v", err)
	}
}

func TestTimeoutInterrupts(t *testing.T) {
	e, _ := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// Hours of work uninterrupted; the bound leaves room for a loaded CI
	// machine (500 ms failed there once).
	err := e.Query(ctx, Request{SQL: "SELECT count(*) FROM range(10000000000000) a", MaxRows: 10}, func(c *Cursor) error {
		_, err := c.Next()
		return err
	})
	el := time.Since(start)
	if !errs.Is(err, errs.Timeout) {
		t.Fatalf("err %v (kind %s)", err, errs.KindOf(err))
	}
	if el > 3*time.Second {
		t.Fatalf("interrupt took %v", el)
	}
	// The engine still works.
	if _, err := run(e, "SELECT 1", 1); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	e, _ := open(t)
	for _, tc := range []struct {
		sql  string
		kind errs.Kind
		msg  string
	}{
		{"SELEC 1", errs.Invalid, "syntax error"},
		{"SELECT * FROM nope", errs.Invalid, "nope"},
		{"SELECT 'x'::INTEGER", errs.Invalid, "Could not convert"},
		{"SELECT $1 + 1", errs.Invalid, ""},
	} {
		_, err := run(e, tc.sql, 10)
		if !errs.Is(err, tc.kind) || !strings.Contains(errs.Message(err), tc.msg) {
			t.Errorf("%s: %v (kind %s)", tc.sql, err, errs.KindOf(err))
		}
	}
}

// TestEmptyViewBadType: a manifest type DuckDB refuses (committed before
// catalogd checked as strictly) is a 400 naming the dataset and column,
// not a 500.
func TestEmptyViewBadType(t *testing.T) {
	e, _ := open(t)
	err := e.ReplaceEmptyView(context.Background(), "e1", []query.Column{{Name: "ok", Type: "BIGINT"}, {Name: "c", Type: "STRUCT(a INTEGER, a INTEGER)"}})
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("kind %s: %v", errs.KindOf(err), err)
	}
	for _, want := range []string{`dataset "e1"`, `column "c"`, "STRUCT(a INTEGER, a INTEGER)", "Duplicate STRUCT type argument name", "commit a new version"} {
		if !strings.Contains(errs.Message(err), want) {
			t.Errorf("message %q lacks %q", errs.Message(err), want)
		}
	}
	if err := e.ReplaceEmptyView(context.Background(), "e1", []query.Column{{Name: "c", Type: "TIME_NS"}}); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadableTypes: columns duckdb-go cannot scan (TIME_NS, VARIANT and
// nested types holding them) are converted by DuckDB and rendered, with
// DuckDB's own type names; names and order of the other columns are kept.
func TestUnreadableTypes(t *testing.T) {
	e, _ := open(t)
	cases := []struct{ sql, want, types string }{
		{"SELECT '12:00'::TIME_NS x", `["12:00:00"]`, "TIME_NS"},
		{"SELECT '12:00:00.123456789'::TIME_NS x, 1 y", `["12:00:00.123456789",1]`, "TIME_NS,INTEGER"},
		{"SELECT 1::VARIANT x", `[1]`, "VARIANT"},
		{"SELECT 'a'::VARIANT x, {'k': [1, 2]}::VARIANT y", `["a",{"k":[1,2]}]`, "VARIANT,VARIANT"},
		{"SELECT ['12:00'::TIME_NS] x", `[["12:00:00"]]`, "TIME_NS[]"},
		{"SELECT {'z': 1::VARIANT, 'a': 2} x, 3 x", `[{"z":1,"a":2},3]`, "STRUCT(z VARIANT, a INTEGER),INTEGER"},
		{"SELECT $1::TIME_NS t", `["01:02:03"]`, "TIME_NS"},
		{"SELECT NULL::TIME_NS x WHERE false", ``, "TIME_NS"},
		{"SELECT 1::VARIANT v, TIMESTAMPTZ '2024-01-02 03:04:05+00' z", `[1,"2024-01-02T03:04:05Z"]`, "VARIANT,TIMESTAMP WITH TIME ZONE"},
	}
	for _, tc := range cases {
		t.Run(tc.sql, func(t *testing.T) {
			var params []any
			if strings.Contains(tc.sql, "$1") {
				params = []any{"01:02:03"}
			}
			res, err := run(e, tc.sql, 10, params...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.rows, ""); got != tc.want || strings.Join(res.types, ",") != tc.types {
				t.Fatalf("got %s %v, want %s %s", got, res.types, tc.want, tc.types)
			}
		})
	}
	// The constant for TIME_NS is the driver's.
	conn, err := e.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		ds, err := dc.(*duckdb.Conn).Prepare("SELECT '12:00'::TIME_NS")
		if err != nil {
			t.Fatal(err)
		}
		defer ds.Close()
		if ct, _ := ds.(*duckdb.Stmt).ColumnType(0); ct != typeTimeNS {
			t.Fatalf("TIME_NS is type %d, typeTimeNS %d", ct, typeTimeNS)
		}
		return nil
	})
}

// TestInfinityAndMidnight: infinite DATE and TIMESTAMP values and TIME
// 24:00:00 render as DuckDB prints them (they were the driver's readings:
// "294247-01-10T04:00:54.775807", "5881580-07-11", "00:00:00").
func TestInfinityAndMidnight(t *testing.T) {
	e, _ := open(t)
	cases := []struct{ sql, want, types string }{
		{"SELECT 'infinity'::TIMESTAMP, '-infinity'::TIMESTAMP, 'infinity'::DATE, '-infinity'::DATE, '24:00:00'::TIME",
			`["infinity","-infinity","infinity","-infinity","24:00:00"]`, "TIMESTAMP,TIMESTAMP,DATE,DATE,TIME"},
		{"SELECT 'infinity'::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ, 'infinity'::TIMESTAMP_NS, '-infinity'::TIMESTAMP_NS",
			`["infinity","-infinity","infinity","-infinity"]`, "TIMESTAMP WITH TIME ZONE,TIMESTAMP WITH TIME ZONE,TIMESTAMP_NS,TIMESTAMP_NS"},
		{"SELECT 'infinity'::TIMESTAMP_MS, '-infinity'::TIMESTAMP_MS, 'infinity'::TIMESTAMP_S, '-infinity'::TIMESTAMP_S, '2024-01-02 03:04:05'::TIMESTAMP_S",
			`["infinity","-infinity","infinity","-infinity","2024-01-02T03:04:05"]`, "TIMESTAMP_MS,TIMESTAMP_MS,TIMESTAMP_S,TIMESTAMP_S,TIMESTAMP_S"},
		{"SELECT '00:00:00'::TIME, '13:14:15.000001'::TIME, ['infinity'::DATE], {'t': 'infinity'::TIMESTAMP}",
			`["00:00:00","13:14:15.000001",["infinity"],{"t":"infinity"}]`, ""},
		// The largest finite values stay dates.
		{"SELECT '294247-01-10 04:00:54.775806'::TIMESTAMP, '5881580-07-10'::DATE",
			`["294247-01-10T04:00:54.775806","5881580-07-10"]`, "TIMESTAMP,DATE"},
	}
	for _, tc := range cases {
		t.Run(tc.sql, func(t *testing.T) {
			res, err := run(e, tc.sql, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.rows, ""); got != tc.want || tc.types != "" && strings.Join(res.types, ",") != tc.types {
				t.Fatalf("got %s %v, want %s %s", got, res.types, tc.want, tc.types)
			}
		})
	}
}

// TestJSONExact: JSON values are DuckDB's text, embedded as is — the
// driver decoded them into Go values, which shuffled object keys, rounded
// 12345678901234567890, dropped duplicate keys, and failed (a 500) on
// 1e400 and on nesting deeper than 10000 (now a JSON string of the text).
// JSON inside LIST/STRUCT/MAP goes through DuckDB's JSON cast of the whole
// value.
func TestJSONExact(t *testing.T) {
	e, _ := open(t)
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	cases := []struct{ sql, want, types string }{
		{`SELECT '{"b":1,"a":2,"c":3,"d":4,"e":5,"f":6}'::JSON j`, `[{"b":1,"a":2,"c":3,"d":4,"e":5,"f":6}]`, "JSON"},
		{`SELECT '{"a":12345678901234567890,"x":1.10}'::JSON j, 1 i`, `[{"a":12345678901234567890,"x":1.10},1]`, "JSON,INTEGER"},
		{`SELECT '{"a":1,"a":2}'::JSON j`, `[{"a":1,"a":2}]`, "JSON"},
		{`SELECT '[1e400]'::JSON j`, `[[1e400]]`, "JSON"},
		{`SELECT '"x"'::JSON j, NULL::JSON n`, `["x",null]`, "JSON,JSON"},
		{`SELECT ['{"b":1,"a":2}'::JSON] l`, `[[{"b":1,"a":2}]]`, "JSON[]"},
		{`SELECT {'z': '{"b":12345678901234567890}'::JSON, 'a': 1} s`, `[{"z":{"b":12345678901234567890},"a":1}]`, "STRUCT(z JSON, a INTEGER)"},
		// Deeper than Go's json.Valid checks: its text as a JSON string.
		{`SELECT '` + deep + `'::JSON j`, `["` + deep + `"]`, "JSON"},
	}
	for _, tc := range cases {
		name := tc.sql
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			res, err := run(e, tc.sql, 10)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(res.rows, "")
			if got != tc.want || strings.Join(res.types, ",") != tc.types {
				if len(got) > 200 {
					got = got[:200]
				}
				t.Fatalf("got %s %v, want %.200s %s", got, res.types, tc.want, tc.types)
			}
		})
	}
}

// TestMapKeys: a MAP whose keys duckdb-go cannot put in a Go map (LIST,
// STRUCT, BLOB, UUID, BIT, JSON ...) was a 500 ("MAP key type not
// supported"); it is ADR-021's [{"key","value"}] list, or, nested in
// another type, DuckDB's JSON text of the whole value.
func TestMapKeys(t *testing.T) {
	e, _ := open(t)
	cases := []struct{ sql, want, types string }{
		{`SELECT MAP {[1,2]: {'a': 1}} m`, `[[{"key":[1,2],"value":{"a":1}}]]`, "MAP(INTEGER[], STRUCT(a INTEGER))"},
		{`SELECT MAP {'\x01'::BLOB: 1} m`, `[[{"key":"AQ==","value":1}]]`, "MAP(BLOB, INTEGER)"},
		{`SELECT MAP {UUID '00000000-0000-0000-0000-000000000001': 1} m`, `[[{"key":"00000000-0000-0000-0000-000000000001","value":1}]]`, "MAP(UUID, INTEGER)"},
		{`SELECT MAP {{'a': 1}: 2} m`, `[[{"key":{"a":1},"value":2}]]`, "MAP(STRUCT(a INTEGER), INTEGER)"},
		{`SELECT MAP {'101'::BIT: 1} m`, `[[{"key":"101","value":1}]]`, "MAP(BIT, INTEGER)"},
		{`SELECT MAP {'[1]'::JSON: 1} m`, `[{"[1]":1}]`, "MAP(JSON, INTEGER)"},
		{`SELECT [MAP {[1]: 2}] l`, `[[{"[1]":2}]]`, "MAP(INTEGER[], INTEGER)[]"},
		{`SELECT NULL::MAP(BLOB, INTEGER) m`, `[null]`, "MAP(BLOB, INTEGER)"},
		{`SELECT MAP {1: 'x'} m, MAP {'k': 1} v`, `[[{"key":1,"value":"x"}],{"k":1}]`, "MAP(INTEGER, VARCHAR),MAP(VARCHAR, INTEGER)"},
	}
	for _, tc := range cases {
		t.Run(tc.sql, func(t *testing.T) {
			res, err := run(e, tc.sql, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(res.rows, ""); got != tc.want || strings.Join(res.types, ",") != tc.types {
				t.Fatalf("got %s %v, want %s %s", got, res.types, tc.want, tc.types)
			}
		})
	}
}

// TestMissingFile: a file that does not exist inside the allowed
// directories is a 404, and a view's file removed between the freshness
// check and DuckDB opening it (a purge racing the query) makes the engine
// refresh the views once and run the statement again. Both were a 500 (IO
// Error) before.
func TestMissingFile(t *testing.T) {
	e, data := open(t)
	ctx := context.Background()
	if _, err := run(e, "SELECT * FROM read_parquet('"+filepath.Join(data, "nope.parquet")+"')", 10); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing file: %v (kind %s), want not_found", err, errs.KindOf(err))
	}
	old, cur := filepath.Join(data, "old.parquet"), filepath.Join(data, "cur.parquet")
	writeParquet(t, old, "SELECT 1 AS x")
	writeParquet(t, cur, "SELECT 2 AS x")
	for _, refresh := range []bool{true, false} {
		if err := e.ReplaceView(ctx, "ds", []string{old}); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(old); err != nil {
			t.Fatal(err)
		}
		calls := 0
		tables := func(ctx context.Context, names []string, missing bool) (func(), bool, error) {
			calls++
			if calls == 2 && refresh {
				// The catalog now says: the dataset's files are cur.
				return nil, false, e.ReplaceView(ctx, "ds", []string{cur})
			}
			return nil, false, nil
		}
		var rows []string
		err := e.Query(ctx, Request{SQL: "SELECT x FROM ds", MaxRows: 10, Tables: tables}, func(c *Cursor) error {
			for {
				ok, err := c.Next()
				if err != nil || !ok {
					return err
				}
				rows = append(rows, string(c.AppendJSON(nil)))
			}
		})
		switch {
		case refresh && (err != nil || strings.Join(rows, "") != "[2]" || calls != 2):
			t.Fatalf("refreshed: %v %v after %d calls, want [2] after 2", err, rows, calls)
		case !refresh && !errs.Is(err, errs.NotFound):
			t.Fatalf("not refreshed: %v (kind %s), want not_found", err, errs.KindOf(err))
		}
		writeParquet(t, old, "SELECT 1 AS x")
	}
}

// TestViewDroppedMidQuery: a view dropped (a tombstone seen by another
// query) between a statement's prepare and its execution made DuckDB's
// re-bind fail with "Table ... does not exist", answered 400 invalid; it
// is handled as a missing table at bind: the catalog is asked again (404
// when the dataset is gone, the statement retried when it is back).
func TestViewDroppedMidQuery(t *testing.T) {
	e, data := open(t)
	ctx := context.Background()
	f := filepath.Join(data, "a.parquet")
	writeParquet(t, f, "SELECT range AS x FROM range(1000)")
	if err := e.ReplaceView(ctx, "ds", []string{f}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.DropView(ctx, "ds")
			e.ReplaceView(ctx, "ds", []string{f})
		}
	}()
	tables := func(ctx context.Context, names []string, missing bool) (func(), bool, error) {
		if missing {
			return nil, true, e.ReplaceView(ctx, "ds", []string{f})
		}
		return nil, false, nil
	}
	deadline := time.Now().Add(3 * time.Second)
	n, bad := 0, 0
	var last error
	for time.Now().Before(deadline) && n < 3000 {
		n++
		err := e.Query(ctx, Request{SQL: "SELECT sum(x) FROM ds", MaxRows: 10, Tables: tables}, func(c *Cursor) error {
			_, err := c.Next()
			return err
		})
		if err != nil && !errs.Is(err, errs.NotFound) {
			bad++
			last = err
		}
	}
	close(stop)
	<-done
	if bad > 0 {
		t.Fatalf("%d of %d queries failed with other than not_found, last: %v (kind %s)", bad, n, last, errs.KindOf(last))
	}
}

// TestIdentifiers: the names after a quote inside an E'...' string, a
// dollar-quoted string or a nested comment are found (they were read as
// inside a string literal, so a query naming a dataset after one skipped
// the view's freshness check and read the version before a commit).
func TestIdentifiers(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{`SELECT a FROM "T" t -- x`, "select,a,from,t"},
		{`SELECT E'\'' x, k FROM kv --'`, "select,x,k,from,kv"},
		{`SELECT e'\\' x FROM kv`, "select,x,from,kv"},
		{`SELECT $$it's$$ x, k FROM kv --'`, "select,x,k,from,kv"},
		{`SELECT $t$a'$t$ x FROM kv --'`, "select,x,from,kv"},
		{`SELECT $t$ $$ ' $t$ FROM kv`, "select,from,kv"},
		{`SELECT $1, $2 FROM kv`, "select,from,kv"},
		{`SELECT 1 /* /* */ ' */ FROM kv --'`, "select,from,kv"},
		{`SELECT 'it''s' FROM kv`, "select,from,kv"},
		{`SELECT * FROM 'KV'`, "select,from,kv"},
		{`FROM''`, "from,"},
		{`SELECT * FROM a, 'B' JOIN e'c' ON x = 'information_schema'`, "select,from,a,b,join,c,on,x"},
		{`SELECT a$b FROM "x""y"`, "select,a$b,from,x\"y"},
		{`SELECT 'unterminated`, "select"},
		{`SELECT $$unterminated`, "select"},
		{`SELECT /* unterminated`, "select"},
	} {
		if got := strings.Join(Identifiers(tc.sql), ","); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.sql, got, tc.want)
		}
	}
}

// FuzzIdentifiers: every table DuckDB's parser finds in a SELECT
// (json_serialize_sql's BASE_TABLE nodes) is among Identifiers — the
// freshness check sees every dataset a query reads.
func FuzzIdentifiers(f *testing.F) {
	for _, s := range []string{`SELECT * FROM kv`, `SELECT E'\'' x, k FROM kv --'`, `SELECT $$it's$$ FROM kv --'`,
		`SELECT 1 /* /* */ ' */ FROM kv --'`, `SELECT * FROM "Kv" JOIN b USING (x)`, `WITH q AS (SELECT 1) SELECT * FROM q, kv`,
		`SELECT $t$a'$t$ FROM kv`, `SELECT * FROM a.b.c`, `FROM kv SELECT 1`, `FROM''`, `SELECT * FROM 'kv'`, `FROM E'\-'`, `FROM E'k\166'`, `FROM E'\x6bv'`, `FROM E'\u006bv'`, `FROM E'k''v'`} {
		f.Add(s)
	}
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		f.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	f.Fuzz(func(t *testing.T, text string) {
		ids := Identifiers(text)
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] || id != strings.ToLower(id) {
				t.Fatalf("%q: %q twice or not lower-case", text, id)
			}
			seen[id] = true
		}
		var out string
		if err := db.QueryRow("SELECT json_serialize_sql($1::VARCHAR)::VARCHAR", text).Scan(&out); err != nil {
			return
		}
		var tree any
		if json.Unmarshal([]byte(out), &tree) != nil {
			return
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if x["type"] == "BASE_TABLE" {
					if n, ok := x["table_name"].(string); ok && !seen[strings.ToLower(n)] {
						t.Fatalf("%q reads table %q; Identifiers found %v", text, n, ids)
					}
				}
				for _, e := range x {
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(tree)
	})
}

// FuzzBindNumber: a JSON integer binds exactly (its decimal text comes
// back), any other JSON number as the float64 it denotes, an integral one
// within 2^53 as that integer; a number beyond a DOUBLE is an error.
func FuzzBindNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "9007199254740993", "18446744073709551615", "18446744073709551616",
		"-9223372036854775809", "1.5", "1e400", "-1e-400", "1E2", "123456789012345678901234567890"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) || strings.TrimSpace(s) != s || s == "" || !strings.ContainsAny(s[:1], "-0123456789") {
			return
		}
		v, err := bindNumber(s)
		if !strings.ContainsAny(s, ".eE") {
			want := strings.TrimPrefix(s, "-")
			if s[0] == '-' && want != "0" {
				want = "-" + want
			}
			if err != nil || fmt.Sprint(v) != want {
				t.Fatalf("%s bound as %v (%T), %v", s, v, v, err)
			}
			return
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			if err == nil {
				t.Fatalf("%s out of range bound as %v", s, v)
			}
			return
		}
		switch x := v.(type) {
		case int64:
			if float64(x) != f || math.Abs(f) > 1<<53 {
				t.Fatalf("%s bound as int64 %d", s, x)
			}
		case float64:
			if x != f && !(math.IsNaN(x) && math.IsNaN(f)) {
				t.Fatalf("%s bound as %v, want %v", s, x, f)
			}
		default:
			t.Fatalf("%s bound as %T %v (%v)", s, v, v, err)
		}
	})
}

// TestNULInSQL: SQL with a NUL byte is a 400. DuckDB reads SQL as a C
// string, so only the text before the NUL ran — and outside the LIMIT
// wrapper, which then did not parse: every row was materialized.
func TestNULInSQL(t *testing.T) {
	e, _ := open(t)
	for _, s := range []string{"SELECT * FROM range(10)\x00 ignored", "SELECT 1 x\x00; DROP VIEW v", "\x00"} {
		if _, err := run(e, s, 1); !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "NUL") {
			t.Errorf("%q: %v (kind %s), want invalid naming the NUL", s, err, errs.KindOf(err))
		}
	}
}
