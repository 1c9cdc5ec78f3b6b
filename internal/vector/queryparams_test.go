package vector

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// TestUnknownQueryParams: no vectord route takes a query parameter (ADR-101);
// one is a 400 invalid naming it, with a hint for what a Qdrant user meant,
// before the body is read, and nothing is created, written, deleted or
// dropped. They were ignored: PUT .../new?metric=l2 created a cosine index,
// DELETE .../docs?wait=true dropped it, POST .../search?k=1 answered the
// default 10. An index vectord holds (ADR-095) refuses them the same way
// (not its 502, not a PUT's 409), and is still held afterwards. The typed
// Client sends nothing the routes refuse.
func TestUnknownQueryParams(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	s := openStore(t, objects, dir)
	for name, dims := range map[string]int{"docs": 2, "held": 8} {
		if _, err := s.CreateIndex(ctx, name, CreateIndexRequest{Dims: dims}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Upsert(ctx, "held", []Item{{ID: "h", Vector: []float32{1, 0, 0, 0, 0, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(ctx); err != nil { // stored, the log truncated behind it
		t.Fatal(err)
	}
	s.crash()
	damaged := objectBytes(t, objects, snapshotKey("held"))
	damaged[len(damaged)/2] ^= 0x10
	if _, err := objects.Put(ctx, snapshotKey("held"), bytes.NewReader(damaged), int64(len(damaged)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, objects, dir)
	t.Cleanup(func() { s.Close(context.Background()) })
	if _, err := s.Upsert(ctx, "docs", []Item{{ID: "a", Vector: []float32{1, 0}}, {ID: "q", Vector: []float32{0, 1}}}); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, s)(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	walPath := filepath.Join(dir, "vectord.wal")
	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(walPath)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	logged := walSize()
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	const none = "(this route takes: none)"
	const durable = "durable in vectord's write-ahead log"
	ix := IndexesPath + "/"
	for _, name := range []string{"docs", "held"} {
		t.Run(name, func(t *testing.T) {
			p := ix + name
			for _, tc := range []struct {
				method, path, body string
				want, hint         string
			}{
				{"GET", IndexesPath + "?limit=1", "", `unknown query parameter "limit" ` + none, ""},
				{"PUT", ix + "new?metric=l2", `{"dims":2}`, `unknown query parameter "metric" ` + none, "dims, metric, m and ef_construction are fields of the JSON body"},
				{"PUT", ix + "new?wait=true", `{"dims":2}`, `unknown query parameter "wait" ` + none, durable},
				{"PUT", p + "?wait=true", `{"dims":2}`, `unknown query parameter "wait" ` + none, durable},
				{"PUT", p + "?timeout=5", `{"dims":8}`, `unknown query parameter "timeout" ` + none, "set a deadline on your HTTP client"},
				{"GET", p + "?with_vectors=true", "", `unknown query parameter "with_vectors" ` + none, ""},
				{"DELETE", p + "?wait=true", "", `unknown query parameter "wait" ` + none, durable},
				{"DELETE", p + "?timeout=1&purge=false", "", `unknown query parameters "purge", "timeout" ` + none, "set a deadline on your HTTP client"},
				{"DELETE", p + "?a;b", "", "query string: ", ""},
				{"POST", p + "/upsert?wait=true", `{"items":[{"id":"b","vector":[0,1]}]}`, `unknown query parameter "wait" ` + none, durable},
				{"POST", p + "/upsert?ordering=strong", `{"items":[{"id":"b","vector":[0,1]}]}`, `unknown query parameter "ordering" ` + none, durable},
				{"POST", p + "/upsert?wait=true", `not JSON`, `unknown query parameter "wait" ` + none, `the items are the JSON body's "items"`},
				{"POST", p + "/delete?wait=true", `{"ids":["a"]}`, `unknown query parameter "wait" ` + none, durable},
				{"POST", p + "/delete?id=a", `{"ids":["a"]}`, `unknown query parameter "id" ` + none, `the ids are the JSON body's "ids"`},
				{"POST", p + "/search?timeout=2", `{"vector":[1,0]}`, `unknown query parameter "timeout" ` + none, "vector, k, ef, filter and score_threshold are fields of the JSON body"},
				{"POST", p + "/search?k=1", `{"vector":[1,0]}`, `unknown query parameter "k" ` + none, "vector, k, ef, filter and score_threshold are fields of the JSON body"},
				{"POST", p + "/search?consistency=all", `{"vector":[1,0]}`, `unknown query parameter "consistency" ` + none, "every read sees every acknowledged write"},
				{"GET", p + "/items/a?consistency=all", "", `unknown query parameter "consistency" ` + none, "every read sees every acknowledged write"},
				{"GET", p + "/items/q?x", "", `unknown query parameter "x" ` + none, "a '?' in an id is sent as %3F"},
				{"GET", p + "/items/a?with_payload=true&with_payload=false", "", `unknown query parameter "with_payload" ` + none, ""},
			} {
				code, b := do(tc.method, tc.path, tc.body)
				var e errs.Body
				json.Unmarshal(b, &e)
				if code != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) || !strings.Contains(e.Error.Message, tc.hint) {
					t.Errorf("%s %s: %d %s, want a 400 saying %q and %q", tc.method, tc.path, code, b, tc.want, tc.hint)
				}
			}
		})
	}

	// Nothing was logged, created, written, deleted or dropped; held is
	// still held, its damaged object as it was.
	if n := walSize(); n != logged {
		t.Errorf("refused requests wrote %d bytes to the log", n-logged)
	}
	res, err := s.ListAll(ctx)
	if err != nil || len(res.Indexes) != 1 || res.Indexes[0].Name != "docs" || res.Indexes[0].Count != 2 ||
		len(res.Unreadable) != 1 || res.Unreadable[0].Name != "held" {
		t.Fatalf("indexes after the refused requests: %+v %v", res, err)
	}
	if info, _ := s.GetIndex(ctx, "docs"); info.Params.Metric != "cosine" {
		t.Fatalf("docs: %+v", info)
	}
	for _, id := range []string{"a", "q"} {
		if _, err := s.GetItem(ctx, "docs", id); err != nil {
			t.Fatalf("item %s after the refused requests: %v", id, err)
		}
	}
	if _, err := s.GetItem(ctx, "docs", "b"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("item b written by a refused upsert: %v", err)
	}
	if b := objectBytes(t, objects, snapshotKey("held")); !bytes.Equal(b, damaged) {
		t.Fatal("the held index's object changed")
	}
	// A query with no parameter in it is no parameter; a held index
	// answers its own error without one.
	for _, path := range []string{IndexesPath + "?", ix + "docs?&", ix + "docs/items/a?"} {
		if code, b := do("GET", path, ""); code != 200 {
			t.Errorf("GET %s: %d %s", path, code, b)
		}
	}
	if code, b := do("GET", ix+"held", ""); code != 502 {
		t.Errorf("GET the held index: %d %s, want its 502", code, b)
	}

	// The typed client sends nothing the routes refuse.
	c := NewClient(&shared.Client{Service: "vectord", Base: srv.URL, HTTP: shared.NewHTTPClient(10 * time.Second)})
	if _, err := c.CreateIndex(ctx, "new", CreateIndexRequest{Dims: 2, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetIndex(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Upsert(ctx, "new", []Item{{ID: "x?y", Vector: []float32{1, 0}}}); err != nil || n != 1 {
		t.Fatalf("client Upsert: %d %v", n, err)
	}
	if res, err := c.Search(ctx, "new", SearchRequest{Vector: []float32{1, 0}, K: 1}); err != nil || len(res) != 1 || res[0].ID != "x?y" {
		t.Fatalf("client Search: %+v %v", res, err)
	}
	if it, err := c.GetItem(ctx, "new", "x?y"); err != nil || it.ID != "x?y" {
		t.Fatalf("client GetItem: %+v %v", it, err)
	}
	if n, err := c.Delete(ctx, "new", []string{"x?y"}); err != nil || n != 1 {
		t.Fatalf("client Delete: %d %v", n, err)
	}
	if all, err := c.ListAll(ctx); err != nil || len(all.Indexes) != 2 || len(all.Unreadable) != 1 {
		t.Fatalf("client ListAll: %+v %v", all, err)
	}
	if ls, err := c.ListIndexes(ctx); err != nil || len(ls) != 2 {
		t.Fatalf("client ListIndexes: %+v %v", ls, err)
	}
	for _, name := range []string{"new", "held"} {
		if err := c.DeleteIndex(ctx, name); err != nil {
			t.Fatalf("client DeleteIndex(%s): %v", name, err)
		}
	}
}
