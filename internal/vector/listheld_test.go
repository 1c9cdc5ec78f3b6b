package vector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/inproc"
)

// TestListHeldIndexesWithHungStoraged: GET /v1/vectors/indexes of a real
// vectord holding five indexes (damaged snapshots), its storaged behind a
// loopback proxy that stalls every HEAD. The list looked at each held
// index's object one after another, each look bounded by the HEAD's
// timeout: five of them added up (a Qdrant user expects listing
// collections to be fast whatever is broken). Now the looks run side by
// side (at most heldLookers) under one overall wait: the list answers well
// within the sum, and still lists every held index under unreadable.
func TestListHeldIndexesWithHungStoraged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	saved := heldHeadTimeout
	heldHeadTimeout = time.Second // copied into the Store by Start
	t.Cleanup(func() { heldHeadTimeout = saved })

	ctx := context.Background()
	cfg := storagetest.Config(t)
	cfg.Storaged.Socket = "off" // every request through the proxy
	objects, _ := storagetest.Start(t, cfg)
	dir := cfg.DataPath(cfg.Vectord.Dir, "vectord")
	names := []string{"h1", "h2", "h3", "h4", "h5"}
	s := openStore(t, objects, dir)
	for _, n := range names {
		if _, err := s.CreateIndex(ctx, n, CreateIndexRequest{Dims: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upsert(ctx, n, []Item{{ID: "a", Vector: []float32{1, 0}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(ctx); err != nil { // stored, the log truncated
		t.Fatal(err)
	}
	s.Close(ctx)
	for _, n := range names { // damaged: the log cannot rebuild them
		b := objectBytes(t, objects, snapshotKey(n))
		storagetest.MustPut(t, objects, snapshotKey(n), b[:len(b)-3])
	}

	var stall atomic.Bool
	release := make(chan struct{})
	target, _ := url.Parse(cfg.Storaged.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && stall.Load() {
			select { // hung: until the client gives up
			case <-r.Context().Done():
				return
			case <-release:
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(func() { close(release) }) // runs before proxy.Close
	cfg.Storaged.URL = proxy.URL
	inproc.Bind(t, cfg, "vectord")
	v, err := shared.Start(ctx, "vectord", cfg, New, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Shutdown(ctx) })

	list := func() (int, ListResponse) {
		t.Helper()
		resp, err := http.Get(v.URL() + "/v1/vectors/indexes")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var lr ListResponse
		if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, lr
	}
	heldNames := func(lr ListResponse) string {
		var got []string
		for _, u := range lr.Unreadable {
			got = append(got, u.Name)
		}
		sort.Strings(got)
		return fmt.Sprint(got)
	}
	if code, lr := list(); code != 200 || heldNames(lr) != fmt.Sprint(names) {
		t.Fatalf("before the stall: %d, unreadable %s; want 200, %v", code, heldNames(lr), names)
	}
	time.Sleep(heldRecheck + 100*time.Millisecond) // the next list looks again
	stall.Store(true)
	start := time.Now()
	code, lr := list()
	took := time.Since(start)
	if code != 200 || heldNames(lr) != fmt.Sprint(names) || len(lr.Indexes) != 0 {
		t.Fatalf("with storaged hung: %d, indexes %+v, unreadable %s; want 200, none, %v", code, lr.Indexes, heldNames(lr), names)
	}
	sum := time.Duration(len(names)) * heldHeadTimeout
	if took > heldListWait+time.Second { // well under sum
		t.Fatalf("with storaged hung the list took %v; its %d looks (%v each) added up (%v)", took, len(names), heldHeadTimeout, sum)
	}
	t.Logf("list with %d held indexes and a hung storaged: %v (looks one after another: %v)", len(names), took, sum)
}
