package vector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/vector"
)

// stopGracefully sends vectord an interrupt (a last snapshot, the log
// truncated behind it) and waits for it to exit.
func stopGracefully(t *testing.T, s *suite.Suite) {
	t.Helper()
	p := s.Process("vectord")
	p.Signal(os.Interrupt)
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "stat"))
		if f := strings.Fields(string(st)); err != nil || len(f) > 2 && f[2] == "Z" {
			break
		}
	}
	s.Kill("vectord") // reaps it
}

// metric reads one unlabelled series from vectord's /metrics (-1: absent).
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

// TestHeldIndexReloadsRestoredSnapshot: a real vectord holds an index
// whose snapshot in storaged is damaged and which the log cannot rebuild
// (ADR-095). It recovered only through a restart of the whole vectord
// (every healthy index interrupted) or a DELETE (the index lost). Now
// (ADR-105): a still-damaged replacement PUT through storaged is read
// once and keeps the index held with the new reason, its bytes untouched;
// a hot loop of requests against it reads nothing more (a HEAD a second
// at most); the good object restored from a backup is served on the next
// request — with the write logged after the backup was taken, replayed
// from the log — listed as served, /health back to ok, a PUT of the same
// params its 200, writes taken and kept through a kill -9.
func TestHeldIndexReloadsRestoredSnapshot(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"1h\"")
	ctx := context.Background()
	c := client(s)
	objects := storage.NewClient(&shared.Client{Service: "storaged", Base: s.URL("storaged"), HTTP: shared.NewHTTPClient(30 * time.Second)})
	badKey := vector.SnapshotPrefix + "bad/index.lhv1"
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
	stopGracefully(t, s) // both snapshots stored, the log truncated to its header
	rc, _, err := objects.Get(ctx, badKey, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	backup, _ := io.ReadAll(rc)
	rc.Close()
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Logged after the backup: the reload must replay it.
	if _, err := c.Upsert(ctx, "bad", []vector.Item{{ID: "b2", Vector: []float32{0, 1, 0, 0}, Metadata: vector.Metadata{"after": "backup"}}}); err != nil {
		t.Fatal(err)
	}
	s.Kill("vectord")
	damaged := bytes.Clone(backup)
	damaged[len(damaged)/2] ^= 0x40
	put := func(b []byte) {
		t.Helper()
		if _, err := objects.Put(ctx, badKey, bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(damaged)
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
	heldMsg := func(code int, body map[string]any) string {
		t.Helper()
		e, _ := body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != 502 || e["kind"] != "unavailable" || !strings.Contains(msg, badKey) {
			t.Fatalf("the held index: %d %v", code, body)
		}
		return msg
	}
	health := func(want string) map[string]any {
		t.Helper()
		var h map[string]any
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := http.Get(base + "/health")
			if err == nil {
				h = nil
				json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
				if resp.StatusCode == 200 && h["status"] == want {
					return h
				}
			}
			if time.Now().After(end) {
				t.Fatalf("health: want %s, have %v (%v)", want, h, err)
			}
		}
	}
	health("degraded")
	if msg := heldMsg(do("GET", vector.IndexesPath+"/bad", "")); !strings.Contains(msg, "in storage is damaged") || strings.Contains(msg, "trailing data") {
		t.Fatalf("held: %s", msg)
	}
	if v := metric(t, base, "lakehouse_vectord_unreadable_indexes"); v != 1 {
		t.Fatalf("lakehouse_vectord_unreadable_indexes = %v, want 1", v)
	}

	// A replacement that is damaged too: read once, still held with its
	// reason, its bytes not written over.
	still := append(bytes.Clone(backup), 0)
	put(still)
	time.Sleep(1100 * time.Millisecond) // past the last look
	if msg := heldMsg(do("GET", vector.IndexesPath+"/bad", "")); !strings.Contains(msg, "trailing data after the checksum") {
		t.Fatalf("held after a still-damaged replacement: %s", msg)
	}
	reads := metric(t, base, "lakehouse_vectord_held_reads_total")
	checks := metric(t, base, "lakehouse_vectord_held_checks_total")
	if reads != 1 {
		t.Fatalf("reads of the held object after one replacement: %v", reads)
	}
	// A hot loop against the still-broken index: no read of the object,
	// at most one look a second.
	start := time.Now()
	for i := 0; i < 300; i++ {
		switch i % 3 {
		case 0:
			heldMsg(do("GET", vector.IndexesPath+"/bad", ""))
		case 1:
			heldMsg(do("POST", vector.IndexesPath+"/bad/search", `{"vector":[1,0,0,0],"k":1}`))
		case 2:
			if code, list := do("GET", vector.IndexesPath, ""); code != 200 || len(list["unreadable"].([]any)) != 1 {
				t.Fatalf("list: %d %v", code, list)
			}
		}
	}
	elapsed := time.Since(start)
	if r := metric(t, base, "lakehouse_vectord_held_reads_total"); r != reads {
		t.Fatalf("a hot loop of 300 requests read the unchanged object %v more times", r-reads)
	}
	if n := metric(t, base, "lakehouse_vectord_held_checks_total") - checks; n > elapsed.Seconds()+1 {
		t.Fatalf("%v looks at the object in %v", n, elapsed)
	}
	rc, _, err = objects.Get(ctx, badKey, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, still) {
		t.Fatal("the held object was written over")
	}
	// The healthy index was served throughout.
	if res, err := c.Search(ctx, "good", vector.SearchRequest{Vector: []float32{1, 0}, K: 1}); err != nil || len(res) != 1 || res[0].ID != "g1" {
		t.Fatalf("the healthy index: %+v %v", res, err)
	}

	// The backup restored: the next request (past the last look) serves it.
	put(backup)
	time.Sleep(1100 * time.Millisecond)
	code, body := do("GET", vector.IndexesPath+"/bad", "")
	if code != 200 || body["count"] != float64(2) {
		t.Fatalf("GET of the restored index: %d %v", code, body)
	}
	res, err := c.Search(ctx, "bad", vector.SearchRequest{Vector: []float32{0, 1, 0, 0}, K: 1})
	if err != nil || len(res) != 1 || res[0].ID != "b2" || res[0].Metadata["after"] != "backup" {
		t.Fatalf("the write logged after the backup: %+v %v", res, err)
	}
	all, err := c.ListAll(ctx)
	if err != nil || len(all.Indexes) != 2 || all.Indexes[0].Name != "bad" || all.Indexes[1].Name != "good" || len(all.Unreadable) != 0 {
		t.Fatalf("list after the restore: %+v %v", all, err)
	}
	health("ok")
	if v := metric(t, base, "lakehouse_vectord_unreadable_indexes"); v != 0 {
		t.Fatalf("lakehouse_vectord_unreadable_indexes = %v, want 0", v)
	}
	if v := metric(t, base, "lakehouse_vectord_held_reloads_total"); v != 1 {
		t.Fatalf("lakehouse_vectord_held_reloads_total = %v, want 1", v)
	}
	if code, body := do("PUT", vector.IndexesPath+"/bad", `{"dims":4}`); code != 200 {
		t.Fatalf("PUT with the same params: %d %v", code, body)
	}
	if _, err := c.Upsert(ctx, "bad", []vector.Item{{ID: "b3", Vector: []float32{0, 0, 1, 0}}}); err != nil {
		t.Fatal(err)
	}
	s.Kill("vectord")
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	health("ok")
	for _, id := range []string{"b1", "b2", "b3"} {
		if _, err := c.GetItem(ctx, "bad", id); err != nil {
			t.Fatalf("bad/%s after a kill -9: %v", id, err)
		}
	}
	if _, err := c.GetItem(ctx, "good", "g1"); err != nil {
		t.Fatal(err)
	}
}
