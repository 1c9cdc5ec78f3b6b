package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/vector/lhv1"
)

// TestUpgradeFromFixture starts the current binaries on a copy of every
// data dir under testdata/<rev>/<variant>/ (written by an older build,
// make_fixture.sh) and checks through the gateway that everything the
// older build acknowledged reads back exactly, that new writes work on
// top, and that the mixed old+new state survives a restart.
func TestUpgradeFromFixture(t *testing.T) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "expect.json"))
	if len(fixtures) == 0 {
		t.Fatal("no fixture under testdata/*/*/expect.json")
	}
	for _, f := range fixtures {
		fdir := filepath.Dir(f)
		name := filepath.Base(filepath.Dir(fdir)) + "/" + filepath.Base(fdir)
		t.Run(name, func(t *testing.T) {
			var e Expect
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			if e.Variant == "killed" {
				onlyInWAL(t, fdir, &e)
			}
			dir := t.TempDir()
			if err := copyTree(filepath.Join(fdir, "data"), filepath.Join(dir, "data")); err != nil {
				t.Fatal(err)
			}
			s, err := suite.StartE(dir, suite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				s.Stop()
				if t.Failed() {
					t.Logf("daemon logs:\n%s", s.Logs())
				}
			})
			waitHealthy(t, s)
			checkStable(t, s, &e)
			checkLatest(t, s, &e)
			w := writeNew(t, s, &e)
			if bad := s.Stop(); len(bad) > 0 {
				t.Fatalf("unclean exits after the upgrade: %v", bad)
			}
			for _, d := range []string{"storaged", "catalogd", "ingestd", "queryd", "vectord", "embedd", "pathwayd", "matrixd", "observerd", "chatd", "gateway"} {
				if err := s.StartDaemon(d); err != nil {
					t.Fatal(err)
				}
			}
			waitHealthy(t, s)
			checkStable(t, s, &e)
			checkNew(t, s, &e, w)
		})
	}
}

