package hnsw

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// sameState reports the first difference between two snapshots in what an
// encoder reads (lhv1 encodes nothing else), or "".
func sameState(a, b *Snapshot) string {
	if a.Params() != b.Params() {
		return fmt.Sprintf("params %+v vs %+v", a.Params(), b.Params())
	}
	if a.Slots() != b.Slots() || a.Live() != b.Live() || a.MaxLevel() != b.MaxLevel() || a.Seq() != b.Seq() {
		return fmt.Sprintf("slots %d/%d live %d/%d max level %d/%d seq %d/%d", a.Slots(), b.Slots(), a.Live(), b.Live(),
			a.MaxLevel(), b.MaxLevel(), a.Seq(), b.Seq())
	}
	ea, oka := a.Entry()
	eb, okb := b.Entry()
	if ea != eb || oka != okb {
		return fmt.Sprintf("entry %d/%d", ea, eb)
	}
	if !slices.Equal(a.Vectors(), b.Vectors()) {
		return "vectors differ"
	}
	for i := range a.Slots() {
		if a.ID(i) != b.ID(i) || a.Deleted(i) != b.Deleted(i) || a.Level(i) != b.Level(i) {
			return fmt.Sprintf("slot %d: id %q/%q deleted %v/%v level %d/%d", i, a.ID(i), b.ID(i), a.Deleted(i), b.Deleted(i), a.Level(i), b.Level(i))
		}
		if !reflect.DeepEqual(a.Metadata(i), b.Metadata(i)) {
			return fmt.Sprintf("slot %d metadata %v/%v", i, a.Metadata(i), b.Metadata(i))
		}
		for l := 0; l <= a.Level(i); l++ {
			if !slices.Equal(a.Links(i, l), b.Links(i, l)) {
				return fmt.Sprintf("slot %d layer %d links %v/%v", i, l, a.Links(i, l), b.Links(i, l))
			}
		}
	}
	return ""
}

