package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// The data set an older build writes (make_fixture_test.go) and the
// current one must read back (compat_test.go). Everything a test can
// regenerate (CSV rows, object bytes, vectors, metadata) is defined here;
// what the older build chose itself (manifests, memory ids, timestamps,
// answers) is recorded in the fixture's expect.json.

const (
	vecIndex   = "compat_vecs"
	vecDims    = 8
	vecItems   = 40 // ids item-00..item-39; item-38 and item-39 are deleted
	traceRun   = "compat-run-1"
	obsService = "compat-fixture"
	// inflightRows are ingested into the dataset inflight as the killed
	// fixture's daemons are SIGKILLed.
	inflightRows = 20000
)

// ingests, in order: dataset, mode, CSV body. sales gets appends then a
// compaction (mode=compact), docs a replace.
var ingests = []struct{ name, mode, csv string }{
	{"sales", "append", "id,region,amount,day\n1,north,10.5,2026-01-01\n2,south,20.25,2026-01-02\n3,east,30,2026-01-03\n4,west,40.75,2026-01-04\n5,north,50,2026-01-05\n"},
	{"sales", "append", "id,region,amount,day\n6,south,60,2026-02-01\n7,east,70.5,2026-02-02\n8,west,80,2026-02-03\n"},
	{"sales", "append", "id,region,amount,day\n9,north,90,2026-03-01\n10,south,100.125,2026-03-02\n"},
	{"docs", "append", "id,text\n1,the quick brown fox\n2,a lazy dog sleeps in the sun\n3,lakehouse upgrade test\n"},
	{"docs", "replace", "id,text\n10,red apples and green pears\n11,the quick brown fox jumps over the fence\n12,parquet files in an object store\n13,vector search with hnsw graphs\n14,agents remember what users prefer\n"},
}

// sqlCases are answered at the latest version by the older build and must
// be answered identically by the current one.
var sqlCases = []string{
	"SELECT id, region, amount, day FROM sales ORDER BY id",
	"SELECT count(*) AS n, sum(amount) AS total, min(day) AS first, max(day) AS last FROM sales",
	"SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region",
	"SELECT id, text FROM docs ORDER BY id",
}

// objects written through storaged.
func objects() map[string][]byte {
	blob := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range blob {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		blob[i] = byte(x)
	}
	return map[string][]byte{
		"compat/hello.txt":          []byte("hello from an older build\n"),
		"compat/bin/blob.bin":       blob,
		"compat/ünïcode name.json":  []byte(`{"k":"v","n":[1,2,3]}`),
		"compat/empty":              {},
		"compat/deep/a/b/c/d/e.txt": []byte(strings.Repeat("line\n", 100)),
	}
}

func itemID(i int) string { return fmt.Sprintf("item-%02d", i) }

func itemVector(i int) []float32 {
	v := make([]float32, vecDims)
	for j := range v {
		v[j] = float32(math.Sin(float64(i*vecDims+j)*0.7 + float64(i)*0.3))
	}
	return v
}

func itemMeta(i int) map[string]any {
	tag := "even"
	if i%2 == 1 {
		tag = "odd"
	}
	return map[string]any{"n": i, "tag": tag, "name": fmt.Sprintf("Item %d", i), "ok": i%3 == 0, "w": float64(i) / 4}
}

// memory adds: user, text (infer off: stored verbatim).
var memoryAdds = []struct{ user, agent, text string }{
	{"alice", "", "alice prefers dark roast coffee"},
	{"alice", "", "alice lives in Lisbon"},
	{"alice", "", "alice is allergic to peanuts"},
	{"bob", "planner", "bob plays chess on weekends"},
}

const memoryUpdate = "alice prefers green tea now"

var traceSteps = `{"run_id":"` + traceRun + `","steps":[
 {"type":"llm","name":"plan","input":{"prompt":"what next"},"output":{"text":"search"},"ts":"2026-01-01T10:00:00Z","duration_ms":12.5,"metadata":{"model":"m1"}},
 {"type":"tool","name":"search","input":{"q":"fox"},"output":["a","b"],"ts":"2026-01-01T10:00:01Z","duration_ms":3},
 {"type":"event","name":"done","ts":"2026-01-01T10:00:02Z"}]}`

