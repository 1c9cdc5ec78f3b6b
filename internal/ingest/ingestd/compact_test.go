package ingestd_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// compactClient is ingest's typed client through the gateway.
func (st *stack) compactClient() *ingest.Client {
	return ingest.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(0), Token: st.cfg.Auth.Token})
}

// postCompact posts the raw query to the gateway's compaction route.
func (st *stack) postCompact(t *testing.T, query string) answer {
	t.Helper()
	resp, err := http.Post(st.gateway+ingest.CompactRoute+"?"+query, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, b}
}

// appendCSV appends data to name through the gateway.
func (st *stack) appendCSV(t *testing.T, name, data string) {
	t.Helper()
	a := st.upload(t, "name="+name+"&mode=append", "a.csv", []byte(data))
	if a.Status != 200 {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
}

// contents reads the files of version v of name through storaged with
// DuckDB, in the manifest's order: the schema and every row as DuckDB's
// text of the row (exact for DECIMAL, TIMESTAMP_NS, nested values).
func (st *stack) contents(t *testing.T, name string, v int64) (schema string, rows []string) {
	t.Helper()
	ctx := context.Background()
	d, err := st.catalog().Get(ctx, name, v)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var quoted []string
	for i, f := range d.Files {
		rc, _, err := st.store.Get(ctx, f.Key, storage.Whole)
		if err != nil {
			t.Fatalf("version %d file %s: %v", v, f.Key, err)
		}
		p := filepath.Join(dir, fmt.Sprintf("%06d.parquet", i))
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		out.Close()
		quoted = append(quoted, "'"+p+"'")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	reader := "read_parquet([" + strings.Join(quoted, ",") + "])"
	r, err := db.Query("DESCRIBE SELECT * FROM " + reader)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for r.Next() {
		var n, ty string
		var a, b, c, e any
		if err := r.Scan(&n, &ty, &a, &b, &c, &e); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, n+" "+ty)
	}
	r.Close()
	r, err = db.Query("SELECT CAST(t AS VARCHAR) FROM (SELECT * FROM " + reader + ") t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var s string
		if err := r.Scan(&s); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(cols, ", "), rows
}

func sameRows(t *testing.T, what string, a, b []string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d rows vs %d", what, len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("%s: row %d differs:\n %s\n %s", what, i, a[i], b[i])
		}
	}
}

// compactedKeys are the data files of name not under an ingest of ids.
func (st *stack) keysUnder(t *testing.T, name, id string) []string {
	return st.dataKeys(t, name+"/"+id)
}

