package hnsw

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// buildWorkers builds an index from vecs with the given number of insert
// workers, in batches of 1000.
func buildWorkers(t testing.TB, p Params, vecs [][]float32, workers int) *Index {
	t.Helper()
	ix, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	ix.workers = workers
	items := make([]Item, len(vecs))
	for i, v := range vecs {
		items[i] = Item{ID: fmt.Sprintf("id%d", i), Vector: v}
	}
	for i := 0; i < len(items); i += 1000 {
		if err := ix.Upsert(items[i:min(i+1000, len(items))]); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

func uniform(n, d int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, d)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// checkGraph verifies the graph's structural invariants: every link points
// to another existing slot whose level reaches the layer, no list exceeds
// its maximum or repeats a slot, and the entry point is on the top layer.
func checkGraph(t testing.TB, ix *Index) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := len(ix.ids)
	if ix.entry != none && int(ix.levels[ix.entry]) != ix.maxLevel {
		t.Fatalf("entry %d on level %d, max level %d", ix.entry, ix.levels[ix.entry], ix.maxLevel)
	}
	for s := 0; s < n; s++ {
		if int(ix.levels[s]) > ix.maxLevel {
			t.Fatalf("slot %d level %d above max level %d", s, ix.levels[s], ix.maxLevel)
		}
		for l := 0; l <= int(ix.levels[s]); l++ {
			blk := ix.block(uint32(s), l)
			if int(blk[0]) > ix.maxLinks(l) {
				t.Fatalf("slot %d layer %d has %d links", s, l, blk[0])
			}
			seen := map[uint32]bool{}
			for _, x := range blk[1 : 1+blk[0]] {
				if int(x) >= n || int(x) == s || int(ix.levels[x]) < l || seen[x] {
					t.Fatalf("slot %d layer %d: bad link %d", s, l, x)
				}
				seen[x] = true
			}
		}
	}
	live := 0
	for s := 0; s < n; s++ {
		if ix.deleted[s] != (ix.ids[s] == "") {
			t.Fatalf("slot %d: deleted %v, id %q", s, ix.deleted[s], ix.ids[s])
		}
		if !ix.deleted[s] {
			live++
			if ix.byID[ix.ids[s]] != uint32(s) {
				t.Fatalf("slot %d: byID disagrees", s)
			}
		}
	}
	if live != len(ix.byID) || n-live != len(ix.free) {
		t.Fatalf("%d live, %d in byID, %d tombstones, %d free", live, len(ix.byID), n-live, len(ix.free))
	}
}

// TestParallelBuildRecall: linking a batch with several workers must not
// cost recall against a one-worker build of the same data (brute force is
// the ground truth; several seeds, clustered and uniform data). With
// LAKEHOUSE_HNSW_RECALL_N set it runs at that size with 100 dims and 300
// queries and logs both recalls (the figures in the report).
func TestParallelBuildRecall(t *testing.T) {
	n, d, nq, seeds := 4000, 32, 200, 3
	if s := os.Getenv("LAKEHOUSE_HNSW_RECALL_N"); s != "" {
		n, _ = strconv.Atoi(s)
		d, nq, seeds = 100, 300, 4
	}
	for _, kind := range []string{"clustered", "uniform"} {
		var seq, par float64
		for seed := uint64(1); seed <= uint64(seeds); seed++ {
			gen := clustered
			if kind == "uniform" {
				gen = uniform
			}
			vecs, queries := gen(n, d, seed*100), gen(nq, d, seed*100+1)
			p := Params{Dims: d, M: 16, EfConstruction: 100}
			a := buildWorkers(t, p, vecs, 1)
			b := buildWorkers(t, p, vecs, 4)
			checkGraph(t, b)
			ra, rb := recallAt(t, a, queries, 10, 64, nil), recallAt(t, b, queries, 10, 64, nil)
			t.Logf("%s seed %d: recall@10 ef 64: 1 worker %.4f, 4 workers %.4f", kind, seed, ra, rb)
			seq += ra
			par += rb
		}
		seq /= float64(seeds)
		par /= float64(seeds)
		t.Logf("%s n=%d dims=%d: mean recall@10 1 worker %.4f, 4 workers %.4f", kind, n, d, seq, par)
		if par < seq-0.01 {
			t.Errorf("%s: parallel build recall %.4f below sequential %.4f", kind, par, seq)
		}
	}
}

// TestParallelUpsertsMatchSequential: a sequence of batches that insert,
// re-upsert existing ids with new vectors (the slot is tombstoned and
// reused), update metadata only, and delete, applied with four workers
// while searches run, leaves the same ids in the same slots with the same
// levels, vectors and metadata as with one worker, and a valid graph.
// Searches during the run see only whole items. Run it with -race.
func TestParallelUpsertsMatchSequential(t *testing.T) {
	const dims = 16
	r := rand.New(rand.NewPCG(7, 7))
	type op struct {
		items []Item
		del   []string
	}
	var ops []op
	next := 0
	vec := func(v int) []float32 { // every component holds v: a search can check it
		x := make([]float32, dims)
		for j := range x {
			x[j] = float32(v) + float32(r.NormFloat64())*1e-3
		}
		return x
	}
	for b := 0; b < 12; b++ {
		var items []Item
		used := map[string]bool{}
		for i := 0; i < 150; i++ {
			var id string
			switch {
			case next == 0 || r.IntN(3) > 0:
				id = fmt.Sprintf("id%d", next)
				next++
			default:
				id = fmt.Sprintf("id%d", r.IntN(next))
			}
			if used[id] {
				continue
			}
			used[id] = true
			v := r.IntN(50)
			items = append(items, Item{ID: id, Vector: vec(v), Metadata: Metadata{"v": v}})
		}
		// metadata-only update of an item of an earlier batch
		if b > 0 {
			prev := ops[len(ops)-1].items[0]
			if !used[prev.ID] {
				items = append(items, Item{ID: prev.ID, Vector: prev.Vector, Metadata: Metadata{"v": prev.Metadata["v"], "again": true}})
			}
		}
		var del []string
		for i := 0; i < 20; i++ {
			del = append(del, fmt.Sprintf("id%d", r.IntN(next)))
		}
		ops = append(ops, op{items, del})
	}
	run := func(workers int, search bool) *Index {
		ix, _ := New(Params{Dims: dims, Metric: L2, M: 8, EfConstruction: 40})
		ix.workers = workers
		var stop atomic.Bool
		var wg sync.WaitGroup
		var bad atomic.Int64
		if search {
			for g := 0; g < 2; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						q := make([]float32, dims)
						for j := range q {
							q[j] = float32(i % 50)
						}
						var f Filter
						if i%4 == 0 {
							f = Filter{"v": float64(i % 50)}
						}
						res, err := ix.Search(q, 5, 32, f)
						if err != nil {
							bad.Add(1)
						}
						for _, r := range res {
							v := r.Metadata["v"].(float64)
							x := v - float64(i%50)
							if want := float64(dims) * x * x; r.Score < float32(want*0.9-0.1) || r.Score > float32(want*1.1+0.1) {
								bad.Add(1) // vector and metadata from different versions
							}
						}
					}
				}()
			}
		}
		for _, o := range ops {
			if err := ix.Upsert(o.items); err != nil {
				t.Fatal(err)
			}
			if _, err := ix.Delete(o.del); err != nil {
				t.Fatal(err)
			}
		}
		stop.Store(true)
		wg.Wait()
		if bad.Load() != 0 {
			t.Fatalf("%d inconsistent search results", bad.Load())
		}
		checkGraph(t, ix)
		return ix
	}
	a, b := run(1, false), run(4, true)
	if len(a.ids) != len(b.ids) || len(a.byID) != len(b.byID) || len(a.free) != len(b.free) {
		t.Fatalf("slots %d/%d, live %d/%d, free %d/%d", len(a.ids), len(b.ids), len(a.byID), len(b.byID), len(a.free), len(b.free))
	}
	for s := range a.ids {
		if a.ids[s] != b.ids[s] || a.levels[s] != b.levels[s] || a.deleted[s] != b.deleted[s] ||
			fmt.Sprint(a.meta[s]) != fmt.Sprint(b.meta[s]) || fmt.Sprint(a.vec(uint32(s))) != fmt.Sprint(b.vec(uint32(s))) {
			t.Fatalf("slot %d differs: %q/%q", s, a.ids[s], b.ids[s])
		}
	}
	for id := range b.byID {
		it, _ := b.Get(id)
		res, err := b.Search(it.Vector, 1, 64, nil)
		if err != nil || len(res) != 1 || res[0].Score > 1e-3 {
			t.Fatalf("live %s not found by its own vector: %+v %v", id, res, err)
		}
	}
}

