package vector_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector"
)

// TestDropUnderTrafficThenKill9: a real vectord drops an index while
// searches and upserts on it run: every answer is 200 or 404 not_found
// (never a 5xx), everything after the drop answers 404, the name is
// re-created with other params, and after kill -9 and a restart the new
// index is there with its item — not the old one, not the dropped items.
func TestDropUnderTrafficThenKill9(t *testing.T) {
	s := startVectord(t, "snapshot_interval = \"200ms\"\nsnapshot_ops = 50")
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "d", vector.CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	vec := func(i int) []float32 { return []float32{1, float32(i % 7), float32(i % 11), 0.5} }
	for i := 0; i < 200; i += 50 {
		batch := make([]vector.Item, 50)
		for j := range batch {
			batch[j] = vector.Item{ID: fmt.Sprint("old-", i+j), Vector: vec(i + j)}
		}
		if _, err := c.Upsert(ctx, "d", batch); err != nil {
			t.Fatal(err)
		}
	}
	var bad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	check := func(err error) {
		// 200 before the drop, 404 after it; requests that start after
		// the drop has answered are checked one by one below.
		if err != nil && !errs.Is(err, errs.NotFound) {
			bad.Store(err)
		}
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if w%2 == 0 {
					_, err := c.Search(ctx, "d", vector.SearchRequest{Vector: vec(i), K: 5})
					check(err)
				} else {
					_, err := c.Upsert(ctx, "d", []vector.Item{{ID: fmt.Sprint("w", w, "-", i), Vector: vec(i)}})
					check(err)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.DeleteIndex(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	// Every request that starts after the drop answered is a 404.
	if _, err := c.GetIndex(ctx, "d"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("GET of the dropped index: %v", err)
	}
	if _, err := c.Upsert(ctx, "d", []vector.Item{{ID: "late", Vector: vec(1)}}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("upsert after the drop: %v", err)
	}
	if _, err := c.Search(ctx, "d", vector.SearchRequest{Vector: vec(1)}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("search after the drop: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err, _ := bad.Load().(error); err != nil {
		t.Fatalf("an answer during the drop: %v", err)
	}
	if _, err := c.CreateIndex(ctx, "d", vector.CreateIndexRequest{Dims: 8, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "d", []vector.Item{{ID: "new", Vector: []float32{1, 2, 3, 4, 5, 6, 7, 8}}}); err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // once right after the writes, once after snapshots
		if round == 1 {
			time.Sleep(time.Second)
		}
		s.Kill("vectord")
		if err := s.StartDaemon("vectord"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitHealthy(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		info, err := c.GetIndex(ctx, "d")
		if err != nil || info.Count != 1 || info.Params.Dims != 8 || info.Params.Metric != "l2" {
			t.Fatalf("round %d: the re-created index after kill -9: %+v %v", round, info, err)
		}
		if _, err := c.GetItem(ctx, "d", "old-3"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("round %d: a dropped item came back: %v", round, err)
		}
	}
}
