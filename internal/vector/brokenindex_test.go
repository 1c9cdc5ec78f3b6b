package vector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector"
)

// TestDamagedIndexIsolated: a real vectord whose snapshot of one index is
// damaged in storaged, with the log truncated behind it, starts and serves
// the other index (it refused to start, every index down). The damaged one
// is listed under "unreadable" with its error, every route on it answers a
// 502 naming the object, a PUT of its name is a 409, /health says
// "degraded" naming it, and the damaged bytes stay as they are through
// snapshot passes and a restart; DELETE drops it and the name can be
// created again.
func TestDamagedIndexIsolated(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"200ms\"")
	ctx := context.Background()
	c := client(s)
	objects := storage.NewClient(&shared.Client{Service: "storaged", Base: s.URL("storaged"), HTTP: shared.NewHTTPClient(30 * time.Second)})
	for name, dims := range map[string]int{"bad": 4, "good": 2} {
		if _, err := c.CreateIndex(ctx, name, vector.CreateIndexRequest{Dims: dims}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Upsert(ctx, "bad", []vector.Item{{ID: "b1", Vector: []float32{1, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "good", []vector.Item{{ID: "g1", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	// Both snapshots stored and the log truncated behind them (its header
	// only): the log cannot rebuild "bad".
	var walPath string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "vectord.wal" {
			walPath = p
		}
		return nil
	})
	if walPath == "" {
		t.Fatal("no vectord.wal under the suite's directory")
	}
	badKey := vector.SnapshotPrefix + "bad/index.lhv1"
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := os.Stat(walPath)
		_, herr := objects.Head(ctx, badKey)
		_, gerr := objects.Head(ctx, vector.SnapshotPrefix+"good/index.lhv1")
		if err == nil && st.Size() == 24 && herr == nil && gerr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshots not stored / log not truncated: %v %v %v", err, herr, gerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Kill("vectord")
	rc, _, err := objects.Get(ctx, badKey, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	damaged, _ := io.ReadAll(rc)
	rc.Close()
	damaged[len(damaged)/2] ^= 0x40 // one flipped bit: the checksum fails
	if _, err := objects.Put(ctx, badKey, bytes.NewReader(damaged), int64(len(damaged)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	base := s.URL("vectord")
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, m
	}
	health := func() map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(base + "/health")
			if err == nil {
				var h map[string]any
				json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return h
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("vectord did not come up: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	checkBroken := func() {
		t.Helper()
		// /health keeps a result for 2 s: wait for the restarted one's.
		h := health()
		if h["status"] != "degraded" || !strings.Contains(h["error"].(string), badKey) {
			t.Fatalf("health with a damaged index: %v", h)
		}
		code, list := do("GET", vector.IndexesPath, "")
		if code != 200 {
			t.Fatalf("list: %d %v", code, list)
		}
		ixs, _ := list["indexes"].([]any)
		if len(ixs) != 1 || ixs[0].(map[string]any)["name"] != "good" {
			t.Fatalf("indexes served: %v", list)
		}
		un, _ := list["unreadable"].([]any)
		if len(un) != 1 {
			t.Fatalf("unreadable: %v", list)
		}
		u := un[0].(map[string]any)
		ue, _ := u["error"].(map[string]any)
		if u["name"] != "bad" || ue["kind"] != "unavailable" || !strings.Contains(ue["message"].(string), badKey+" in storage is damaged") {
			t.Fatalf("unreadable: %v", list)
		}
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/bad", ""},
			{"POST", "/bad/search", `{"vector":[1,0,0,0],"k":1}`},
			{"POST", "/bad/upsert", `{"items":[{"id":"x","vector":[1,0,0,0]}]}`},
			{"POST", "/bad/delete", `{"ids":["b1"]}`},
			{"GET", "/bad/items/b1", ""},
		} {
			code, body := do(r.method, vector.IndexesPath+r.path, r.body)
			e, _ := body["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if code != 502 || e["kind"] != "unavailable" || !strings.Contains(msg, badKey) || !strings.Contains(msg, "restore the object from a backup") {
				t.Fatalf("%s %s on the damaged index: %d %v", r.method, r.path, code, body)
			}
		}
		code, body := do("PUT", vector.IndexesPath+"/bad", `{"dims":4}`)
		if e, _ := body["error"].(map[string]any); code != 409 || e["kind"] != "conflict" || !strings.Contains(e["message"].(string), "DELETE it first") {
			t.Fatalf("PUT over the damaged index: %d %v", code, body)
		}
		// The healthy index is served, reads and writes.
		if res, err := c.Search(ctx, "good", vector.SearchRequest{Vector: []float32{1, 0}, K: 1}); err != nil || len(res) != 1 || res[0].ID != "g1" {
			t.Fatalf("search of the healthy index: %+v %v", res, err)
		}
		if _, err := c.Upsert(ctx, "good", []vector.Item{{ID: "g2", Vector: []float32{0, 1}}}); err != nil {
			t.Fatalf("upsert to the healthy index: %v", err)
		}
	}
	checkBroken()
	time.Sleep(600 * time.Millisecond) // snapshot passes (good's upsert)
	// A graceful stop (a last snapshot) and a start: still held, still untouched.
	p := s.Process("vectord")
	p.Signal(os.Interrupt)
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "stat"))
		if f := strings.Fields(string(st)); err != nil || len(f) > 2 && f[2] == "Z" {
			break // exited (a zombie until Kill reaps it)
		}
	}
	s.Kill("vectord") // reaps it
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	checkBroken()
	rc, _, err = objects.Get(ctx, badKey, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, damaged) {
		t.Fatalf("the damaged snapshot was written over: %q", b)
	}
	// DELETE drops it (and its object); the name can be created again.
	if code, body := do("DELETE", vector.IndexesPath+"/bad", ""); code != 200 || body["deleted"] != "bad" {
		t.Fatalf("DELETE of the damaged index: %d %v", code, body)
	}
	if _, err := objects.Head(ctx, badKey); err == nil {
		t.Fatal("the dropped index's snapshot is still stored")
	}
	if _, err := c.CreateIndex(ctx, "bad", vector.CreateIndexRequest{Dims: 3}); err != nil {
		t.Fatalf("create after the drop: %v", err)
	}
	if _, err := c.Upsert(ctx, "bad", []vector.Item{{ID: "n1", Vector: []float32{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	s.Kill("vectord")
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	all, err := c.ListAll(ctx)
	if err != nil || len(all.Indexes) != 2 || len(all.Unreadable) != 0 {
		t.Fatalf("list after the drop and create: %+v %v", all, err)
	}
	for _, id := range []string{"g1", "g2"} {
		if _, err := c.GetItem(ctx, "good", id); err != nil {
			t.Fatalf("good/%s: %v", id, err)
		}
	}
	if _, err := c.GetItem(ctx, "bad", "n1"); err != nil {
		t.Fatalf("the new index bad: %v", err)
	}
}

// TestDamagedLogRecordIsolatedDaemon: a real vectord whose write-ahead log
// has a damaged record in its middle (one flipped byte, a valid record
// after it) starts — it exited at start before — holds the index the
// record may have been for, serves an index created after it, and after a
// DELETE of the held index, a create of its name and a kill -9, starts
// clean.
func TestDamagedLogRecordIsolatedDaemon(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"1h\"")
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "a", vector.CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "a", []vector.Item{{ID: "a1", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	// A graceful stop: a's snapshot stored, the log truncated to its header.
	p := s.Process("vectord")
	p.Signal(os.Interrupt)
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "stat"))
		if f := strings.Fields(string(st)); err != nil || len(f) > 2 && f[2] == "Z" {
			break
		}
	}
	s.Kill("vectord")
	var walPath string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "vectord.wal" {
			walPath = p
		}
		return nil
	})
	if st, err := os.Stat(walPath); err != nil || st.Size() != 24 {
		t.Fatalf("log after a graceful stop: %v %v", st, err)
	}
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "a", []vector.Item{{ID: "a2", Vector: []float32{0, 1}}}); err != nil { // the first record
		t.Fatal(err)
	}
	if _, err := c.CreateIndex(ctx, "later", vector.CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "later", []vector.Item{{ID: "l1", Vector: []float32{1, 1}}}); err != nil {
		t.Fatal(err)
	}
	s.Kill("vectord")
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	b[24+8+20] ^= 0x10
	if err := os.WriteFile(walPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	base := s.URL("vectord")
	var h map[string]any
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(end) {
			t.Fatalf("vectord with a damaged log record did not come up: %v\n%s", err, s.Logs())
		}
	}
	if msg, _ := h["error"].(string); h["status"] != "degraded" || !strings.Contains(msg, `index "a"`) || !strings.Contains(msg, "damaged record") {
		t.Fatalf("health: %v", h)
	}
	all, err := c.ListAll(ctx)
	if err != nil || len(all.Indexes) != 1 || all.Indexes[0].Name != "later" || len(all.Unreadable) != 1 || all.Unreadable[0].Name != "a" ||
		all.Unreadable[0].Error.Kind != "unavailable" {
		t.Fatalf("list: %+v %v", all, err)
	}
	resp, err := http.Get(base + vector.IndexesPath + "/a/items/a1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"kind":"unavailable"`) || !strings.Contains(string(body), "write-ahead log has a damaged record") {
		t.Fatalf("GET of an item of the held index: %d %s", resp.StatusCode, body)
	}
	if res, err := c.Search(ctx, "later", vector.SearchRequest{Vector: []float32{1, 1}, K: 1}); err != nil || len(res) != 1 || res[0].ID != "l1" {
		t.Fatalf("search of the index created after the damaged record: %+v %v", res, err)
	}
	if _, err := c.CreateIndex(ctx, "a", vector.CreateIndexRequest{Dims: 2}); err == nil || !strings.Contains(err.Error(), "DELETE it first") {
		t.Fatalf("create over the held index: %v", err)
	}
	if err := c.DeleteIndex(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateIndex(ctx, "a", vector.CreateIndexRequest{Dims: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "a", []vector.Item{{ID: "n", Vector: []float32{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	s.Kill("vectord")
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if all, err := c.ListAll(ctx); err != nil || len(all.Indexes) != 2 || len(all.Unreadable) != 0 {
		t.Fatalf("list after the drop, the create and a restart: %+v %v", all, err)
	}
	if _, err := c.GetItem(ctx, "a", "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetItem(ctx, "later", "l1"); err != nil {
		t.Fatal(err)
	}
}
