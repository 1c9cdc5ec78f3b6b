package vector_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/vector"
)

// TestScrollStableUnderWrites: a real storaged and vectord; while the
// typed client walks an index in pages of 37 (GET .../items), four
// writers upsert and delete transient items whose ids interleave with
// the stable ones and re-upsert stable items with new vectors and
// metadata. Every stable item (live for the whole walk) comes exactly
// once, ids strictly increase across the walk, and a transient item is
// never returned twice. Then kill -9 and a restart: a whole scroll with a
// range filter is every acknowledged stable item that passes it, once.
func TestScrollStableUnderWrites(t *testing.T) {
	t0 := time.Now()
	s := startVectord(t, "")
	t.Logf("started in %v", time.Since(t0))
	ctx := context.Background()
	c := client(s)
	if _, err := c.CreateIndex(ctx, "walk", vector.CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	const stable = 3000
	vec := func(r *rand.Rand) []float32 {
		return []float32{r.Float32() + 0.1, r.Float32(), r.Float32(), r.Float32()}
	}
	r0 := rand.New(rand.NewPCG(1, 1))
	var its []vector.Item
	for i := range stable {
		its = append(its, vector.Item{ID: fmt.Sprintf("s%05d", i), Vector: vec(r0), Metadata: vector.Metadata{"n": float64(i)}})
	}
	if _, err := c.Upsert(ctx, "walk", its); err != nil {
		t.Fatal(err)
	}
	for walk := range 3 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var writes atomic.Int64
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(walk), uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					// Transient ids sort between stable ones: "s01234x..".
					var batch []vector.Item
					var ids []string
					for range 20 {
						id := fmt.Sprintf("s%05dx%d", r.IntN(stable), r.IntN(1000))
						if !slices.Contains(ids, id) {
							ids = append(ids, id)
							batch = append(batch, vector.Item{ID: id, Vector: vec(r)})
						}
					}
					i := r.IntN(stable)
					batch = append(batch, vector.Item{ID: fmt.Sprintf("s%05d", i), Vector: vec(r), Metadata: vector.Metadata{"n": float64(i), "w": float64(w)}})
					if _, err := c.Upsert(ctx, "walk", batch); err != nil {
						t.Error(err)
						return
					}
					if _, err := c.Delete(ctx, "walk", ids[:len(ids)/2]); err != nil {
						t.Error(err)
						return
					}
					writes.Add(1)
				}
			}()
		}
		seen := map[string]int{}
		last, pages := "", 0
		for after := ""; ; {
			p, err := c.Scroll(ctx, "walk", vector.ScrollRequest{After: after, Limit: 37})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, it := range p.Items {
				if it.ID <= last {
					t.Fatalf("walk %d: %q after %q", walk, it.ID, last)
				}
				last = it.ID
				seen[it.ID]++
			}
			if p.Next == nil {
				break
			}
			if *p.Next != last {
				t.Fatalf("next %q, last item %q", *p.Next, last)
			}
			after = *p.Next
			time.Sleep(5 * time.Millisecond) // let writes land between pages
		}
		close(stop)
		wg.Wait()
		for i := range stable {
			if id := fmt.Sprintf("s%05d", i); seen[id] != 1 {
				t.Fatalf("walk %d: stable %s returned %d times", walk, id, seen[id])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("walk %d: %s returned %d times", walk, id, n)
			}
		}
		t.Logf("walk %d: %d pages, %d items, %d write rounds meanwhile", walk, pages, len(seen), writes.Load())
		if writes.Load() < 5 {
			t.Fatalf("walk %d: only %d write rounds ran during the walk", walk, writes.Load())
		}
	}
	t.Logf("walks done at %v", time.Since(t0))
	s.Kill("vectord")
	if err := s.StartDaemon("vectord"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted at %v", time.Since(t0))
	var got []string
	for after := ""; ; {
		p, err := c.Scroll(ctx, "walk", vector.ScrollRequest{After: after, Limit: 1000, Filter: vector.Filter{"n": vector.Range{Gte: ptr(1000.0), Lt: ptr(2000.0)}}, WithVector: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			if len(it.Vector) != 4 || it.Metadata["n"].(float64) < 1000 || it.Metadata["n"].(float64) >= 2000 {
				t.Fatalf("after restart: %+v", it)
			}
			got = append(got, it.ID)
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if len(got) != 1000 || got[0] != "s01000" || got[999] != "s01999" {
		t.Fatalf("after kill -9: %d items %v..%v", len(got), got[:min(1, len(got))], got[max(0, len(got)-1):])
	}
}

func ptr[T any](v T) *T { return &v }
