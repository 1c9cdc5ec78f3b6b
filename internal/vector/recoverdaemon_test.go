package vector_test

import (
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

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector"
)

// TestRecoverDamagedLogRecordDaemon: a real vectord whose write-ahead log
// has one flipped byte in a record in its middle (made on the file while
// it is down) held the index and offered only DELETE, which threw away
// every acknowledged write of it. Now the index's GET and /health name the
// log file, the byte offset and the way out; POST .../recover without
// accept_loss is a 400 that changes nothing; with it the index is served
// with every intact write (before and after the damage) and the answer
// says one record was lost; a kill -9 and a restart serve it again, held
// nowhere.
func TestRecoverDamagedLogRecordDaemon(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"1h\"")
	ctx := context.Background()
	c := client(s)
	base := s.URL("vectord")
	if _, err := c.CreateIndex(ctx, "docs", vector.CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	up := func(id string, v []float32) {
		t.Helper()
		if _, err := c.Upsert(ctx, "docs", []vector.Item{{ID: id, Vector: v, Metadata: vector.Metadata{"id": id}}}); err != nil {
			t.Fatal(err)
		}
	}
	up("before", []float32{1, 0})
	up("damaged", []float32{0, 1}) // the record to damage (third in the log)
	up("after", []float32{1, 1})
	if _, err := c.Delete(ctx, "docs", []string{"before"}); err != nil {
		t.Fatal(err)
	}
	up("before", []float32{1, 0.5}) // re-upserted after the damage
	s.Kill("vectord")
	var walPath string
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "vectord.wal" {
			walPath = p
		}
		return nil
	})
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	// Find the third frame: header, then length-prefixed frames.
	off := 24
	for range 2 {
		off += 8 + int(uint32(b[off])|uint32(b[off+1])<<8|uint32(b[off+2])<<16|uint32(b[off+3])<<24)
	}
	damagedAt := off
	b[off+8+12] ^= 0x40
	if err := os.WriteFile(walPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	get := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	var health map[string]any
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(end) {
			t.Fatalf("vectord did not come up: %v\n%s", err, s.Logs())
		}
	}
	where := "byte " + strconv.Itoa(damagedAt) + ", sequence 3"
	if msg, _ := health["error"].(string); health["status"] != "degraded" || !strings.Contains(msg, where) || !strings.Contains(msg, "vectord.wal") || strings.Contains(msg, walPath) || !strings.Contains(msg, "/recover") {
		t.Fatalf("health: %v", health)
	}
	code, body := get("GET", vector.IndexesPath+"/docs", "")
	if code != 503 || !strings.Contains(body, `"kind":"unavailable"`) || !strings.Contains(body, where) || !strings.Contains(body, "vectord.wal") || strings.Contains(body, walPath) ||
		!strings.Contains(body, `POST {\"accept_loss\":true} to /v1/vectors/indexes/docs/recover`) {
		t.Fatalf("GET of the held index: %d %s", code, body)
	}
	for _, bad := range []string{`{}`, `{"accept_loss":false}`, `{"accept_loss":"yes"}`, `{"accept":true}`, ``} {
		if code, body := get("POST", vector.IndexesPath+"/docs/recover", bad); code != 400 || !strings.Contains(body, `"kind":"invalid"`) {
			t.Fatalf("recover with %q: %d %s", bad, code, body)
		}
	}
	if code, body := get("POST", vector.IndexesPath+"/docs/recover?accept_loss=true", `{"accept_loss":true}`); code != 400 || !strings.Contains(body, "accept_loss is a field of the JSON body") {
		t.Fatalf("recover with a query parameter: %d %s", code, body)
	}
	if code, _ := get("GET", vector.IndexesPath+"/docs", ""); code != 503 {
		t.Fatalf("the refused recovers changed the hold: %d", code)
	}
	res, err := c.Recover(ctx, "docs", vector.RecoverRequest{AcceptLoss: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || res.LostRecords != 1 || len(res.Damaged) != 1 || res.Damaged[0].Offset != int64(damagedAt) || res.Log != "vectord.wal" {
		t.Fatalf("recover: %+v", res)
	}
	check := func(when string) {
		t.Helper()
		for id, want := range map[string]bool{"before": true, "after": true, "damaged": false} {
			it, err := c.GetItem(ctx, "docs", id)
			if want && (err != nil || it.Metadata["id"] != id || id == "before" && it.Vector[1] == 0) {
				t.Fatalf("%s: %s: %+v %v", when, id, it, err)
			}
			if !want && !errs.Is(err, errs.NotFound) {
				t.Fatalf("%s: %s: %v", when, id, err)
			}
		}
		all, err := c.ListAll(ctx)
		if err != nil || len(all.Indexes) != 1 || len(all.Unreadable) != 0 {
			t.Fatalf("%s: list: %+v %v", when, all, err)
		}
	}
	check("after recover")
	if _, body := get("GET", "/metrics", ""); !strings.Contains(body, "lakehouse_vectord_recovered_indexes_total 1\n") ||
		!strings.Contains(body, "lakehouse_vectord_recover_lost_records_total 1\n") {
		t.Fatalf("metrics after a recover:\n%s", body)
	}
	if _, err := s.WaitHealthy(5 * time.Second); err != nil {
		t.Fatalf("health after recover: %v", err)
	}
	up("later", []float32{0.5, 1})
	s.Kill("vectord")
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatalf("after kill -9 the recovered index is held again: %v", err)
	}
	check("after kill -9")
	if _, err := c.GetItem(ctx, "docs", "later"); err != nil {
		t.Fatal(err)
	}
	if code, body := get("POST", vector.IndexesPath+"/docs/recover", `{"accept_loss":true}`); code != 409 {
		t.Fatalf("recover of a served index: %d %s", code, body)
	}
}
