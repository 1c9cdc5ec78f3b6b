package ingestd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/gateway"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/miniotest"
)

// stack is storaged, catalogd, ingestd, queryd and the gateway, in-process.
type stack struct {
	cfg     *shared.Config
	gateway string
	servers map[string]*shared.Server
	store   storage.Store
}

func config(t *testing.T) *shared.Config {
	t.Helper()
	cfg := shared.Default(t.TempDir())
	names := []string{"storaged", "catalogd", "ingestd", "queryd", "gateway"}
	inproc.Bind(t, cfg, names...)
	// Daemons not started here get port 0 so binds stay distinct.
	for _, n := range shared.Daemons {
		found := false
		for _, m := range names {
			found = found || m == n
		}
		if !found {
			cfg.Section(n).Bind = "127.0.0.1:0"
		}
	}
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	cfg.Log.Level = "warn"
	return cfg
}

func startStack(t *testing.T, cfg *shared.Config) *stack {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st := &stack{cfg: cfg, servers: map[string]*shared.Server{}}
	builders := []struct {
		name string
		b    shared.Builder
	}{
		{"storaged", storaged.New}, {"catalogd", catalog.New}, {"queryd", queryd.New},
		{"ingestd", ingestd.New}, {"gateway", gateway.New},
	}
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
	for _, b := range builders {
		s, err := shared.Start(context.Background(), b.name, cfg, b.b, logs)
		if err != nil {
			t.Fatalf("start %s: %v", b.name, err)
		}
		st.servers[b.name] = s
	}
	t.Cleanup(func() {
		for i := len(builders) - 1; i >= 0; i-- {
			st.servers[builders[i].name].Shutdown(context.Background())
		}
	})
	st.gateway = st.servers["gateway"].URL()
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(time.Minute), StreamHTTP: shared.NewHTTPClient(0)}
	st.store = storage.NewClient(env.StreamClient("storaged"))
	return st
}

type answer struct {
	Status int
	Body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		t.Fatalf("status %d, body %s: %v", a.Status, a.Body, err)
	}
}

// upload posts data as the multipart field "file" (curl -F file=@name).
func (st *stack) upload(t *testing.T, query, filename string, data []byte) answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(st.gateway+"/v1/ingest?"+query, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}
}

func (st *stack) sql(t *testing.T, body string) answer {
	t.Helper()
	resp, err := http.Post(st.gateway+"/v1/sql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}
}

type sqlResult struct {
	Columns []struct{ Name, Type string }
	Rows    [][]any
	RowCnt  int  `json:"row_count"`
	Trunc   bool `json:"truncated"`
}

func (st *stack) scalar(t *testing.T, q string) any {
	t.Helper()
	a := st.sql(t, fmt.Sprintf(`{"sql":%q}`, q))
	if a.Status != 200 {
		t.Fatalf("%s: %d %s", q, a.Status, a.Body)
	}
	var r sqlResult
	a.json(t, &r)
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		t.Fatalf("%s: %s", q, a.Body)
	}
	return r.Rows[0][0]
}