// TestCompactManySmallAppends: 300 appends make 300 files; a compaction
// through the gateway and the typed client makes one file with the same
// rows in the same order, the same schema and values; queryd sees the
// same answers; the version before stays readable with its own files.
// Under -short, 40 appends: one after another, nothing concurrent, and each
// a full ingest round trip (~0.3 s under -race).
func TestCompactManySmallAppends(t *testing.T) {
	st := startStack(t, config(t))
	n := 300
	if testing.Short() {
		n = 40
	}
	st.upload(t, "name=small", "a.csv", []byte("id,name,price,seen\n0,zero,1.25,2024-01-01 00:00:00\n"))
	for i := 1; i < n; i++ {
		st.appendCSV(t, "small", fmt.Sprintf("id,name,price,seen\n%d,name %d,%d.%02d,2024-01-%02d 10:00:%02d\n%d,again %d,,\n", i*10, i, i, i%100, i%28+1, i%60, i*10+1, i))
	}
	ctx := context.Background()
	before, err := st.catalog().Get(ctx, "small", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Files) != n || before.Version != int64(n) {
		t.Fatalf("before: version %d, %d files", before.Version, len(before.Files))
	}
	countBefore := st.scalar(t, "SELECT COUNT(*) FROM small")
	// A DOUBLE sum depends on the order DuckDB adds in (44999.750000000015
	// over 300 files, 44999.75 over one): compared to 6 places.
	sumBefore := st.scalar(t, "SELECT round(sum(price), 6)::VARCHAR || '/' || sum(id) || '/' || max(seen) FROM small")
	schemaBefore, rowsBefore := st.contents(t, "small", before.Version)

	res, err := st.compactClient().Compact(ctx, ingest.CompactParams{Name: "small"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compaction: version %d, %d -> %d files, %d -> %d bytes, %.0f ms", res.Version, res.FilesBefore, len(res.Files), res.BytesBefore, res.Bytes, res.ElapsedMS)
	if !res.Compacted || res.Version != before.Version+1 || res.BaseVersion != before.Version || len(res.Files) != 1 ||
		res.FilesBefore != n || res.Rows != before.RowCount || res.Files[0].Rows != before.RowCount || res.Bytes != res.Files[0].Bytes {
		t.Fatalf("answer: %+v", res)
	}
	after, err := st.catalog().Get(ctx, "small", 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != res.Version || len(after.Files) != 1 || after.Mode != catalog.ModeCompact || after.BaseVersion != before.Version ||
		after.RowCount != before.RowCount || fmt.Sprint(after.Schema) != fmt.Sprint(before.Schema) {
		t.Fatalf("manifest after: %+v", after)
	}
	schemaAfter, rowsAfter := st.contents(t, "small", after.Version)
	if schemaAfter != schemaBefore {
		t.Fatalf("schema %s -> %s", schemaBefore, schemaAfter)
	}
	sameRows(t, "compacted vs before", rowsBefore, rowsAfter)
	if got := st.scalar(t, "SELECT COUNT(*) FROM small"); got != countBefore || got != float64(2*n-1) {
		t.Fatalf("COUNT(*) %v -> %v", countBefore, got)
	}
	if got := st.scalar(t, "SELECT round(sum(price), 6)::VARCHAR || '/' || sum(id) || '/' || max(seen) FROM small"); got != sumBefore {
		t.Fatalf("sums %v -> %v", sumBefore, got)
	}
	// The older version keeps its files (ADR-012).
	_, old := st.contents(t, "small", before.Version)
	sameRows(t, "old version after compaction", rowsBefore, old)
	// Compacting again has nothing to do and commits nothing.
	again, err := st.compactClient().Compact(ctx, ingest.CompactParams{Name: "small"})
	if err != nil || again.Compacted || again.Version != after.Version || again.Reason == "" || len(again.Files) != 1 {
		t.Fatalf("second compaction: %+v %v", again, err)
	}
	// Appends go on on top of the compacted version.
	st.appendCSV(t, "small", "id,name,price,seen\n99999,late,0.5,2025-01-01 00:00:00\n")
	if got := st.scalar(t, "SELECT COUNT(*) FROM small"); got != float64(2*n) {
		t.Fatalf("COUNT(*) after a later append = %v", got)
	}
	if p := st.pending(t, "small"); len(p) != 0 {
		t.Fatalf("pending markers left: %v", p)
	}
}

// TestCompactExactTypes: DECIMAL(38,10), TIMESTAMP_NS, TIMESTAMPTZ,
// nested and other types ingested from Parquet survive compaction with
// their types and values, and the row order holds across files.
func TestCompactExactTypes(t *testing.T) {
	st := startStack(t, config(t))
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	dir := t.TempDir()
	for b := 0; b < 5; b++ {
		p := filepath.Join(dir, fmt.Sprintf("b%d.parquet", b))
		q := fmt.Sprintf(`COPY (SELECT
			%[1]d * 1000 + i AS id,
			('12345678901234567890.012345678' || (i %% 10))::DECIMAL(38,10) AS d,
			(i / 100)::DECIMAL(9,2) AS small_d,
			('2024-01-02 03:04:05.12345678' || (i %% 10))::TIMESTAMP_NS AS ts_ns,
			TIMESTAMPTZ '2024-06-01 12:00:00.123456+02' + to_seconds(i) AS tz,
			{'a': i::INTEGER, 'b': ['x' || i, NULL], 'c': {'deep': i * 0.5}} AS s,
			MAP {'k' || i: i::DOUBLE / 3} AS m,
			[i, i + 1]::BIGINT[] AS l,
			CASE WHEN i %% 3 = 0 THEN NULL ELSE 'text ' || i END AS v,
			gen_random_uuid() AS u,
			INTERVAL (i) DAY + INTERVAL 3 MICROSECOND AS iv,
			('\x00\xff' || i)::BLOB AS bl,
			(i / 7)::FLOAT AS f,
			(i %% 250)::UTINYINT AS ut,
			DATE '2024-02-29' + i::INTEGER AS dt,
			TIME '23:59:59.999999' AS tm
		FROM range(%[2]d) r(i)) TO '%[3]s' (FORMAT parquet)`, b, 200+b*37, p)
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mode := "append"
		if b == 0 {
			mode = "replace"
		}
		a := st.upload(t, "name=typed&format=parquet&mode="+mode, "b.parquet", data)
		if a.Status != 200 {
			t.Fatalf("ingest batch %d: %d %s", b, a.Status, a.Body)
		}
	}
	schemaBefore, rowsBefore := st.contents(t, "typed", 0)
	t.Logf("schema: %s", schemaBefore)
	for _, want := range []string{"DECIMAL(38,10)", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE", "STRUCT(", "MAP(", "BIGINT[]", "UUID", "INTERVAL", "BLOB", "FLOAT", "UTINYINT"} {
		if !strings.Contains(schemaBefore, want) {
			t.Fatalf("the dataset has no %s column: %s", want, schemaBefore)
		}
	}
	if !strings.Contains(rowsBefore[1], "12345678901234567890.0123456781") || !strings.Contains(rowsBefore[1], "05.123456781") {
		t.Fatalf("values not exact before compaction: %s", rowsBefore[1])
	}
	res, err := st.compactClient().Compact(context.Background(), ingest.CompactParams{Name: "typed"})
	if err != nil || !res.Compacted || len(res.Files) != 1 || res.FilesBefore != 5 {
		t.Fatalf("compaction: %+v %v", res, err)
	}
	schemaAfter, rowsAfter := st.contents(t, "typed", 0)
	if schemaAfter != schemaBefore {
		t.Fatalf("schema %s -> %s", schemaBefore, schemaAfter)
	}
	sameRows(t, "typed compaction", rowsBefore, rowsAfter)
	if got := st.scalar(t, "SELECT sum(d)::VARCHAR || ' ' || max(ts_ns)::VARCHAR || ' ' || count(DISTINCT u) FROM typed"); !strings.Contains(fmt.Sprint(got), ".123456789") {
		t.Fatalf("queryd after compaction: %v", got)
	}
}

// TestCompactNothingToDo: 0 or 1 files, fewer than min_files, or files
// already as large as the target: 200 with compacted false, nothing
// committed.
func TestCompactNothingToDo(t *testing.T) {
	st := startStack(t, config(t))
	st.upload(t, "name=one", "a.csv", []byte("id\n1\n"))
	a := st.postCompact(t, "name=one")
	var r ingest.CompactResult
	a.json(t, &r)
	if a.Status != 200 || r.Compacted || r.Version != 1 || r.FilesBefore != 1 || len(r.Files) != 1 || r.Rows != 1 || r.Reason == "" {
		t.Fatalf("one file: %d %s", a.Status, a.Body)
	}
	for i := 2; i <= 4; i++ {
		st.appendCSV(t, "one", fmt.Sprintf("id\n%d\n", i))
	}
	a = st.postCompact(t, "name=one&min_files=5")
	r = ingest.CompactResult{}
	a.json(t, &r)
	if a.Status != 200 || r.Compacted || r.Version != 4 || r.FilesBefore != 4 {
		t.Fatalf("under min_files: %d %s", a.Status, a.Body)
	}
	a = st.postCompact(t, "name=one&min_files=4&target_file_mb=1")
	r = ingest.CompactResult{}
	a.json(t, &r)
	if a.Status != 200 || !r.Compacted || r.Version != 5 || len(r.Files) != 1 || r.FilesBefore != 4 {
		t.Fatalf("at min_files: %d %s", a.Status, a.Body)
	}
	if v, err := st.catalog().Versions(context.Background(), "one"); err != nil || len(v) != 5 {
		t.Fatalf("versions: %v %v", v, err)
	}
}

// TestCompactBadRequests: bad parameters are 400, an unknown or deleted
// dataset 404, each in the error body of DESIGN.md.
func TestCompactBadRequests(t *testing.T) {
	st := startStack(t, config(t))
	st.upload(t, "name=gone", "a.csv", []byte("id\n1\n"))
	st.appendCSV(t, "gone", "id\n2\n")
	if _, err := st.catalog().Delete(context.Background(), "gone", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query, kind, text string
		status            int
	}{
		{"", "invalid", "name", 400},
		{"name=..%2Fx", "invalid", "name", 400},
		{"name=a&target_file_mb=abc", "invalid", "target_file_mb", 400},
		{"name=a&target_file_mb=0", "invalid", "target_file_mb", 400},
		{"name=a&target_file_mb=99999999", "invalid", "target_file_mb", 400},
		{"name=a&min_files=1", "invalid", "min_files", 400},
		{"name=a&min_files=-3", "invalid", "min_files", 400},
		{"name=a&name=b", "invalid", "given 2 times", 400},
		{"name=nosuch", "not_found", "nosuch", 404},
		{"name=gone", "not_found", "deleted at version", 404},
	} {
		a := st.postCompact(t, c.query)
		var e struct {
			Error struct{ Kind, Message string }
		}
		a.json(t, &e)
		if a.Status != c.status || e.Error.Kind != c.kind || !strings.Contains(e.Error.Message, c.text) {
			t.Errorf("%q: %d %s", c.query, a.Status, a.Body)
		}
		if n := strings.Count(e.Error.Message, "not found"); n > 1 {
			t.Errorf("%q: the message says not found %d times: %s", c.query, n, e.Error.Message)
		}
	}
	// The typed client carries the kinds.
	cl := st.compactClient()
	if _, err := cl.Compact(context.Background(), ingest.CompactParams{Name: "nosuch"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("client, unknown dataset: %v", err)
	}
	if _, err := cl.Compact(context.Background(), ingest.CompactParams{Name: "a", MinFiles: 1}); !errs.Is(err, errs.Invalid) {
		t.Errorf("client, min_files 1: %v", err)
	}
}

// TestCompactConflict: a replace committed while a compaction runs makes
// the compaction's commit a 409 (carrying it over would bring back the
// replaced rows); the replace's rows are all there, the compaction's files
// are deleted, no marker stays.
func TestCompactConflict(t *testing.T) {
	st := startStack(t, config(t))
	s := st.ingester(t, nil, nil, 0, nil)
	if _, err := ingestCSV(s, "busy", "", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		if _, err := ingestCSV(s, "busy", "append", rowsCSV(i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	var id string
	ingestd.SetAfterPut(s, func(i int) error {
		// The compaction has uploaded its file: an append and a replace
		// land now.
		id = lastPending(t, st, "busy")
		st.appendCSV(t, "busy", rowsCSV(50, 10))
		if a := st.upload(t, "name=busy&mode=replace", "a.csv", []byte(rowsCSV(100, 10))); a.Status != 200 {
			t.Errorf("replace: %d %s", a.Status, a.Body)
		}
		return nil
	})
	_, err := s.Compact(context.Background(), ingest.CompactParams{Name: "busy"})
	ingestd.SetAfterPut(s, nil)
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "compact again") || !strings.Contains(err.Error(), "version 7 is a replace, not an append") {
		t.Fatalf("compaction during a replace: %v", err)
	}
	if id == "" {
		t.Fatal("the compaction uploaded nothing")
	}
	if keys := st.keysUnder(t, "busy", id); len(keys) != 0 {
		t.Fatalf("files of the failed compaction left: %v", keys)
	}
	if p := st.pending(t, "busy"); len(p) != 0 {
		t.Fatalf("markers left: %v", p)
	}
	if got := st.scalar(t, "SELECT COUNT(DISTINCT id) || '/' || COUNT(*) || '/' || min(id) FROM busy"); got != "10/10/100" {
		t.Fatalf("rows after the conflict: %v", got)
	}
	d, _ := st.catalog().Get(context.Background(), "busy", 0)
	if d.Version != 7 || len(d.Files) != 1 {
		t.Fatalf("dataset after the conflict: version %d, %d files", d.Version, len(d.Files))
	}
	// A compaction after it has nothing to do (one file).
	a := st.postCompact(t, "name=busy")
	if a.Status != 200 {
		t.Fatalf("compaction after: %d %s", a.Status, a.Body)
	}
}

// racingCatalog makes the first lose compact commits lose the race for
// the next version to an append (committed through the gateway just
// before the 409, as another writer would).
type racingCatalog struct {
	catalog.Service
	t     *testing.T
	st    *stack
	lose  int
	calls atomic.Int32
	next  atomic.Int32 // id of the next racing append's rows
}

func (c *racingCatalog) Commit(ctx context.Context, name string, req catalog.CommitRequest) (catalog.Dataset, error) {
	if req.Mode == catalog.ModeCompact && int(c.calls.Add(1)) <= c.lose {
		c.st.appendCSV(c.t, name, rowsCSV(int(c.next.Add(10))-10, 10))
		return catalog.Dataset{}, errs.E("catalog.client", errs.Conflict, "another commit won the version (test)")
	}
	return c.Service.Commit(ctx, name, req)
}

// TestCompactOverAppends: appends that land while a compaction runs
// (during its uploads, and one that wins the race for the version the
// compaction commits) do not undo it: the compaction commits over them,
// its answer says on which version and how many appended files it carried,
// and the new version holds every row of the one before, once, in order.
func TestCompactOverAppends(t *testing.T) {
	st := startStack(t, config(t))
	cat := &racingCatalog{Service: st.catalog(), t: t, st: st, lose: 1}
	cat.next.Store(1000)
	s := st.ingester(t, cat, nil, 0, nil)
	if _, err := ingestCSV(s, "steady", "", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		if _, err := ingestCSV(s, "steady", "append", rowsCSV(i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	var id string
	ingestd.SetAfterPut(s, func(i int) error {
		id = lastPending(t, st, "steady")
		st.appendCSV(t, "steady", rowsCSV(50, 10))
		st.appendCSV(t, "steady", rowsCSV(60, 10))
		return nil
	})
	res, err := s.Compact(context.Background(), ingest.CompactParams{Name: "steady"})
	ingestd.SetAfterPut(s, nil)
	if err != nil {
		t.Fatalf("compaction during appends: %v", err)
	}
	// 5 versions read; 6 and 7 appended during the upload, 8 won the race.
	if !res.Compacted || res.BaseVersion != 5 || res.Version != 9 || res.CommitBaseVersion != 8 || res.AppendedFiles != 3 ||
		res.AppendedRows != 30 || res.CommitAttempts != 2 || res.Rows != 80 || res.CompactedFiles != 1 || len(res.Files) != 4 ||
		res.FilesBefore != 5 || !strings.Contains(res.Files[0].Key, id) {
		t.Fatalf("answer = %+v", res)
	}
	d, err := st.catalog().Get(context.Background(), "steady", 0)
	if err != nil || d.Version != 9 || d.Mode != catalog.ModeCompact || d.BaseVersion != 5 || d.RowCount != 80 || len(d.Files) != 4 {
		t.Fatalf("latest = %+v, %v", d, err)
	}
	_, before := st.contents(t, "steady", 8)
	_, after := st.contents(t, "steady", 9)
	sameRows(t, "compacted over 3 appends", before, after)
	if got := st.scalar(t, "SELECT COUNT(DISTINCT id) || '/' || COUNT(*) FROM steady"); got != "80/80" {
		t.Fatalf("rows: %v", got)
	}
	if p := st.pending(t, "steady"); len(p) != 0 {
		t.Fatalf("markers left: %v", p)
	}
	if keys := st.keysUnder(t, "steady", id); len(keys) != 1 {
		t.Fatalf("files of the compaction: %v", keys)
	}

	// A compaction that keeps losing gives up after 5 commits: 409, its
	// files deleted, every append's rows there.
	cat.lose = 1 << 20
	cat.calls.Store(0)
	ingestd.SetAfterPut(s, func(int) error { id = lastPending(t, st, "steady"); return nil })
	_, err = s.Compact(context.Background(), ingest.CompactParams{Name: "steady"})
	ingestd.SetAfterPut(s, nil)
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "compact again") || cat.calls.Load() != 5 {
		t.Fatalf("compaction losing every race: %v after %d commits", err, cat.calls.Load())
	}
	if keys := st.keysUnder(t, "steady", id); len(keys) != 0 {
		t.Fatalf("files of the failed compaction left: %v", keys)
	}
	if p := st.pending(t, "steady"); len(p) != 0 {
		t.Fatalf("markers left: %v", p)
	}
	if got := st.scalar(t, "SELECT COUNT(DISTINCT id) || '/' || COUNT(*) FROM steady"); got != "130/130" {
		t.Fatalf("rows: %v", got)
	}
}

// lastPending is the id of the one pending marker of name.
func lastPending(t *testing.T, st *stack, name string) string {
	ids := st.pending(t, name)
	if len(ids) != 1 {
		t.Errorf("pending markers %v, want one", ids)
		return ""
	}
	return ids[0]
}

// TestCompactUnderConcurrentAppends: appends through the gateway while
// compactions run, each slowed until an append has landed during it: the
// compactions commit over the appends (none is lost to them), every
// append lands, each compact version holds the rows of the version before
// it in the same order, and no row is lost or doubled.
func TestCompactUnderConcurrentAppends(t *testing.T) {
	st := startStack(t, config(t))
	st.upload(t, "name=race", "a.csv", []byte(rowsCSV(0, 1)))
	s := st.ingester(t, nil, nil, 0, nil)
	const writers, each = 3, 15
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				st.appendCSV(t, "race", rowsCSV(1+w*1000+i, 1))
			}
		})
	}
	// Each compaction waits, after its upload, for an append to land.
	ingestd.SetAfterPut(s, func(int) error {
		d, err := st.catalog().Get(context.Background(), "race", 0)
		if err != nil {
			return nil
		}
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !stop.Load(); time.Sleep(10 * time.Millisecond) {
			if cur, err := st.catalog().Get(context.Background(), "race", 0); err == nil && cur.Version != d.Version {
				break
			}
		}
		return nil
	})
	var compacted, carried, conflicts atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			r, err := s.Compact(context.Background(), ingest.CompactParams{Name: "race"})
			switch {
			case err == nil:
				if r.Compacted {
					compacted.Add(1)
					if r.AppendedFiles > 0 {
						carried.Add(1)
					}
				}
			case errs.Is(err, errs.Conflict):
				conflicts.Add(1)
			default:
				t.Errorf("compaction: %v", err)
			}
		}
	}()
	wg.Wait()
	stop.Store(true)
	<-done
	ingestd.SetAfterPut(s, nil)
	t.Logf("compactions: %d compacted (%d over appends), %d conflicts", compacted.Load(), carried.Load(), conflicts.Load())
	if carried.Load() == 0 || conflicts.Load() > compacted.Load() {
		t.Fatalf("%d compactions committed over appends, %d conflicts", carried.Load(), conflicts.Load())
	}
	// Once the appends stop, a compaction leaves one file.
	a := st.postCompact(t, "name=race")
	var r ingest.CompactResult
	a.json(t, &r)
	if a.Status != 200 || len(r.Files) != 1 {
		t.Fatalf("compaction after the appends: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT COUNT(DISTINCT id) || '/' || COUNT(*) FROM race"); got != fmt.Sprintf("%d/%d", 1+writers*each, 1+writers*each) {
		t.Fatalf("rows: %v", got)
	}
	if p := st.pending(t, "race"); len(p) != 0 {
		t.Fatalf("markers left: %v", p)
	}
	// Every data file is one some version lists: no orphans; every
	// compact version reads as the version before it.
	listed := map[string]bool{}
	vs, err := st.catalog().Versions(context.Background(), "race")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		d, err := st.catalog().Get(context.Background(), "race", v.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range d.Files {
			listed[f.Key] = true
		}
		if v.Mode == catalog.ModeCompact {
			_, before := st.contents(t, "race", v.Version-1)
			_, after := st.contents(t, "race", v.Version)
			sameRows(t, fmt.Sprintf("compact version %d", v.Version), before, after)
		}
	}
	for _, k := range st.dataKeys(t, "race") {
		if !listed[k] {
			t.Errorf("orphan file %s", k)
		}
	}
}

// TestCompactKilled: a compaction killed after uploading one of its three
// files leaves the dataset as it was (nothing visible), its marker and
// part; the sweep deletes exactly those, never a committed file.
func TestCompactKilled(t *testing.T) {
	st := startStack(t, config(t))
	c := &clock{}
	s := st.ingester(t, nil, nil, 0, c) // file_rows 1000: 3000 rows make 3 files
	if _, err := ingestCSV(s, "killed", "", rowsCSV(0, 500)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 6; i++ {
		if _, err := ingestCSV(s, "killed", "append", rowsCSV(i*500, 500)); err != nil {
			t.Fatal(err)
		}
	}
	before := st.dataKeys(t, "killed")
	_, rowsBefore := st.contents(t, "killed", 0)
	ingestd.SetAfterPut(s, func(i int) error {
		if i == 1 {
			return errKilled
		}
		return nil
	})
	_, err := s.Compact(context.Background(), ingest.CompactParams{Name: "killed"})
	ingestd.SetAfterPut(s, nil)
	if !errors.Is(err, errKilled) {
		t.Fatalf("killed compaction: %v", err)
	}
	ids := st.pending(t, "killed")
	if len(ids) != 1 || len(st.keysUnder(t, "killed", ids[0])) != 2 {
		t.Fatalf("after the kill: markers %v", ids)
	}
	d, _ := st.catalog().Get(context.Background(), "killed", 0)
	if d.Version != 6 || len(d.Files) != 6 {
		t.Fatalf("the killed compaction is visible: version %d, %d files", d.Version, len(d.Files))
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM killed"); got != float64(3000) {
		t.Fatalf("COUNT(*) = %v", got)
	}
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	if r, err := sweep(t, s); err != nil || r.Abandoned != 1 || r.Files != 2 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	if after := st.dataKeys(t, "killed"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("files %v -> %v", before, after)
	}
	_, rowsAfter := st.contents(t, "killed", 0)
	sameRows(t, "after the sweep", rowsBefore, rowsAfter)
	// Compacting now works and makes 3 files of file_rows rows.
	res, err := s.Compact(context.Background(), ingest.CompactParams{Name: "killed"})
	if err != nil || len(res.Files) != 3 {
		t.Fatalf("compaction: %+v %v", res, err)
	}
	for _, f := range res.Files {
		if f.Rows != 1000 {
			t.Fatalf("files: %+v", res.Files)
		}
	}
	_, rowsAfter = st.contents(t, "killed", 0)
	sameRows(t, "compacted into 3 files", rowsBefore, rowsAfter)
}

// refusingCatalog refuses every commit as invalid.
type refusingCatalog struct{ catalog.Service }

func (refusingCatalog) Commit(context.Context, string, catalog.CommitRequest) (catalog.Dataset, error) {
	return catalog.Dataset{}, errs.E("catalog.client", errs.Invalid, "refused (test)")
}

// TestCompactFailedCommit: a commit refused outright leaves no file and
// no marker of the compaction, and the dataset as it was.
func TestCompactFailedCommit(t *testing.T) {
	st := startStack(t, config(t))
	for i := 0; i < 3; i++ {
		st.upload(t, "name=refused&mode=append", "a.csv", []byte(rowsCSV(i*10, 10)))
	}
	before := st.dataKeys(t, "refused")
	s := st.ingester(t, refusingCatalog{st.catalog()}, nil, 0, nil)
	if _, err := s.Compact(context.Background(), ingest.CompactParams{Name: "refused"}); !errs.Is(err, errs.Internal) {
		t.Fatalf("refused commit: %v", err)
	}
	if after := st.dataKeys(t, "refused"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("files %v -> %v", before, after)
	}
	if p := st.pending(t, "refused"); len(p) != 0 {
		t.Fatalf("markers left: %v", p)
	}
}

// TestCompactQueryTimes measures queryd before and after compacting a
// dataset of LAKEHOUSE_COMPACT_BENCH small appends (skipped without it):
//
//	LAKEHOUSE_COMPACT_BENCH=2000 nice go test -count=1 -run TestCompactQueryTimes -v ./internal/ingest/ingestd/
func TestCompactQueryTimes(t *testing.T) {
	n := 0
	fmt.Sscanf(os.Getenv("LAKEHOUSE_COMPACT_BENCH"), "%d", &n)
	if n < 2 {
		t.Skip("set LAKEHOUSE_COMPACT_BENCH to the number of appends")
	}
	st := startStack(t, config(t))
	start := time.Now()
	st.upload(t, "name=bench", "a.csv", []byte("id,x\n0,0.5\n"))
	for i := 1; i < n; i++ {
		st.appendCSV(t, "bench", fmt.Sprintf("id,x\n%d,%d.5\n%d,%d.25\n", 2*i, i, 2*i+1, i))
	}
	t.Logf("%d appends: %v", n, time.Since(start).Round(time.Millisecond))
	measure := func(label string) (string, string) {
		var out []string
		var answers []string
		for _, q := range []string{"SELECT COUNT(*) FROM bench", "SELECT sum(x) FROM bench"} {
			answers = append(answers, fmt.Sprint(st.scalar(t, q))) // warm: views, cache
			var times []string
			for r := 0; r < 5; r++ {
				t0 := time.Now()
				st.scalar(t, q)
				times = append(times, fmt.Sprintf("%.1f", float64(time.Since(t0).Microseconds())/1000))
			}
			out = append(out, fmt.Sprintf("%s: %s ms", q, strings.Join(times, " ")))
		}
		t.Logf("%s: %s", label, strings.Join(out, "; "))
		return answers[0], answers[1]
	}
	c1, s1 := measure(fmt.Sprintf("before (%d files)", n))
	t0 := time.Now()
	res, err := st.compactClient().Compact(context.Background(), ingest.CompactParams{Name: "bench"})
	if err != nil || !res.Compacted {
		t.Fatalf("compaction: %+v %v", res, err)
	}
	t.Logf("compaction: %d -> %d files, %d -> %d bytes, %.0f ms (client %v)", res.FilesBefore, len(res.Files), res.BytesBefore, res.Bytes, res.ElapsedMS, time.Since(t0).Round(time.Millisecond))
	c2, s2 := measure(fmt.Sprintf("after (%d files)", len(res.Files)))
	if c1 != c2 || s1 != s2 {
		t.Fatalf("answers changed: %s %s -> %s %s", c1, s1, c2, s2)
	}
}

// TestCompactLostCommitAnswer: a compaction whose commit was written but
// whose answer was lost keeps its files and marker; the sweep finds the
// version that lists them and removes only the marker.
func TestCompactLostCommitAnswer(t *testing.T) {
	st := startStack(t, config(t))
	c := &clock{}
	cat := &lostAnswer{Service: st.catalog()}
	s := st.ingester(t, cat, nil, 0, c)
	for i := 0; i < 4; i++ {
		if _, err := ingestCSV(s, "lost", "append", rowsCSV(i*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	_, rowsBefore := st.contents(t, "lost", 0)
	cat.lost.Store(true)
	if _, err := s.Compact(context.Background(), ingest.CompactParams{Name: "lost"}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("compaction with a lost answer: %v", err)
	}
	cat.lost.Store(false)
	ids := st.pending(t, "lost")
	if len(ids) != 1 || len(st.keysUnder(t, "lost", ids[0])) != 1 {
		t.Fatalf("markers %v, want the compaction's with its file", ids)
	}
	d, _ := st.catalog().Get(context.Background(), "lost", 0)
	if d.Version != 5 || len(d.Files) != 1 {
		t.Fatalf("version %d with %d files, want the compaction's", d.Version, len(d.Files))
	}
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	if r, err := sweep(t, s); err != nil || r.Committed != 1 || r.Files != 0 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	_, rowsAfter := st.contents(t, "lost", 0)
	sameRows(t, "after the sweep", rowsBefore, rowsAfter)
	if ids := st.pending(t, "lost"); len(ids) != 0 {
		t.Fatalf("markers left: %v", ids)
	}
}

// TestCompactKeepsLargeFiles: a file already over the target stays as it
// is, under its own key; its small neighbours are merged; rows keep their
// order.
func TestCompactKeepsLargeFiles(t *testing.T) {
	st := startStack(t, config(t))
	var b strings.Builder
	b.WriteString("id,blob\n")
	for i := 0; i < 60000; i++ {
		fmt.Fprintf(&b, "%d,%016x%016x%016x%016x\n", i, uint64(i)*0x9e3779b97f4a7c15, uint64(i)*0xbf58476d1ce4e5b9, uint64(i)*0x94d049bb133111eb, uint64(i+7)*0x2545f4914f6cdd1d)
	}
	st.upload(t, "name=mixed", "a.csv", []byte(b.String()))
	for i := 0; i < 3; i++ {
		st.appendCSV(t, "mixed", fmt.Sprintf("id,blob\n%d,small\n", 100000+i))
	}
	ctx := context.Background()
	before, _ := st.catalog().Get(ctx, "mixed", 0)
	if len(before.Files) != 4 || before.Files[0].Bytes <= 1<<20 {
		t.Fatalf("files before: %+v", before.Files)
	}
	_, rowsBefore := st.contents(t, "mixed", 0)
	res, err := st.compactClient().Compact(ctx, ingest.CompactParams{Name: "mixed", TargetFileMB: 1})
	if err != nil || !res.Compacted || len(res.Files) != 2 || res.Files[0] != before.Files[0] || res.Files[1].Rows != 3 {
		t.Fatalf("compaction: %+v %v", res, err)
	}
	_, rowsAfter := st.contents(t, "mixed", 0)
	sameRows(t, "mixed compaction", rowsBefore, rowsAfter)
	// Now no two neighbours fit together: nothing to do.
	res, err = st.compactClient().Compact(ctx, ingest.CompactParams{Name: "mixed", TargetFileMB: 1})
	if err != nil || res.Compacted || !strings.Contains(res.Reason, "no two neighbours") {
		t.Fatalf("second compaction: %+v %v", res, err)
	}
}

// TestCompactKeepsColumnFormats: the compacted version keeps the schema's
// CSV date formats, so a later append of 01/02/2024 is still 2 January.
func TestCompactKeepsColumnFormats(t *testing.T) {
	st := startStack(t, config(t))
	if a := st.upload(t, "name=ship", "s.csv", []byte("id,shipped\n1,12/25/2024\n")); a.Status != 200 {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	st.appendCSV(t, "ship", "id,shipped\n2,01/03/2024\n")
	res, err := st.compactClient().Compact(context.Background(), ingest.CompactParams{Name: "ship"})
	if err != nil || !res.Compacted {
		t.Fatalf("compaction: %+v %v", res, err)
	}
	d, err := st.catalog().Get(context.Background(), "ship", 0)
	if err != nil || d.Version != 3 || d.Schema[1].Format != "%m/%d/%Y" {
		t.Fatalf("manifest: %v %+v", err, d)
	}
	st.appendCSV(t, "ship", "id,shipped\n3,01/02/2024\n")
	if got := st.scalar(t, "SELECT string_agg(shipped::VARCHAR, ',' ORDER BY id) FROM ship"); got != "2024-12-25,2024-01-03,2024-01-02" {
		t.Fatalf("dates = %v", got)
	}
}

// purgingStore deletes the dataset (with purge) through the catalog just
// before the compaction's first read of a data file. The compaction reads
// its files in parallel: a read that comes meanwhile waits for the purge.
type purgingStore struct {
	storage.Store
	mu   sync.Mutex
	once func()
}

func (p *purgingStore) Get(ctx context.Context, key string, r storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	if strings.HasPrefix(key, "datasets/") {
		p.mu.Lock()
		if f := p.once; f != nil {
			p.once = nil
			f()
		}
		p.mu.Unlock()
	}
	return p.Store.Get(ctx, key, r)
}

// TestCompactRacingPurge: a dataset deleted with purge while a compaction
// reads its files is a 404 saying so, and nothing comes back (it was a 500
// naming a missing data file).
func TestCompactRacingPurge(t *testing.T) {
	st := startStack(t, config(t))
	ps := &purgingStore{Store: st.store}
	s := st.ingester(t, nil, ps, 0, nil)
	if _, err := ingestCSV(s, "gone", "", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := ingestCSV(s, "gone", "append", rowsCSV(10, 10)); err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	ps.once = func() {
		if _, err := st.catalog().Delete(context.Background(), "gone", catalog.DeleteOptions{Purge: true}); err != nil {
			t.Errorf("purge: %v", err)
		}
	}
	ps.mu.Unlock()
	_, err := s.Compact(context.Background(), ingest.CompactParams{Name: "gone"})
	if !errs.Is(err, errs.NotFound) || !strings.Contains(errs.Message(err), "deleted while it was compacted") {
		t.Fatalf("compaction racing a purge: %v (kind %s)", err, errs.KindOf(err))
	}
	if _, err := st.catalog().Get(context.Background(), "gone", 0); !errs.Is(err, errs.NotFound) {
		t.Fatalf("dataset after: %v", err)
	}
	if p := st.pending(t, "gone"); len(p) != 0 {
		t.Fatalf("markers left: %v", p)
	}
}
