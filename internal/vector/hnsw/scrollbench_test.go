package hnsw

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchScrollIndex is an index of n items with random ids (2-d vectors, no
// links: the graph plays no part in a scroll), built as lhv1 loads one.
func benchScrollIndex(b *testing.B, n int) (*Index, []string) {
	b.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 9))
	bl, err := NewBuilder(Params{Dims: 2, M: 8, EfConstruction: 16, Metric: L2}.WithDefaults(), n, 0, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	vecs := make([]float32, 2*n)
	for i := range vecs {
		vecs[i] = float32(r.NormFloat64())
	}
	if err := bl.AddVectors(vecs); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%016x", r.Uint64())
		if err := bl.AddNode(ids[i], 0, false); err != nil {
			b.Fatal(err)
		}
	}
	ix, err := bl.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return ix, ids
}

// scrollSortAll is Scroll as it was before the id order (ADR-160's first
// form) on a page after a write: every live id collected and sorted under
// the read lock, then the page. For the benchmark's comparison only.
func scrollSortAll(ix *Index, after string, limit int) []Item {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ids := make([]string, 0, len(ix.byID))
	for id := range ix.byID {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, strings.Compare)
	i, found := slices.BinarySearch(ids, after)
	if found {
		i++
	}
	out := make([]Item, 0, min(limit, len(ids)-i))
	for ; i < len(ids) && len(out) < limit; i++ {
		s := ix.byID[ids[i]]
		out = append(out, Item{ID: ids[i], Metadata: ix.meta[s]})
	}
	return out
}

// BenchmarkScrollAfterWrite: one upsert of a new id, then one scroll page
// of 100 from a random id (then the id is deleted again, so the index
// keeps its size), at 100k and 1M items; "sortall" is the page as the old
// Scroll made it after a write, "order" as Scroll makes it now.
// scroll-ns/op is the page alone: the time the read lock is held. "first"
// is the first Scroll of an index (the order built; the read lock held
// only for the pass copying the ids, not the sort).
// go test -run '^$' -bench ScrollAfterWrite -benchtime=20x ./internal/vector/hnsw/
func BenchmarkScrollAfterWrite(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		ix, ids := benchScrollIndex(b, n)
		for _, mode := range []string{"sortall", "order", "first"} {
			b.Run(fmt.Sprintf("%s/n=%d", mode, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				if mode == "order" {
					ix.Scroll("", 1, nil, false) // built once, as by an index's first scroll
				}
				var scroll time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					id := fmt.Sprintf("doc-%016x", r.Uint64())
					if err := ix.Upsert([]Item{{ID: id, Vector: []float32{1, 2}}}); err != nil {
						b.Fatal(err)
					}
					after := ids[r.IntN(len(ids))]
					if mode == "first" {
						ix.mu.Lock()
						ix.order = nil
						ix.orderReady.Store(false)
						ix.mu.Unlock()
					}
					t0 := time.Now()
					var page []Item
					if mode == "sortall" {
						page = scrollSortAll(ix, after, 100)
					} else {
						var err error
						if page, _, err = ix.Scroll(after, 100, nil, false); err != nil {
							b.Fatal(err)
						}
					}
					scroll += time.Since(t0)
					if len(page) == 0 {
						b.Fatal("empty page")
					}
					if _, err := ix.Delete([]string{id}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(scroll.Nanoseconds())/float64(b.N), "scroll-ns/op")
			})
		}
	}
}