// dataKeys lists the data files under datasets/name/.
func (st *stack) dataKeys(t *testing.T, name string) []string {
	t.Helper()
	var keys []string
	err := storage.ListAll(context.Background(), st.store, "datasets/"+name+"/", func(o storage.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestRunbookValidation is the runbook's validation flow through the gateway.
func TestRunbookValidation(t *testing.T) {
	st := startStack(t, config(t))
	runbook(t, st)
}

func runbook(t *testing.T, st *stack) {
	a := st.upload(t, "name=probe", "probe.csv", []byte("id,name,role\n1,Alice,Forklift Operator\n"))
	if a.Status != 200 {
		t.Fatalf("ingest: %d %s", a.Status, a.Body)
	}
	var ing struct {
		Dataset string
		Version int64
		Rows    int64
		Bytes   int64
		Schema  []catalog.Column
		Files   []catalog.File
		Elapsed float64 `json:"elapsed_ms"`
	}
	a.json(t, &ing)
	if ing.Dataset != "probe" || ing.Version != 1 || ing.Rows != 1 || len(ing.Files) != 1 || ing.Bytes <= 0 || len(ing.Schema) != 3 {
		t.Fatalf("ingest answer: %s", a.Body)
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM probe"); got != float64(1) {
		t.Fatalf("COUNT(*) = %v", got)
	}
	if got := st.scalar(t, "SELECT role FROM probe WHERE name = 'Alice'"); got != "Forklift Operator" {
		t.Fatalf("role = %v", got)
	}
}

func TestIngestAndQueryLifecycle(t *testing.T) {
	cfg := config(t)
	cfg.Ingestd.MaxUploadBytes = 1 << 20
	st := startStack(t, cfg)
	runbook(t, st)

	// Append: a new version, visible to the next query.
	a := st.upload(t, "name=probe&mode=append", "more.csv", []byte("id,name,role\n2,Bob,Driver\n3,Carol,Clerk\n"))
	if a.Status != 200 {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM probe"); got != float64(3) {
		t.Fatalf("after append COUNT(*) = %v", got)
	}

	// Append with other columns: 400 saying what differs; nothing committed.
	a = st.upload(t, "name=probe", "bad.csv", []byte("id,title\n4,x\n"))
	if a.Status != 400 || !strings.Contains(string(a.Body), `\"title\"`) || !strings.Contains(string(a.Body), `\"name\"`) {
		t.Fatalf("schema mismatch: %d %s", a.Status, a.Body)
	}
	// Bad value: 400 with line and column; no orphan files.
	before := st.dataKeys(t, "probe")
	a = st.upload(t, "name=probe", "bad.csv", []byte("id,name,role\n4,Dan,x\nfive,Eve,y\n"))
	if a.Status != 400 || !strings.Contains(string(a.Body), "line 3") || !strings.Contains(string(a.Body), `column \"id\"`) {
		t.Fatalf("bad value: %d %s", a.Status, a.Body)
	}
	if after := st.dataKeys(t, "probe"); len(after) != len(before) {
		t.Fatalf("orphans: %v -> %v", before, after)
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM probe"); got != float64(3) {
		t.Fatalf("after failed ingest COUNT(*) = %v", got)
	}

	// Replace: a new version with only the new rows; old versions remain.
	a = st.upload(t, "name=probe&mode=replace", "r.jsonl", []byte("{\"x\":1.5,\"d\":\"2024-01-02\"}\n"))
	if a.Status != 200 {
		t.Fatalf("replace: %d %s", a.Status, a.Body)
	}
	var rep struct{ Version int64 }
	a.json(t, &rep)
	if rep.Version != 3 {
		t.Fatalf("replace version %d", rep.Version)
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM probe"); got != float64(1) {
		t.Fatalf("after replace COUNT(*) = %v", got)
	}
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := catalog.NewClient(env.Client("catalogd"))
	if v2, err := cat.Get(context.Background(), "probe", 2); err != nil || v2.RowCount != 3 {
		t.Fatalf("version 2: %+v %v", v2, err)
	}

	// Upload limit -> 413, raw body too.
	big := bytes.Repeat([]byte("1,2\n"), 300_000)
	a = st.upload(t, "name=big", "big.csv", append([]byte("a,b\n"), big...))
	if a.Status != 413 {
		t.Fatalf("limit: %d %s", a.Status, a.Body)
	}
	resp, err := http.Post(st.gateway+"/v1/ingest?name=big&format=csv", "text/csv", io.MultiReader(strings.NewReader("a,b\n"), bytes.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("raw limit: %d", resp.StatusCode)
	}
	// Raw body ingest works.
	resp, err = http.Post(st.gateway+"/v1/ingest?name=raw", "text/csv", strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("raw: %d", resp.StatusCode)
	}

	// Edge inputs: each a 400 with a defined message.
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "empty"},
		{"header only", "a,b\n", "no data rows"},
		{"duplicate", "a,a\n1,2\n", "duplicate column"},
		{"ragged", "a,b\n1,2\n3,4,5\n", "line 3"},
		{"non-utf8", "a,b\n1,\xff\n", "UTF-8"},
	} {
		a := st.upload(t, "name=edge", tc.name+".csv", []byte(tc.data))
		if a.Status != 400 || !strings.Contains(string(a.Body), tc.want) {
			t.Errorf("%s: %d %s", tc.name, a.Status, a.Body)
		}
	}
	if keys := st.dataKeys(t, "edge"); len(keys) != 0 {
		t.Fatalf("edge orphans %v", keys)
	}

	// Streaming formats.
	// (directly to queryd: trailers are end-to-end only where proxies keep them)
	resp, err = http.Post(st.servers["queryd"].URL()+"/v1/sql", "application/json", strings.NewReader(`{"sql":"SELECT range AS i, 'v' || range AS s FROM range(2500)","format":"ndjson"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode != 200 || len(lines) != 2500 || lines[0] != `{"i":0,"s":"v0"}` || resp.Trailer.Get("X-Row-Count") != "2500" {
		t.Fatalf("ndjson: %d %d lines, first %q, trailer %v", resp.StatusCode, len(lines), lines[0], resp.Trailer)
	}
	resp, err = http.Post(st.gateway+"/v1/sql", "application/json", strings.NewReader(`{"sql":"SELECT 1 AS a, 'x,y' AS b","format":"csv"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "a,b\n1,\"x,y\"\n" {
		t.Fatalf("csv: %q", body)
	}

	// max_rows truncates.
	a = st.sql(t, `{"sql":"SELECT * FROM range(10)","max_rows":3}`)
	var r sqlResult
	a.json(t, &r)
	if r.RowCnt != 3 || !r.Trunc {
		t.Fatalf("max_rows: %s", a.Body)
	}

	// A dataset that does not exist is a 404 naming it; a missing column
	// of one that does stays the binder's 400.
	if a := st.sql(t, `{"sql":"SELECT * FROM no_such_dataset"}`); a.Status != 404 || !strings.Contains(string(a.Body), `no dataset or table named \"no_such_dataset\"`) {
		t.Errorf("unknown dataset: %d %s", a.Status, a.Body)
	}
	if a := st.sql(t, `{"sql":"SELECT no_such_column FROM probe"}`); a.Status != 400 {
		t.Errorf("unknown column: %d %s", a.Status, a.Body)
	}

	// Hostile SQL through HTTP (writes that bind and writes that do not).
	for _, q := range []string{"COPY probe TO '/tmp/x.csv'", "SELECT * FROM read_csv('/etc/passwd')", "ATTACH '/tmp/x.db'", "SET threads=1", "INSERT INTO probe VALUES (1)", "DELETE FROM no_such_dataset"} {
		a := st.sql(t, fmt.Sprintf(`{"sql":%q}`, q))
		if a.Status != 403 {
			t.Errorf("%s: %d %s", q, a.Status, a.Body)
		}
	}

	// Timeout: 504 soon after the timeout (the query alone runs for
	// minutes; 2 s leaves room for a loaded machine).
	start := time.Now()
	a = st.sql(t, `{"sql":"SELECT count(*) FROM range(100000000000)","timeout_ms":300}`)
	if el := time.Since(start); a.Status != 504 || el > 2*time.Second {
		t.Fatalf("timeout: %d after %v: %s", a.Status, el, a.Body)
	}
}

// TestStrictValues: through the gateway, a value DuckDB would change (round,
// turn into Infinity, rename) is a located 400 and changes nothing; the
// nearby exact value is accepted.
func TestStrictValues(t *testing.T) {
	st := startStack(t, config(t))
	env := &shared.Env{Config: st.cfg, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := catalog.NewClient(env.Client("catalogd"))
	version := func(name string) int64 {
		t.Helper()
		d, err := cat.Get(context.Background(), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		return d.Version
	}
	if a := st.upload(t, "name=docs", "docs.csv", []byte("id,title,body\n1,a,b\n")); a.Status != 200 {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	for _, tc := range []struct{ data, want string }{
		{"id,title,body\n7.5,x,y\n", `line 2: column \"id\" (1): value \"7.5\" is not a whole number`},
		{"id,title,body\n7.9,x,y\n", `line 2: column \"id\" (1): value \"7.9\"`},
		{"id,title,body\n2,x,y\n9223372036854775808,x,y\n", `line 3: column \"id\" (1): value \"9223372036854775808\" is out of range for BIGINT`},
	} {
		before := st.dataKeys(t, "docs")
		a := st.upload(t, "name=docs&mode=append", "bad.csv", []byte(tc.data))
		if a.Status != 400 || !strings.Contains(string(a.Body), `"kind":"invalid"`) || !strings.Contains(string(a.Body), tc.want) {
			t.Fatalf("%q: %d %s", tc.data, a.Status, a.Body)
		}
		if after := st.dataKeys(t, "docs"); len(after) != len(before) {
			t.Fatalf("orphans: %v -> %v", before, after)
		}
		if v := version("docs"); v != 1 {
			t.Fatalf("%q committed version %d", tc.data, v)
		}
	}
	// 7 and 7.0 are the same whole number: accepted, stored as 7.
	if a := st.upload(t, "name=docs&mode=append", "ok.csv", []byte("id,title,body\n7,x,y\n7.0,x,z\n")); a.Status != 200 {
		t.Fatalf("append 7, 7.0: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM docs"); got != "1,7,7" {
		t.Fatalf("ids = %v", got)
	}

	// JSONL and CSV header problems: 400 naming the line; no dataset at all.
	for _, tc := range []struct{ name, file, data, want string }{
		{"j1", "a.jsonl", `{"a":1e400}` + "\n", "line 1: number 1e400 is out of range"},
		{"j2", "a.jsonl", `{"":1}` + "\n", "line 1: empty key"},
		{"j3", "a.jsonl", "[1,2,3]\n", "line 1: not a JSON object"},
		{"j4", "a.jsonl", "5\n", "line 1: not a JSON object"},
		{"j5", "a.jsonl", `"x"` + "\n", "line 1: not a JSON object"},
		{"j6", "a.jsonl", `{"a":1}` + "\n" + `{"a":2}` + "\n" + `{"a":-1e999}` + "\n", "line 3: number -1e999 is out of range"},
		{"c1", "a.csv", "a\x00b,c\n1,2\n", `line 1, column 1: column name \"a\\x00b\" contains a control character (U+0000)`},
	} {
		a := st.upload(t, "name="+tc.name, tc.file, []byte(tc.data))
		if a.Status != 400 || !strings.Contains(string(a.Body), `"kind":"invalid"`) || !strings.Contains(string(a.Body), tc.want) {
			t.Errorf("%s %q: %d %s", tc.name, tc.data, a.Status, a.Body)
		}
		if keys := st.dataKeys(t, tc.name); len(keys) != 0 {
			t.Errorf("%s: orphans %v", tc.name, keys)
		}
		if _, err := cat.Get(context.Background(), tc.name, 0); !errs.Is(err, errs.NotFound) {
			t.Errorf("%s: dataset exists after a refused ingest (%v)", tc.name, err)
		}
	}
	// Nearby accepted JSONL: a big finite number, a key named C0.
	if a := st.upload(t, "name=j7", "a.jsonl", []byte(`{"a":1.5e308,"C0":1}`+"\n")); a.Status != 200 {
		t.Fatalf("j7: %d %s", a.Status, a.Body)
	}
}

// TestDateFormatsEndToEnd: a dataset created from month-first dates keeps
// its format in the manifest; an ambiguous append is read in it (1/2 is
// 2 January, not 1 February); a day-first batch is refused and commits
// nothing (ADR-023 "Date formats").
func TestDateFormatsEndToEnd(t *testing.T) {
	st := startStack(t, config(t))
	env := &shared.Env{Config: st.cfg, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := catalog.NewClient(env.Client("catalogd"))
	if a := st.upload(t, "name=shipments", "s.csv", []byte("id,shipped\n1,12/25/2024\n")); a.Status != 200 || !strings.Contains(string(a.Body), `"format":"%m/%d/%Y"`) {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	if a := st.upload(t, "name=shipments&mode=append", "s2.csv", []byte("id,shipped\n2,01/02/2024\n")); a.Status != 200 {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT string_agg(shipped::VARCHAR, ',' ORDER BY id) FROM shipments"); got != "2024-12-25,2024-01-02" {
		t.Fatalf("dates = %v", got)
	}
	a := st.upload(t, "name=shipments&mode=append", "s3.csv", []byte("id,shipped\n3,01/02/2024\n4,13/02/2024\n"))
	if a.Status != 400 || !strings.Contains(string(a.Body), `line 3: column \"shipped\" (2): value \"13/02/2024\" is not a valid DATE (the dataset's dates are written %m/%d/%Y)`) {
		t.Fatalf("day-first append: %d %s", a.Status, a.Body)
	}
	d, err := cat.Get(context.Background(), "shipments", 0)
	if err != nil || d.Version != 2 || d.Schema[1].Format != "%m/%d/%Y" {
		t.Fatalf("manifest: %v %+v", err, d)
	}
}

// TestJSONLAppendEndToEnd: a JSONL append is read by name into the
// dataset's columns (another key order, an integer in a DOUBLE field, a
// missing key); a fraction into a BIGINT column is refused with its line.
func TestJSONLAppendEndToEnd(t *testing.T) {
	st := startStack(t, config(t))
	if a := st.upload(t, "name=orders", "o.jsonl", []byte(`{"id":1,"price":2.5,"note":"a"}`+"\n")); a.Status != 200 {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	if a := st.upload(t, "name=orders&mode=append", "o2.jsonl", []byte(`{"price":3,"id":2}`+"\n")); a.Status != 200 {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT string_agg(id || ':' || price || ':' || coalesce(note, '-'), ',' ORDER BY id) FROM orders"); got != "1:2.5:a,2:3.0:-" {
		t.Fatalf("rows = %v", got)
	}
	a := st.upload(t, "name=orders&mode=append", "o3.jsonl", []byte(`{"id":3,"price":1}`+"\n"+`{"id":7.5,"price":1}`+"\n"))
	if a.Status != 400 || !strings.Contains(string(a.Body), `line 2: column \"id\" (1): value \"7.5\" is not a whole number`) {
		t.Fatalf("fraction: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT count(*) FROM orders"); fmt.Sprint(got) != "2" {
		t.Fatalf("rows after the refused append: %v", got)
	}
}

// TestJSONDocumentEndToEnd: a .json array of objects and pretty-printed
// objects (a raw body, detected from its first byte) are ingested like
// JSONL; a refused element names its line and commits nothing; a
// top-level scalar is a 400 (ADR-023 "JSON arrays and pretty-printed objects").
func TestJSONDocumentEndToEnd(t *testing.T) {
	st := startStack(t, config(t))
	a := st.upload(t, "name=events", "events.json", []byte("[\n  {\"id\": 1, \"big\": 18446744073709551617, \"tag\": \"a\"},\n  {\"id\": 2, \"big\": 2, \"tag\": \"b\"}\n]\n"))
	if a.Status != 200 || !strings.Contains(string(a.Body), `"format":"json"`) || !strings.Contains(string(a.Body), `"rows":2`) {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	raw := func(query, body string) answer {
		resp, err := http.Post(st.gateway+"/v1/ingest?"+query, "application/octet-stream", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, b}
	}
	if a := raw("name=events&mode=append", "{\n  \"tag\": \"c\",\n  \"id\": 3,\n  \"big\": 3\n}\n"); a.Status != 200 || !strings.Contains(string(a.Body), `"format":"json"`) {
		t.Fatalf("append pretty objects: %d %s", a.Status, a.Body)
	}
	if a := raw("name=events&mode=append", `[{"id":4,"big":4,"tag":"d"}]`); a.Status != 200 {
		t.Fatalf("append raw array: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT string_agg(id || ':' || big || ':' || tag, ',' ORDER BY id) FROM events"); got != "1:18446744073709551617:a,2:2:b,3:3:c,4:4:d" {
		t.Fatalf("rows = %v", got)
	}
	keys := len(st.dataKeys(t, "events"))
	a = st.upload(t, "name=events&mode=append", "more.json", []byte("[\n  {\"id\": 5, \"big\": 5},\n  {\"id\": 7.5, \"big\": 6}\n]"))
	if a.Status != 400 || !strings.Contains(string(a.Body), `array element 2 at line 3: column \"id\" (1): value \"7.5\" is not a whole number`) {
		t.Fatalf("fraction: %d %s", a.Status, a.Body)
	}
	for _, bad := range []struct{ body, want string }{
		{"42", "the file holds a number, not JSON objects"},
		{"[1, 2]", "array element 1 is a number, not a JSON object"},
		{"[{\"id\": 5, \"big\": 5},\n {\"id\": }]", "line 2, byte 9: malformed JSON in array element 2"},
	} {
		if a := st.upload(t, "name=events&mode=append", "bad.json", []byte(bad.body)); a.Status != 400 || !strings.Contains(string(a.Body), bad.want) {
			t.Fatalf("%s: %d %s", bad.body, a.Status, a.Body)
		}
	}
	if got := st.scalar(t, "SELECT count(*) FROM events"); fmt.Sprint(got) != "4" {
		t.Fatalf("rows after the refused appends: %v", got)
	}
	if n := len(st.dataKeys(t, "events")); n != keys {
		t.Fatalf("data files %d after refused appends, want %d", n, keys)
	}
}

// TestQuotedHeaderWithBlanks: a header written `"id", "name"` (a blank
// after the comma, before the quote) is read with the names DuckDB gives
// it, id and name, on create and on append (ingestd's own header parse
// refused it); the data's quoted values are read the same way.
func TestQuotedHeaderWithBlanks(t *testing.T) {
	st := startStack(t, config(t))
	if a := st.upload(t, "name=people", "p.csv", []byte("\"id\", \"name\"\n1, \"x\"\n")); a.Status != 200 || !strings.Contains(string(a.Body), `{"name":"name","type":"VARCHAR"}`) {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	if a := st.upload(t, "name=people&mode=append", "p2.csv", []byte("\"id\" , \"name\" \n2,y\n")); a.Status != 200 {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
	a := st.sql(t, `{"sql":"SELECT * FROM people ORDER BY id"}`)
	if a.Status != 200 {
		t.Fatalf("query: %d %s", a.Status, a.Body)
	}
	var r sqlResult
	a.json(t, &r)
	if len(r.Columns) != 2 || r.Columns[0].Name != "id" || r.Columns[1].Name != "name" {
		t.Fatalf("columns %+v, want id and name", r.Columns)
	}
	if got := st.scalar(t, "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM people"); got != "1:x,2:y" {
		t.Fatalf("rows = %v", got)
	}
}

// TestRefusedHeader: a header whose column names DuckDB might read
// otherwise than ingestd (`"a" "" "e"` is one column `a " e` for DuckDB)
// is a 400 naming the header, and nothing is stored: no dataset on create,
// no new version or file on append.
func TestRefusedHeader(t *testing.T) {
	st := startStack(t, config(t))
	for _, h := range []string{`"a" "" "e"`, `"id",  "name"`, `x"id",name`} {
		a := st.upload(t, "name=joined", "j.csv", []byte(h+"\n1,2\n"))
		if a.Status != 400 || !strings.Contains(string(a.Body), "line 1, column ") || !strings.Contains(string(a.Body), "(header: ") {
			t.Fatalf("%s: %d %s", h, a.Status, a.Body)
		}
	}
	if a := st.sql(t, `{"sql":"SELECT count(*) FROM joined"}`); a.Status != 404 {
		t.Fatalf("refused create left a dataset: %d %s", a.Status, a.Body)
	}
	if keys := st.dataKeys(t, "joined"); len(keys) != 0 {
		t.Fatalf("refused create left files: %v", keys)
	}
	if a := st.upload(t, "name=joined", "j.csv", []byte("a,b\n1,2\n")); a.Status != 200 {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	keys := st.dataKeys(t, "joined")
	if a := st.upload(t, "name=joined&mode=append", "j.csv", []byte("\"a\",\"b\"x\n3,4\n")); a.Status != 400 || !strings.Contains(string(a.Body), "after the closing quote of the column name") {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT count(*) FROM joined"); fmt.Sprint(got) != "1" {
		t.Fatalf("rows after the refused append: %v", got)
	}
	if n := len(st.dataKeys(t, "joined")); n != len(keys) {
		t.Fatalf("data files %d after the refused append, want %d", n, len(keys))
	}
}

// TestByteOrderMark: a UTF-8 BOM before a JSONL or CSV upload is not
// data (a JSONL file with one was refused: "BOM is not supported").
func TestByteOrderMark(t *testing.T) {
	st := startStack(t, config(t))
	if a := st.upload(t, "name=bom_j", "b.jsonl", []byte("\ufeff{\"id\":1,\"n\":\"a\"}\n{\"id\":2,\"n\":\"b\"}\n")); a.Status != 200 {
		t.Fatalf("jsonl: %d %s", a.Status, a.Body)
	}
	if a := st.upload(t, "name=bom_j&mode=append", "b.jsonl", []byte("\ufeff{\"id\":3,\"n\":\"c\"}\n")); a.Status != 200 {
		t.Fatalf("jsonl append: %d %s", a.Status, a.Body)
	}
	if a := st.upload(t, "name=bom_c", "b.csv", []byte("\ufeffid,n\n1,a\n")); a.Status != 200 {
		t.Fatalf("csv: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT string_agg(id || n, ',' ORDER BY id) FROM bom_j"); got != "1a,2b,3c" {
		t.Fatalf("jsonl rows = %v", got)
	}
	if got := st.scalar(t, "SELECT id || n FROM bom_c"); got != "1a" {
		t.Fatalf("csv rows = %v", got)
	}
}

// TestConcurrentAppends: both land (one retries on 409), none lost.
func TestConcurrentAppends(t *testing.T) {
	st := startStack(t, config(t))
	a := st.upload(t, "name=multi", "a.csv", []byte("id,w\n0,seed\n"))
	if a.Status != 200 {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	const n = 6
	var wg sync.WaitGroup
	retries := make([]int, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := st.upload(t, "name=multi", "a.csv", []byte(fmt.Sprintf("id,w\n%d,writer%d\n", i, i)))
			if a.Status != 200 {
				t.Errorf("writer %d: %d %s", i, a.Status, a.Body)
				return
			}
			var r struct {
				Retries int `json:"commit_retries"`
			}
			a.json(t, &r)
			retries[i-1] = r.Retries
		}(i)
	}
	wg.Wait()
	if got := st.scalar(t, "SELECT COUNT(DISTINCT id) FROM multi"); got != float64(n+1) {
		t.Fatalf("rows = %v, want %d", got, n+1)
	}
	if got := st.scalar(t, "SELECT max(id) FROM multi"); got != float64(n) {
		t.Fatalf("max = %v", got)
	}
	t.Logf("commit retries per writer: %v", retries)
}

// TestQuerydSeesDelete: a deleted dataset disappears from SQL.
func TestQuerydSeesDelete(t *testing.T) {
	st := startStack(t, config(t))
	runbook(t, st)
	env := &shared.Env{Config: st.cfg, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := catalog.NewClient(env.Client("catalogd"))
	if _, err := cat.Delete(context.Background(), "probe", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	a := st.sql(t, `{"sql":"SELECT COUNT(*) FROM probe"}`)
	if a.Status != 404 || !strings.Contains(string(a.Body), "probe") {
		t.Fatalf("after delete: %d %s", a.Status, a.Body)
	}
	// Temp files are cleaned.
	tmp := filepath.Join(st.cfg.DataDir, "ingestd", "tmp")
	des, _ := os.ReadDir(tmp)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "ingest-") {
			t.Fatalf("temp left: %s", de.Name())
		}
	}
}

// minioConfig is config(t) with storaged on a real MinIO started for the test.
func minioConfig(t *testing.T) *shared.Config {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := config(t)
	cfg.Storaged.Backend = "s3"
	cfg.S3.Endpoint = m.Endpoint()
	cfg.S3.Bucket = m.Bucket
	cfg.S3.SecretsPath = m.WriteSecrets(t)
	return cfg
}

// TestRunbookValidationMinIO is the runbook's flow on the s3 backend against
// a real MinIO: queryd reads through its etag-keyed cache. Skipped without a
// MinIO binary unless LH_REQUIRE_MINIO=1.
func TestRunbookValidationMinIO(t *testing.T) {
	cfg := minioConfig(t)
	st := startStack(t, cfg)
	runbook(t, st)
	// Append, replace, cache: each version is visible to the next query.
	a := st.upload(t, "name=probe", "more.csv", []byte("id,name,role\n2,Bob,Driver\n"))
	if a.Status != 200 {
		t.Fatalf("append: %d %s", a.Status, a.Body)
	}
	if got := st.scalar(t, "SELECT COUNT(*) FROM probe"); got != float64(2) {
		t.Fatalf("after append COUNT(*) = %v", got)
	}
	cacheDir := filepath.Join(cfg.DataDir, "queryd", "cache")
	des, _ := os.ReadDir(cacheDir)
	n := 0
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".parquet") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("cache holds %d parquet files, want 2", n)
	}
	// A read outside the cache is still refused.
	if a := st.sql(t, `{"sql":"SELECT * FROM read_text('/etc/hostname')"}`); a.Status != 403 {
		t.Fatalf("read_text: %d %s", a.Status, a.Body)
	}
}

// TestMinIODirectReads: with [queryd].secrets_path queryd reads S3 itself.
func TestMinIODirectReads(t *testing.T) {
	cfg := minioConfig(t)
	cfg.Queryd.SecretsPath = cfg.S3.SecretsPath
	st := startStack(t, cfg)
	runbook(t, st)
}

// TestMultipartStrict: a second "file" part, a body cut inside the file
// part and a repeated query parameter are 400 and commit nothing; other
// form fields around the file are skipped.
func TestMultipartStrict(t *testing.T) {
	st := startStack(t, config(t))
	post := func(query, body string) answer {
		t.Helper()
		resp, err := http.Post(st.gateway+"/v1/ingest?"+query, "multipart/form-data; boundary=XYZ", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, b}
	}
	part := func(name, content string) string {
		return "--XYZ\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"x.csv\"\r\n\r\n" + content + "\r\n"
	}
	csv := "id,v\n1,a\n2,b\n"
	for _, tc := range []struct{ name, query, body, want string }{
		{"two files", "name=m2", part("file", csv) + part("file", csv) + "--XYZ--\r\n", `more than one \"file\" part`},
		{"cut inside the file part", "name=m3", part("file", csv), "unexpected EOF"},
		{"repeated name", "name=m4&name=m5", part("file", csv) + "--XYZ--\r\n", `\"name\" given 2 times`},
	} {
		a := post(tc.query, tc.body)
		if a.Status != 400 || !strings.Contains(string(a.Body), tc.want) {
			t.Fatalf("%s: %d %s", tc.name, a.Status, a.Body)
		}
		if keys := st.dataKeys(t, "m2"); len(keys) != 0 {
			t.Fatalf("%s: files left %v", tc.name, keys)
		}
	}
	a := post("name=m1", part("note", "ignored")+part("file", csv)+part("other", "ignored too")+"--XYZ--\r\n")
	if a.Status != 200 || !strings.Contains(string(a.Body), `"rows":2`) {
		t.Fatalf("fields around the file: %d %s", a.Status, a.Body)
	}
}
