package vector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/suite"
	"lakehouse-go/internal/vector"
)

// outageItems are n items of 4 dims with metadata n, from id "o<from>".
func outageItems(from, n int) []vector.Item {
	out := make([]vector.Item, n)
	for i := range out {
		k := from + i
		out[i] = vector.Item{ID: fmt.Sprint("o", k), Vector: []float32{float32(k), 1, float32(k % 7), 2}, Metadata: vector.Metadata{"n": float64(k)}}
	}
	return out
}

// waitHealth polls vectord's /health until it answers 200 with status
// (ok, or degraded with an error naming want), and fails t if it does not
// within timeout (the old vectord did not serve at all while storage was
// down, and exited after 30 s).
func waitHealth(t *testing.T, s *suite.Suite, status, want string, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		resp, err := c.Get(s.URL("vectord") + "/health")
		if err == nil {
			var h shared.Health
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			last = fmt.Sprintf("%d %+v", resp.StatusCode, h)
			if resp.StatusCode == 200 && h.Service == "vectord" && h.Status == status && strings.Contains(h.Error, want) {
				t.Logf("vectord /health %s %v after: %s", status, time.Since(start).Round(time.Millisecond), h.Error)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("vectord /health not %s (naming %q) within %v: last %s", status, want, timeout, last)
}

// rawVectord sends one request to vectord and returns the status and body.
func rawVectord(t *testing.T, s *suite.Suite, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL("vectord")+vector.IndexesPath+path, strings.NewReader(body))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkUnavailable: every index route answers 503 with DESIGN.md's error
// body, kind unavailable, naming what is down (want) — never a 404, an
// empty list or empty results for indexes it has not read, and no write
// is acknowledged.
func checkUnavailable(t *testing.T, s *suite.Suite, want string) {
	t.Helper()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "", ""},
		{"GET", "/keep", ""},
		{"POST", "/keep/search", `{"vector":[1,1,0,2],"k":3}`},
		{"GET", "/keep/items/o1", ""},
		{"PUT", "/keep", `{"dims":4,"metric":"l2"}`},
		{"PUT", "/fresh", `{"dims":4}`},
		{"POST", "/keep/upsert", `{"items":[{"id":"lost","vector":[1,1,1,1]}]}`},
		{"POST", "/keep/delete", `{"ids":["o1"]}`},
		{"DELETE", "/keep", ""},
		{"POST", "/nope/search", `{"vector":[1,1,0,2]}`},
	} {
		code, body := rawVectord(t, s, r.method, r.path, r.body)
		var eb errs.Body
		if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &eb) != nil || eb.Error.Kind != errs.Unavailable ||
			!strings.Contains(eb.Error.Message, want) || !strings.Contains(eb.Error.Message, "not loaded") {
			t.Fatalf("%s %s with storage down: %d %s; want 503 unavailable naming %q", r.method, r.path, code, body, want)
		}
		if r.path == "" {
			t.Logf("GET %s: %d %s", vector.IndexesPath, code, body)
		}
	}
}