// writes makes one round of every kind of change: new items (appended
// slots), a new vector for an old id (its slot tombstoned and reused, the
// neighbours' links changed), a metadata-only change, a delete.
func writes(t testing.TB, ix *Index, r *rand.Rand, round, slots int) {
	t.Helper()
	vecs := clustered(3, 16, uint64(1000+round))
	old := fmt.Sprintf("id%d", r.IntN(slots))
	if err := ix.Upsert([]Item{
		{ID: fmt.Sprintf("new%d", round), Vector: vecs[0], Metadata: Metadata{"round": float64(round)}},
		{ID: old, Vector: vecs[1]},
		{ID: fmt.Sprintf("new%d", round+100_000), Vector: vecs[2]},
	}); err != nil {
		t.Fatal(err)
	}
	if it, ok := ix.Get(fmt.Sprintf("id%d", r.IntN(slots))); ok {
		it.Metadata = Metadata{"changed": float64(round)}
		if err := ix.Upsert([]Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ix.Delete([]string{fmt.Sprintf("id%d", r.IntN(slots))}); err != nil {
		t.Fatal(err)
	}
	ix.SetSeq(uint64(round))
}

// TestCopyWithWritesBetweenSteps: Copy's snapshot is the index as it is at
// its last step, though every kind of change is made between its steps
// (each step copies a chunk under the read lock; the writes run with no
// lock held, as a writer between two chunks does) and in hold: the
// changed slots are copied again, the added ones copied, entry and seq
// read at the end. Without the copy of the changed slots it holds links,
// vectors and ids from before the changes.
func TestCopyWithWritesBetweenSteps(t *testing.T) {
	const n = 3000
	ix := build(t, Params{Dims: 16, Metric: L2, M: 8, EfConstruction: 40}, clustered(n, 16, 7), func(i int) Metadata {
		return Metadata{"i": float64(i)}
	})
	if _, err := ix.Delete([]string{"id5", "id77"}); err != nil {
		t.Fatal(err)
	}
	oldChunk := copyChunk
	copyChunk = 200
	r := rand.New(rand.NewPCG(7, 135))
	round := 0
	copyStepHook = func() { round++; writes(t, ix, r, round, n) }
	defer func() { copyChunk, copyStepHook = oldChunk, nil }()
	snap := ix.Copy(func() { round++; writes(t, ix, r, round, n) })
	copyStepHook = nil
	if round < n/200 {
		t.Fatalf("Copy took %d steps; want at least %d", round, n/200)
	}
	var diff string
	if err := ix.Export(func(s *Snapshot) error { diff = sameState(snap, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("the copy differs from the index at its last step (%d rounds of writes during it): %s", round, diff)
	}
	// A change after Copy returned is not in it.
	writes(t, ix, r, round+1, n)
	if err := ix.Export(func(s *Snapshot) error { diff = sameState(snap, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff == "" {
		t.Fatal("a write after Copy returned changed the copy")
	}
}

// TestCopyUnderConcurrentWrites: four writers change the index all the
// while Copy runs (run it with -race); they take a lock of their own per
// change, as vectord's writer lock, and hold takes it: the copy equals the
// index under that lock, right after Copy returns.
func TestCopyUnderConcurrentWrites(t *testing.T) {
	const n = 2000
	ix := build(t, Params{Dims: 16, Metric: Cosine, M: 8, EfConstruction: 40}, clustered(n, 16, 9), nil)
	oldChunk := copyChunk
	copyChunk = 64
	defer func() { copyChunk = oldChunk }()
	var wmu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(11, uint64(w)))
			for round := w * 1_000_000; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				wmu.Lock()
				writes(t, ix, r, round, n)
				wmu.Unlock()
			}
		}()
	}
	for range 5 {
		snap := ix.Copy(wmu.Lock)
		var diff string
		ix.Export(func(s *Snapshot) error { diff = sameState(snap, s); return nil })
		wmu.Unlock()
		if diff != "" {
			close(stop)
			wg.Wait()
			t.Fatalf("the copy differs from the index under the writers' lock: %s", diff)
		}
	}
	close(stop)
	wg.Wait()
}

// TestCopyGrowsOutsideTheLock: writers add more slots while Copy runs than
// its first allocation holds; the copy grows with no lock held, never in
// copySlots under the index's lock, where a GC assist or a slab copy held
// every writer (ADR-143), and is still the index's state at its last step.
func TestCopyGrowsOutsideTheLock(t *testing.T) {
	const n = 3000
	ix := build(t, Params{Dims: 16, Metric: L2, M: 8, EfConstruction: 40}, clustered(n, 16, 11), nil)
	oldChunk := copyChunk
	copyChunk = 500
	grewLocked := 0
	copyLockedGrowHook = func() { grewLocked++ }
	r := rand.New(rand.NewPCG(7, 143))
	round := 0
	copyStepHook = func() {
		round++
		if round == 2 {
			// more than the copy's headroom at once
			vecs := clustered(2000, 16, 143)
			items := make([]Item, len(vecs))
			for i, v := range vecs {
				items[i] = Item{ID: fmt.Sprintf("burst%d", i), Vector: v}
			}
			if err := ix.Upsert(items); err != nil {
				t.Fatal(err)
			}
		}
		writes(t, ix, r, round, n)
	}
	defer func() { copyChunk, copyStepHook, copyLockedGrowHook = oldChunk, nil, nil }()
	snap := ix.Copy(func() { round++; writes(t, ix, r, round, n) })
	copyStepHook = nil
	if grewLocked > 0 {
		t.Fatalf("copySlots grew the copy %d times with the index's lock held", grewLocked)
	}
	if snap.Slots() < n+2000 {
		t.Fatalf("the copy has %d slots; want at least %d", snap.Slots(), n+2000)
	}
	var diff string
	if err := ix.Export(func(s *Snapshot) error { diff = sameState(snap, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("the copy differs from the index at its last step: %s", diff)
	}
}