// onlyInWAL checks the killed fixture covers vectord's log replay: the
// items acknowledged after the last snapshot are not in the LHV1 file (read
// with the current decoder), so the current build can only find them by
// replaying the older build's write-ahead log.
func onlyInWAL(t *testing.T, fdir string, e *Expect) {
	f, err := os.Open(filepath.Join(fdir, "data", "objects", "data", "_vectors", vecIndex, "index.lhv1"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ix, err := lhv1.Decode(f)
	if err != nil {
		t.Fatalf("the older build's LHV1 snapshot: %v", err)
	}
	inWAL := 0
	for _, id := range e.VecLive {
		if _, ok := ix.Get(id); !ok {
			inWAL++
		}
	}
	if inWAL == 0 {
		t.Fatal("every acknowledged item is in the snapshot: the fixture does not exercise the WAL")
	}
}

// same fails unless every field of old (recursively; arrays element by
// element and of the same length) is in cur with the same value: a
// current build may add fields, never drop or change one.
func same(t testing.TB, what string, old, cur []byte) {
	t.Helper()
	if p := subset("", decode(t, old), decode(t, cur)); p != "" {
		t.Errorf("%s: %s\nolder build: %s\ncurrent:     %s", what, p, old, cur)
	}
}

func subset(path string, old, cur any) string {
	switch o := old.(type) {
	case map[string]any:
		c, ok := cur.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: object became %T", path, cur)
		}
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cv, ok := c[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if p := subset(path+"."+k, o[k], cv); p != "" {
				return p
			}
		}
		return ""
	case []any:
		c, ok := cur.([]any)
		if !ok || len(c) != len(o) {
			return fmt.Sprintf("%s: %d elements became %v", path, len(o), cur)
		}
		for i := range o {
			if p := subset(fmt.Sprintf("%s[%d]", path, i), o[i], c[i]); p != "" {
				return p
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(old, cur) {
			return fmt.Sprintf("%s: %v became %v", path, old, cur)
		}
		return ""
	}
}

// pick keeps the named top-level fields of a JSON object.
func pick(t testing.TB, b []byte, fields ...string) []byte {
	t.Helper()
	m, ok := decode(t, b).(map[string]any)
	if !ok {
		t.Fatalf("not an object: %s", b)
	}
	out := map[string]any{}
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	return []byte(mustJSON(out))
}

// checkStable checks what the new writes leave as the older build wrote it.
func checkStable(t *testing.T, s *suite.Suite, e *Expect) {
	t.Helper()
	// catalogd: every version's manifest, and its files byte-identical.
	for name, ms := range e.Manifests {
		for i, old := range ms {
			cur := jcall(t, s, "GET", fmt.Sprintf("/v1/catalog/datasets/%s?version=%d", name, i+1), "")
			same(t, fmt.Sprintf("catalog %s version %d", name, i+1), old, cur)
		}
		var vs struct {
			Versions []struct {
				Version int `json:"version"`
			} `json:"versions"`
		}
		b := jcall(t, s, "GET", "/v1/catalog/datasets/"+name+"/versions", "")
		if err := json.Unmarshal(b, &vs); err != nil || len(vs.Versions) < len(ms) {
			t.Errorf("catalog %s versions: %v %s (older build had %d)", name, err, b, len(ms))
		}
	}
	for key, want := range e.FileSHA256 {
		if got := sha(call(t, s, "GET", objectPath(key), "", nil, 200)); got != want {
			t.Errorf("dataset file %s: sha256 %s, older build %s", key, got, want)
		}
	}
	// The ingest killed mid-way is all there or not at all.
	if e.Variant == "killed" {
		resp, b, err := s.Do(context.Background(), "GET", "/v1/catalog/datasets/inflight", "", nil)
		switch {
		case err != nil:
			t.Fatal(err)
		case resp.StatusCode == 404:
		case resp.StatusCode == 200:
			var q struct {
				Rows [][]any `json:"rows"`
			}
			json.Unmarshal(jcall(t, s, "POST", "/v1/sql", `{"sql":"SELECT count(*) FROM inflight"}`), &q)
			if len(q.Rows) != 1 || fmt.Sprint(q.Rows[0][0]) != fmt.Sprint(inflightRows) {
				t.Errorf("the ingest killed mid-way committed part of its rows: %v of %d (manifest %s)", q.Rows, inflightRows, b)
			}
		default:
			t.Errorf("catalog of the ingest killed mid-way: %d %s", resp.StatusCode, b)
		}
	}
	// storaged: objects byte-identical, and listed.
	objs := objects()
	for _, k := range e.Objects {
		if got := call(t, s, "GET", objectPath(k), "", nil, 200); !bytes.Equal(got, objs[k]) {
			t.Errorf("object %q: %d bytes differ from the %d written", k, len(got), len(objs[k]))
		}
	}
	var list struct {
		Objects []struct {
			Key  string `json:"key"`
			Size int    `json:"size"`
		} `json:"objects"`
	}
	json.Unmarshal(jcall(t, s, "GET", "/v1/storage/objects?prefix=compat/", ""), &list)
	var keys []string
	for _, o := range list.Objects {
		keys = append(keys, o.Key)
		if o.Size != len(objs[o.Key]) {
			t.Errorf("object %q listed with size %d, want %d", o.Key, o.Size, len(objs[o.Key]))
		}
	}
	if !reflect.DeepEqual(keys, e.Objects) {
		t.Errorf("objects listed %q, older build wrote %q", keys, e.Objects)
	}
	// vectord: the index, every live item found by its own vector with its
	// metadata, the deleted ones never.
	same(t, "vector index", pick(t, e.VecInfo, "name", "params"), jcall(t, s, "GET", "/v1/vectors/indexes/"+vecIndex, ""))
	for _, id := range e.VecLive {
		checkItem(t, s, id)
	}
	b := jcall(t, s, "POST", "/v1/vectors/indexes/"+vecIndex+"/search", mustJSON(map[string]any{"vector": itemVector(38), "k": 100, "ef": 200}))
	for _, id := range e.VecDeleted {
		if strings.Contains(string(b), `"`+id+`"`) {
			t.Errorf("deleted item %s is back: %s", id, b)
		}
	}
	// embedd: the built-in embedder gives the same vectors (matrixd's
	// stored vectors and new queries' must agree).
	same(t, "embeddings", e.Embeddings, jcall(t, s, "POST", "/v1/embed", mustJSON(map[string]any{"input": embedInputs})))
	// pathwayd: memories, history, trace.
	for u, old := range e.Memories {
		same(t, "memories of "+u, old, jcall(t, s, "GET", "/v1/pathway/memories?user_id="+u, ""))
	}
	same(t, "history", e.History, jcall(t, s, "GET", "/v1/pathway/memories/"+e.MemUpdated+"/history", ""))
	call(t, s, "GET", "/v1/pathway/memories/"+e.MemDeleted, "", nil, 404)
	for q, ids := range e.PathwayIDs {
		if got := resultIDs(t, jcall(t, s, "POST", "/v1/pathway/search", q)); !reflect.DeepEqual(got, ids) {
			t.Errorf("pathway search %s: ids %v, older build %v", q, got, ids)
		}
	}
}

// checkLatest checks the latest state, which the new writes change.
func checkLatest(t *testing.T, s *suite.Suite, e *Expect) {
	t.Helper()
	// queryd at the latest version.
	for q, old := range e.SQL {
		cur := jcall(t, s, "POST", "/v1/sql", mustJSON(map[string]any{"sql": q}))
		same(t, "sql "+q, pick(t, old, "columns", "rows", "row_count", "truncated"), cur)
	}
	// new upserts reuse the deleted items' slots: deleted is the older
	// build's only until then.
	same(t, "vector index", pick(t, e.VecInfo, "deleted"), jcall(t, s, "GET", "/v1/vectors/indexes/"+vecIndex, ""))
	var info struct {
		Count int `json:"count"`
	}
	json.Unmarshal(jcall(t, s, "GET", "/v1/vectors/indexes/"+vecIndex, ""), &info)
	if info.Count != len(e.VecLive) {
		t.Errorf("vector index count %d, older build acknowledged %d live items", info.Count, len(e.VecLive))
	}
	for q, ids := range e.VecFilterIDs {
		if got := resultIDs(t, jcall(t, s, "POST", "/v1/vectors/indexes/"+vecIndex+"/search", q)); !reflect.DeepEqual(got, ids) {
			t.Errorf("vector search %s: ids %v, older build %v", q, got, ids)
		}
	}
	// matrixd: ready (or rebuilt to ready), and the same answers.
	st := waitMatrixReady(t, s, "docs")
	var was, now struct {
		StartedAt string `json:"started_at"`
	}
	json.Unmarshal(e.MatrixStatus, &was)
	json.Unmarshal(st, &now)
	if was.StartedAt != now.StartedAt {
		t.Logf("matrixd rebuilt the older build's index of docs: %s", st)
	}
	same(t, "matrix index status", pick(t, e.MatrixStatus, "dataset", "id_column", "text_columns", "state", "version", "docs", "model", "dims"), st)
	for q, ids := range e.MatrixIDs {
		if got := matrixIDs(t, jcall(t, s, "POST", "/v1/matrix/search", q)); !reflect.DeepEqual(got, ids) {
			t.Errorf("matrix search %s: ids %v, older build %v", q, got, ids)
		}
	}
	same(t, "trace", e.Trace, jcall(t, s, "GET", "/v1/pathway/traces/"+traceRun, ""))
	// observerd: the events reloaded from ops.jsonl. Only at the first
	// start: once the current build has reported its own operations, a
	// restart reloads the week before the newest event (ADR-050), and the
	// fixture's events age out of that as the fixture gets older.
	var ev struct {
		Events []json.RawMessage `json:"events"`
	}
	json.Unmarshal(jcall(t, s, "GET", "/v1/observer/events?service="+obsService, ""), &ev)
	if len(ev.Events) != len(e.Observer) {
		t.Errorf("observer events of %s: %d, older build had %d", obsService, len(ev.Events), len(e.Observer))
	} else {
		for i := range ev.Events {
			same(t, fmt.Sprintf("observer event %d", i), e.Observer[i], ev.Events[i])
		}
	}
}

func checkItem(t *testing.T, s *suite.Suite, id string) {
	t.Helper()
	var i int
	fmt.Sscanf(id, "item-%d", &i)
	var out struct {
		Results []struct {
			ID       string          `json:"id"`
			Score    float64         `json:"score"`
			Metadata json.RawMessage `json:"metadata"`
		} `json:"results"`
	}
	b := jcall(t, s, "POST", "/v1/vectors/indexes/"+vecIndex+"/search", mustJSON(map[string]any{"vector": itemVector(i), "k": 1, "ef": 200}))
	if err := json.Unmarshal(b, &out); err != nil || len(out.Results) != 1 || out.Results[0].ID != id {
		t.Errorf("vector search for %s: %v %s", id, err, b)
		return
	}
	same(t, "metadata of "+id, []byte(mustJSON(itemMeta(i))), out.Results[0].Metadata)
}

// written is what writeNew added on top of the older build's data.
type written struct {
	salesVersion, salesRows int
	memory                  string
	traceSteps              int
}

func writeNew(t *testing.T, s *suite.Suite, e *Expect) written {
	t.Helper()
	var w written
	old := e.Manifests["sales"][len(e.Manifests["sales"])-1]
	var m struct {
		Version  int `json:"version"`
		RowCount int `json:"row_count"`
	}
	json.Unmarshal(old, &m)
	// An append with an Idempotency-Key (ADR-123) over manifests that
	// predate the key, sent twice: one version.
	csv := []byte("id,region,amount,day\n11,east,110,2026-05-01\n12,west,120.5,2026-05-02\n")
	for try := 0; try < 2; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "POST", s.Gateway()+"/v1/ingest?name=sales&mode=append", bytes.NewReader(csv))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Idempotency-Key", "compat-after-upgrade")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var a struct {
			Version int `json:"version"`
			Rows    int `json:"rows"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || a.Version != m.Version+1 || a.Rows != 2 {
			t.Fatalf("append %d on the older catalog: %d %s, want version %d of 2 rows", try+1, resp.StatusCode, b, m.Version+1)
		}
	}
	// A compaction of the older build's files with the new one.
	var c struct {
		Version   int  `json:"version"`
		Compacted bool `json:"compacted"`
	}
	b := call(t, s, "POST", "/v1/ingest/compact?name=sales", "", nil, 200)
	if json.Unmarshal(b, &c) != nil || !c.Compacted || c.Version != m.Version+2 {
		t.Fatalf("compaction of the older build's files: %s, want version %d", b, m.Version+2)
	}
	w.salesVersion, w.salesRows = c.Version, m.RowCount+2
	// a new version of docs, and matrixd refreshes its older index to it.
	call(t, s, "POST", "/v1/ingest?name=docs&mode=append", "text/csv", []byte("id,text\n15,zebras graze on the savanna\n"), 200)
	call(t, s, "POST", "/v1/matrix/indexes", "application/json", []byte(`{"dataset":"docs","id_column":"id","text_columns":["text"]}`), 202)
	upsertItems(t, s, 90, 92)
	call(t, s, "PUT", objectPath("compat-new/after-upgrade.txt"), "text/plain", []byte("written by the current build"), 200)
	var ma struct {
		Results []struct{ ID string } `json:"results"`
	}
	json.Unmarshal(jcall(t, s, "POST", "/v1/pathway/memories", `{"text":"carol started after the upgrade","user_id":"carol","infer":false}`), &ma)
	if len(ma.Results) != 1 {
		t.Fatalf("memory add after the upgrade: %+v", ma)
	}
	w.memory = ma.Results[0].ID
	var tr struct {
		Total int `json:"total"`
	}
	json.Unmarshal(jcall(t, s, "POST", "/v1/pathway/traces", `{"run_id":"`+traceRun+`","steps":[{"type":"event","name":"after-upgrade","ts":"2026-06-01T00:00:00Z"}]}`), &tr)
	var ot struct {
		Steps []json.RawMessage `json:"steps"`
	}
	json.Unmarshal(e.Trace, &ot)
	if tr.Total != len(ot.Steps)+1 {
		t.Fatalf("trace append on the older journal: total %d, want %d", tr.Total, len(ot.Steps)+1)
	}
	w.traceSteps = tr.Total
	checkNew(t, s, e, w)
	return w
}

func checkNew(t *testing.T, s *suite.Suite, e *Expect, w written) {
	t.Helper()
	var q struct {
		Rows [][]any `json:"rows"`
	}
	json.Unmarshal(jcall(t, s, "POST", "/v1/sql", `{"sql":"SELECT count(*) FROM sales"}`), &q)
	if len(q.Rows) != 1 || fmt.Sprint(q.Rows[0][0]) != fmt.Sprint(w.salesRows) {
		t.Errorf("sales rows after the append: %v, want %d", q.Rows, w.salesRows)
	}
	var m struct {
		Version int `json:"version"`
	}
	json.Unmarshal(jcall(t, s, "GET", "/v1/catalog/datasets/sales", ""), &m)
	if m.Version != w.salesVersion {
		t.Errorf("sales latest version %d, want %d", m.Version, w.salesVersion)
	}
	for _, id := range []string{"item-90", "item-91"} {
		checkItem(t, s, id)
	}
	if got := string(call(t, s, "GET", objectPath("compat-new/after-upgrade.txt"), "", nil, 200)); got != "written by the current build" {
		t.Errorf("new object: %q", got)
	}
	jcall(t, s, "GET", "/v1/pathway/memories/"+w.memory, "")
	var tr struct {
		Steps []json.RawMessage `json:"steps"`
	}
	json.Unmarshal(jcall(t, s, "GET", "/v1/pathway/traces/"+traceRun, ""), &tr)
	if len(tr.Steps) != w.traceSteps {
		t.Errorf("trace steps %d, want %d", len(tr.Steps), w.traceSteps)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := waitMatrixReady(t, s, "docs")
		var v struct {
			Version int `json:"version"`
		}
		json.Unmarshal(st, &v)
		b := jcall(t, s, "POST", "/v1/matrix/search", `{"query":"zebras savanna","datasets":["docs"],"k":1,"mode":"keyword"}`)
		if ids := matrixIDs(t, b); len(ids) == 1 && ids[0] == "15" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("matrix search for the row appended after the upgrade: %s (status %s)", b, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