var embedInputs = []string{"the quick brown fox", "lakehouse upgrade"}

var matrixSearches = []string{
	`{"query":"quick brown fox","datasets":["docs"],"k":3,"mode":"keyword"}`,
	`{"query":"quick brown fox","datasets":["docs"],"k":3,"mode":"vector"}`,
	`{"query":"object store","datasets":["docs"],"k":5,"mode":"hybrid"}`,
}

// Expect is a fixture's expect.json: what the older build answered.
type Expect struct {
	Rev, Variant, Made string
	// Manifests per dataset, every version's GET ?version=N answer in order.
	Manifests map[string][]json.RawMessage
	// FileSHA256 of every Parquet file a manifest lists.
	FileSHA256 map[string]string
	SQL        map[string]json.RawMessage
	Objects    []string
	VecInfo    json.RawMessage
	VecLive    []string
	VecDeleted []string
	// MatrixStatus is GET /v1/matrix/indexes/docs; MatrixIDs each search's ids.
	MatrixStatus json.RawMessage
	MatrixIDs    map[string][]string
	Memories     map[string]json.RawMessage // user -> GET memories?user_id=
	MemUpdated   string
	MemDeleted   string
	History      json.RawMessage
	Trace        json.RawMessage
	Observer     []json.RawMessage
	Embeddings   json.RawMessage
	// PathwayIDs and VecFilterIDs: the ids of each search, in order.
	PathwayIDs   map[string][]string
	VecFilterIDs map[string][]string
}

var pathwaySearches = []string{
	`{"query":"what does alice drink","user_id":"alice","limit":5}`,
	`{"query":"chess","user_id":"bob","limit":5}`,
}

var vecFilterSearches = []string{
	`{"vector":[1,0,0,0,0,0,0,0],"k":5,"ef":200,"filter":{"tag":"odd"}}`,
	`{"vector":[0,0,0,1,0,0,0,0],"k":7,"ef":200,"filter":{"ok":true}}`,
}

// resultIDs is the ids of a {"results":[{"id":...}]} answer, in order.
func resultIDs(t testing.TB, b []byte) []string { return matrixIDs(t, b) }

// call sends a request through the gateway and fails the test unless the
// status is want.
func call(t testing.TB, s *suite.Suite, method, path, ctype string, body []byte, want int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	resp, b, err := s.Do(ctx, method, path, ctype, r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s (want %d)", method, path, resp.StatusCode, b, want)
	}
	return b
}

func jcall(t testing.TB, s *suite.Suite, method, path, body string) []byte {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return call(t, s, method, path, "application/json", b, http.StatusOK)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// decode with UseNumber, so that numbers compare exactly.
func decode(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func objectPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/v1/storage/objects/" + strings.Join(segs, "/")
}

func waitHealthy(t testing.TB, s *suite.Suite) {
	t.Helper()
	if _, err := s.WaitHealthy(45 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, s.Logs())
	}
}

// waitMatrixReady polls the docs index until its state is ready and
// returns the status answer.
func waitMatrixReady(t testing.TB, s *suite.Suite, dataset string) []byte {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		_, b, err := s.Do(context.Background(), "GET", "/v1/matrix/indexes/"+dataset, "", nil)
		var st struct {
			State string `json:"state"`
		}
		if err == nil && json.Unmarshal(b, &st) == nil {
			switch st.State {
			case "ready":
				return b
			case "failed", "error":
				t.Fatalf("matrix index %s: %s", dataset, b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("matrix index %s not ready: %v %s", dataset, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func matrixIDs(t testing.TB, b []byte) []string {
	t.Helper()
	var out struct {
		Results []struct {
			ID any `json:"id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("matrix search answer %s: %v", b, err)
	}
	ids := []string{}
	for _, r := range out.Results {
		ids = append(ids, fmt.Sprint(r.ID))
	}
	return ids
}