// waitLoaded polls a search on index keep until it answers 200 (the
// background load succeeded), failing t after timeout.
func waitLoaded(t *testing.T, s *suite.Suite, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	var code int
	var body string
	for time.Since(start) < timeout {
		code, body = rawVectord(t, s, "GET", "", "")
		if code == 200 {
			t.Logf("indexes loaded %v after the store came back", time.Since(start).Round(time.Millisecond))
			return
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("list while loading: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not loaded %v after the store came back: %d %s", timeout, code, body)
}

// checkKeep: index keep holds exactly the acknowledged writes (o1..o<n-1>,
// o0 deleted), dropped index gone stayed dropped, a create with the same
// params does not clobber keep, and new writes work.
func checkKeep(t *testing.T, c *vector.Client, n int) {
	t.Helper()
	ctx := context.Background()
	list, err := c.ListIndexes(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "keep" || list[0].Count != n-1 {
		t.Fatalf("indexes after the load: %+v %v", list, err)
	}
	for _, it := range outageItems(1, n-1) {
		got, err := c.GetItem(ctx, "keep", it.ID)
		if err != nil || got.Metadata["n"] != it.Metadata["n"] {
			t.Fatalf("acknowledged %s: %+v %v", it.ID, got, err)
		}
	}
	if _, err := c.GetItem(ctx, "keep", "o0"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("acknowledged delete of o0 undone: %v", err)
	}
	probe := outageItems(n/2, 1)[0]
	res, err := c.Search(ctx, "keep", vector.SearchRequest{Vector: probe.Vector, K: 1})
	if err != nil || len(res) != 1 || res[0].ID != probe.ID {
		t.Fatalf("search for %s: %+v %v", probe.ID, res, err)
	}
	info, err := c.CreateIndex(ctx, "keep", vector.CreateIndexRequest{Dims: 4, Metric: "l2"})
	if err != nil || info.Count != n-1 {
		t.Fatalf("create of the loaded index: %+v %v", info, err)
	}
	if _, err := c.Upsert(ctx, "keep", []vector.Item{{ID: "after", Vector: []float32{1, 2, 3, 4}}}); err != nil {
		t.Fatal(err)
	}
}

// fillKeep creates index keep with n acknowledged items, part of them in a
// stored snapshot and part in the log only, deletes o0, and creates and
// drops index gone.
func fillKeep(t *testing.T, c *vector.Client, n int, snapshotted func() bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateIndex(ctx, "keep", vector.CreateIndexRequest{Dims: 4, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "keep", outageItems(0, n/2)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !snapshotted() {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot of keep stored")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Upsert(ctx, "keep", outageItems(n/2, n-n/2)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "keep", []string{"o0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateIndex(ctx, "gone", vector.CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteIndex(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
}

// TestStartWithStoragedDown: a real vectord started while storaged is down
// stays up, serves /health, answers every index request 503 naming
// storaged (no index served empty, no create over a stored index, no
// write acknowledged), and loads on its own — snapshot plus log — once
// storaged is started, without a restart. Before, it served nothing and
// exited after 30 s.
func TestStartWithStoragedDown(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"200ms\"")
	c := client(s)
	objects := storage.NewClient(&shared.Client{Service: "storaged", Base: s.URL("storaged"), HTTP: shared.NewHTTPClient(30 * time.Second)})
	const n = 60
	fillKeep(t, c, n, func() bool {
		_, err := objects.Head(context.Background(), vector.SnapshotPrefix+"keep/index.lhv1")
		return err == nil
	})
	s.Kill("vectord")
	s.Kill("storaged")
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, "degraded", "storaged", 15*time.Second)
	checkUnavailable(t, s, "storaged")
	time.Sleep(time.Second) // still up, still refusing, retrying
	checkUnavailable(t, s, "storaged")
	if err := s.StartDaemon("storaged"); err != nil {
		t.Fatal(err)
	}
	waitLoaded(t, s, 20*time.Second)
	waitHealth(t, s, "ok", "", 10*time.Second)
	checkKeep(t, c, n)
}

// TestStartWithMinIODown: the same on the s3 backend against a real MinIO:
// first the bucket is missing (503 naming it; vectord becomes ready with no
// indexes once the bucket exists), then MinIO is stopped across a vectord
// restart (503; loaded once MinIO is back). Skipped without a MinIO binary
// unless LH_REQUIRE_MINIO=1.
func TestStartWithMinIODown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	m := miniotest.Start(t, "") // no bucket yet
	const bucket = "vectord-outage"
	s := suite.Start(t, suite.Options{Daemons: []string{"storaged", "vectord"},
		Settings:  map[string]string{"storaged": `backend = "s3"`, "vectord": "snapshot_interval = \"200ms\""},
		ExtraTOML: fmt.Sprintf("[s3]\nendpoint = %q\nbucket = %q\nsecrets_path = %q\n", m.Endpoint(), bucket, m.WriteSecrets(t))})
	waitHealth(t, s, "degraded", bucket, 15*time.Second)
	checkUnavailable(t, s, bucket)
	mc := m.Client(t)
	if err := mc.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLoaded(t, s, 20*time.Second)
	waitHealth(t, s, "ok", "", 10*time.Second)
	c := client(s)
	if list, err := c.ListIndexes(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("indexes of an empty bucket: %+v %v", list, err)
	}
	const n = 60
	fillKeep(t, c, n, func() bool {
		_, err := mc.StatObject(context.Background(), bucket, vector.SnapshotPrefix+"keep/index.lhv1", minio.StatObjectOptions{})
		return err == nil
	})
	s.Kill("vectord")
	m.Stop()
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, "degraded", m.Endpoint(), 30*time.Second)
	checkUnavailable(t, s, m.Endpoint())
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	waitLoaded(t, s, 40*time.Second)
	waitHealth(t, s, "ok", "", 10*time.Second)
	checkKeep(t, c, n)
}
