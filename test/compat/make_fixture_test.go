package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// TestMakeFixture writes the data set with the binaries in $LH_BIN_DIR (an
// older build: make_fixture.sh) and saves the data dirs and expect.json
// under $LH_COMPAT_FIXTURE_OUT: "clean" stopped with SIGTERM, "killed"
// killed with SIGKILL with writes acknowledged after vectord's last
// snapshot (only in its WAL) and an ingest in flight. Skipped unless
// LH_COMPAT_FIXTURE_OUT is set.
func TestMakeFixture(t *testing.T) {
	out := os.Getenv("LH_COMPAT_FIXTURE_OUT")
	if out == "" {
		t.Skip("LH_COMPAT_FIXTURE_OUT unset: make_fixture.sh sets it")
	}
	rev := os.Getenv("LH_COMPAT_REV")
	for _, variant := range []string{"clean", "killed"} {
		t.Run(variant, func(t *testing.T) {
			dir := t.TempDir()
			settings := map[string]string{
				// A snapshot once 20 changes pile up, none by time.
				"vectord": "snapshot_interval = \"1h\"\nsnapshot_ops = 20",
			}
			if variant == "killed" {
				// many small parts: the kill lands between an ingest's
				// pending marker and its commit
				settings["ingestd"] = "file_rows = 500"
			}
			s, err := suite.StartE(dir, suite.Options{Settings: settings})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
			waitHealthy(t, s)
			e := &Expect{Rev: rev, Variant: variant, Made: time.Now().UTC().Format(time.RFC3339)}
			writeDataSet(t, s, e)
			if variant == "clean" {
				recordDataSet(t, s, e)
				if bad := s.Stop(); len(bad) > 0 {
					t.Fatalf("unclean exits: %v\n%s", bad, s.Logs())
				}
			} else {
				writeAfterSnapshot(t, s, e)
				recordDataSet(t, s, e)
				killMidIngest(t, s)
			}
			dst := filepath.Join(out, variant)
			if err := os.RemoveAll(dst); err != nil {
				t.Fatal(err)
			}
			if err := copyTree(filepath.Join(dir, "data"), filepath.Join(dst, "data")); err != nil {
				t.Fatal(err)
			}
			b, _ := json.MarshalIndent(e, "", " ")
			if err := os.WriteFile(filepath.Join(dst, "expect.json"), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func writeDataSet(t *testing.T, s *suite.Suite, e *Expect) {
	for _, in := range ingests {
		call(t, s, "POST", "/v1/ingest?name="+in.name+"&mode="+in.mode, "text/csv", []byte(in.csv), 200)
	}
	// compaction (a81cc5b and later); an older build has no such route.
	resp, b, err := s.Do(context.Background(), "POST", "/v1/ingest/compact?name=sales&min_files=2", "", nil)
	switch {
	case err != nil:
		t.Fatal(err)
	case resp.StatusCode == 404 || resp.StatusCode == 405:
		t.Logf("no compaction in this build: %d %s", resp.StatusCode, b)
	case resp.StatusCode != 200 || !strings.Contains(string(b), `"compacted":true`):
		t.Fatalf("compaction: %d %s", resp.StatusCode, b)
	}
	for k, v := range objects() {
		call(t, s, "PUT", objectPath(k), "application/octet-stream", v, 200)
		e.Objects = append(e.Objects, k)
	}
	sort.Strings(e.Objects)

	jcall(t, s, "PUT", "/v1/vectors/indexes/"+vecIndex, `{"dims":8,"metric":"cosine","m":8,"ef_construction":64}`)
	for lo := 0; lo < vecItems; lo += 10 {
		upsertItems(t, s, lo, lo+10)
	}
	jcall(t, s, "POST", "/v1/vectors/indexes/"+vecIndex+"/delete", `{"ids":["item-38","item-39"]}`)
	for i := 0; i < 38; i++ {
		e.VecLive = append(e.VecLive, itemID(i))
	}
	e.VecDeleted = []string{"item-38", "item-39"}

	call(t, s, "POST", "/v1/matrix/indexes", "application/json", []byte(`{"dataset":"docs","id_column":"id","text_columns":["text"]}`), 202)
	waitMatrixReady(t, s, "docs")

	var ids []string
	for _, m := range memoryAdds {
		body := map[string]any{"text": m.text, "user_id": m.user, "infer": false, "metadata": map[string]any{"source": "compat"}}
		if m.agent != "" {
			body["agent_id"] = m.agent
		}
		var a struct {
			Results []struct{ ID, Event string } `json:"results"`
		}
		json.Unmarshal(jcall(t, s, "POST", "/v1/pathway/memories", mustJSON(body)), &a)
		if len(a.Results) != 1 || a.Results[0].Event != "ADD" {
			t.Fatalf("memory add %q: %+v", m.text, a)
		}
		ids = append(ids, a.Results[0].ID)
	}
	e.MemUpdated, e.MemDeleted = ids[0], ids[2]
	jcall(t, s, "PUT", "/v1/pathway/memories/"+ids[0], mustJSON(map[string]any{"text": memoryUpdate}))
	jcall(t, s, "DELETE", "/v1/pathway/memories/"+ids[2], "")
	jcall(t, s, "POST", "/v1/pathway/traces", traceSteps)

	var evs []map[string]any
	for i := 0; i < 3; i++ {
		evs = append(evs, map[string]any{"ts": time.Now().UTC().Add(time.Duration(i-10) * time.Second).Format(time.RFC3339Nano), "service": obsService, "op": "write", "status": 200 + i,
			"duration_ms": 1.5 * float64(i+1), "request_id": fmt.Sprintf("compat-%d", i), "attrs": map[string]any{"i": i}})
	}
	call(t, s, "POST", "/v1/observer/events", "application/json", []byte(mustJSON(map[string]any{"events": evs})), 200)
}

func upsertItems(t *testing.T, s *suite.Suite, lo, hi int) {
	var items []map[string]any
	for i := lo; i < hi; i++ {
		items = append(items, map[string]any{"id": itemID(i), "vector": itemVector(i), "metadata": itemMeta(i)})
	}
	jcall(t, s, "POST", "/v1/vectors/indexes/"+vecIndex+"/upsert", mustJSON(map[string]any{"items": items}))
}

// recordDataSet saves what the older build answers.
func recordDataSet(t *testing.T, s *suite.Suite, e *Expect) {
	e.Manifests, e.FileSHA256 = map[string][]json.RawMessage{}, map[string]string{}
	for _, name := range []string{"sales", "docs"} {
		var latest struct{ Version int }
		json.Unmarshal(jcall(t, s, "GET", "/v1/catalog/datasets/"+name, ""), &latest)
		for v := 1; v <= latest.Version; v++ {
			b := jcall(t, s, "GET", fmt.Sprintf("/v1/catalog/datasets/%s?version=%d", name, v), "")
			e.Manifests[name] = append(e.Manifests[name], b)
			var m struct {
				Files []struct{ Key string }
			}
			json.Unmarshal(b, &m)
			for _, f := range m.Files {
				e.FileSHA256[f.Key] = sha(call(t, s, "GET", objectPath(f.Key), "", nil, 200))
			}
		}
	}
	e.SQL = map[string]json.RawMessage{}
	for _, q := range sqlCases {
		e.SQL[q] = jcall(t, s, "POST", "/v1/sql", mustJSON(map[string]any{"sql": q}))
	}
	e.VecInfo = jcall(t, s, "GET", "/v1/vectors/indexes/"+vecIndex, "")
	e.MatrixStatus = waitMatrixReady(t, s, "docs")
	e.MatrixIDs = map[string][]string{}
	for _, q := range matrixSearches {
		e.MatrixIDs[q] = matrixIDs(t, jcall(t, s, "POST", "/v1/matrix/search", q))
	}
	e.Memories = map[string]json.RawMessage{}
	for _, u := range []string{"alice", "bob"} {
		e.Memories[u] = jcall(t, s, "GET", "/v1/pathway/memories?user_id="+u, "")
	}
	e.History = jcall(t, s, "GET", "/v1/pathway/memories/"+e.MemUpdated+"/history", "")
	e.Trace = jcall(t, s, "GET", "/v1/pathway/traces/"+traceRun, "")
	e.PathwayIDs, e.VecFilterIDs = map[string][]string{}, map[string][]string{}
	for _, q := range pathwaySearches {
		e.PathwayIDs[q] = resultIDs(t, jcall(t, s, "POST", "/v1/pathway/search", q))
	}
	for _, q := range vecFilterSearches {
		e.VecFilterIDs[q] = resultIDs(t, jcall(t, s, "POST", "/v1/vectors/indexes/"+vecIndex+"/search", q))
	}
	e.Embeddings = jcall(t, s, "POST", "/v1/embed", mustJSON(map[string]any{"input": embedInputs}))
	for deadline := time.Now().Add(10 * time.Second); ; {
		var out struct {
			Events []json.RawMessage `json:"events"`
		}
		json.Unmarshal(jcall(t, s, "GET", "/v1/observer/events?service="+obsService, ""), &out)
		if len(out.Events) == 3 {
			e.Observer = out.Events
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer events: %d", len(out.Events))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeAfterSnapshot waits for vectord's first snapshot, then upserts ten
// more items and adds a memory: acknowledged, but only in the logs.
func writeAfterSnapshot(t *testing.T, s *suite.Suite, e *Expect) {
	for deadline := time.Now().Add(10 * time.Second); ; {
		b := jcall(t, s, "GET", "/v1/storage/objects?prefix=_vectors/", "")
		if strings.Contains(string(b), `"key"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no vectord snapshot: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	upsertItems(t, s, vecItems, vecItems+10)
	for i := vecItems; i < vecItems+10; i++ {
		e.VecLive = append(e.VecLive, itemID(i))
	}
	jcall(t, s, "POST", "/v1/pathway/memories", `{"text":"alice switched to decaf","user_id":"alice","infer":false}`)
	jcall(t, s, "POST", "/v1/pathway/traces", `{"run_id":"`+traceRun+`","steps":[{"type":"event","name":"after-snapshot","ts":"2026-01-01T10:00:03Z"}]}`)
}

// killMidIngest starts an ingest of inflightRows rows into the dataset
// inflight and SIGKILLs every daemon (ingestd first) as soon as its pending
// marker is in storaged, i.e. between its first part upload and its
// commit; the ingest may also have committed by then, or (an older build
// without markers) still be converting. Whatever the kill left, the
// current build must show all of inflight or none of it.
func killMidIngest(t *testing.T, s *suite.Suite) {
	var csv strings.Builder
	csv.WriteString("id,v\n")
	for i := 0; i < inflightRows; i++ {
		fmt.Fprintf(&csv, "%d,row %d\n", i, i%97)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Post(s.Gateway()+"/v1/ingest?name=inflight", "text/csv", strings.NewReader(csv.String()))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("in-flight ingest answered before the kill: %d %.200s", resp.StatusCode, b)
		}
	}()
	marker := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !marker; {
		select {
		case <-done:
			deadline = time.Time{}
			continue
		default:
		}
		resp, err := http.Get(s.URL("storaged") + "/v1/storage/objects?prefix=_ingest/pending/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			marker = strings.Contains(string(b), `"key"`)
		}
		time.Sleep(time.Millisecond)
	}
	for _, name := range []string{"ingestd", "gateway", "matrixd", "vectord", "pathwayd", "observerd", "queryd", "embedd", "chatd", "catalogd", "storaged"} {
		s.Kill(name)
	}
	<-done
	t.Logf("killed with a pending marker in storaged: %v", marker)
}

// copyTree copies regular files (not sockets, not the scratch dirs).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if rel == filepath.Join("ingestd", "tmp") || rel == filepath.Join("queryd", "cache") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