// TestConcurrentParallelUpserts: two goroutines upserting batches into one
// index (each batch linked by several workers), a third deleting, two
// searching; the graph stays valid and every surviving item is found.
// Run it with -race.
func TestConcurrentParallelUpserts(t *testing.T) {
	const dims = 16
	ix, _ := New(Params{Dims: dims, M: 8, EfConstruction: 40})
	ix.workers = 3
	var wg, writers sync.WaitGroup
	var stop atomic.Bool
	for g := 0; g < 2; g++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			vecs := clustered(2000, dims, uint64(g+20))
			for b := 0; b < 2000; b += 200 {
				items := make([]Item, 0, 200)
				for i := b; i < b+200; i++ {
					items = append(items, Item{ID: fmt.Sprintf("g%d-%d", g, i%1200), Vector: vecs[i]})
				}
				if err := ix.Upsert(items); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if _, err := ix.Delete([]string{fmt.Sprintf("g%d-%d", i%2, (i*37)%1200)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qs := clustered(50, dims, uint64(g+30))
			for i := 0; !stop.Load(); i++ {
				if _, err := ix.Search(qs[i%len(qs)], 10, 40, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	wg.Wait()
	checkGraph(t, ix)
	if r := recallAt(t, ix, clustered(100, dims, 40), 10, 64, nil); r < 0.9 {
		t.Fatalf("recall after concurrent batches %.3f", r)
	}
}
