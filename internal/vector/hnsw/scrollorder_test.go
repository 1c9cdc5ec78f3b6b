package hnsw

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scrollModel is what Scroll must answer: the live ids in order with their
// metadata, kept by the test beside the index.
type scrollModel struct {
	ids  []string // sorted
	meta map[string]Metadata
}

func (m *scrollModel) put(id string, md Metadata) {
	if _, ok := m.meta[id]; !ok {
		i, _ := slices.BinarySearch(m.ids, id)
		m.ids = slices.Insert(m.ids, i, id)
	}
	m.meta[id] = md
}

func (m *scrollModel) del(id string) {
	if _, ok := m.meta[id]; ok {
		i, _ := slices.BinarySearch(m.ids, id)
		m.ids = slices.Delete(m.ids, i, i+1)
		delete(m.meta, id)
	}
}

// page is the expected page: ids after after that pass keep, up to limit,
// and whether another follows.
func (m *scrollModel) page(after string, limit int, keep func(Metadata) bool) ([]string, bool) {
	i, found := slices.BinarySearch(m.ids, after)
	if found {
		i++
	}
	var out []string
	for ; i < len(m.ids); i++ {
		if keep != nil && !keep(m.meta[m.ids[i]]) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, m.ids[i])
	}
	return out, false
}

// checkOrder checks ix.order's invariants and that it holds exactly the
// live ids.
func checkOrder(t *testing.T, ix *Index) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	o := ix.order
	if o == nil {
		t.Fatal("no order after a Scroll")
	}
	if ix.orderLogging || ix.orderLog != nil {
		t.Fatalf("a build's log left: logging %v, %d changes", ix.orderLogging, len(ix.orderLog))
	}
	n, prev := 0, ""
	for c, ch := range o.chunks {
		if len(ch) == 0 || len(ch) > chunkMax {
			t.Fatalf("chunk %d of %d ids", c, len(ch))
		}
		for _, id := range ch {
			if n > 0 && id <= prev {
				t.Fatalf("chunk %d: %q after %q", c, id, prev)
			}
			if _, ok := ix.byID[id]; !ok {
				t.Fatalf("order holds %q, not live", id)
			}
			prev = id
			n++
		}
	}
	if n != o.n || n != len(ix.byID) {
		t.Fatalf("order holds %d ids (counts %d), %d live", n, o.n, len(ix.byID))
	}
}

func scrollIDs(page []Item) []string {
	ids := make([]string, len(page))
	for i, it := range page {
		ids[i] = it.ID
	}
	return ids
}

// TestScrollPagesUnderInterleavedWrites: after every write of a random
// sequence — new ids, new vectors for old ids, metadata-only changes,
// deletes of single ids and of runs of neighbouring ids, re-upserts of
// deleted ids — a page from a random place (an id that is live, deleted or
// never was, "", past the last), of a random limit, with or without a
// filter, is exactly the model's page, and its more is the model's. A walk
// in pages of 37 goes on meanwhile: the ids it gets rise, and each id live
// for its whole length comes exactly once. The id order is checked whole
// every 100 writes (chunks split and merged many times over).
func TestScrollPagesUnderInterleavedWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 160))
	ix, err := New(Params{Dims: 4, M: 8, EfConstruction: 32})
	if err != nil {
		t.Fatal(err)
	}
	m := &scrollModel{meta: map[string]Metadata{}}
	randID := func() string {
		switch r.IntN(10) {
		case 0:
			return fmt.Sprintf("é%d", r.IntN(300))
		case 1:
			return fmt.Sprintf("k%04d/x", r.IntN(3000))
		}
		return fmt.Sprintf("k%04d", r.IntN(6000))
	}
	vec := func() []float32 {
		return []float32{float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64()), 1}
	}
	upsert := func(id string, v []float32, md Metadata) {
		if err := ix.Upsert([]Item{{ID: id, Vector: v, Metadata: md}}); err != nil {
			t.Fatal(err)
		}
		m.put(id, md)
	}
	del := func(ids ...string) {
		if _, err := ix.Delete(ids); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			m.del(id)
		}
	}
	for range 2000 {
		upsert(randID(), vec(), Metadata{"g": float64(r.IntN(5))})
	}
	keepG := func(md Metadata) bool { g, ok := md["g"].(float64); return ok && g >= 3 }
	filterG := Filter{"g": Range{Gte: fp(3)}}

	// the walk
	var walkAfter string
	var walkGot []string
	walkStart := map[string]bool{} // live when the walk began, not deleted since
	startWalk := func() {
		walkAfter, walkGot = "", nil
		clear(walkStart)
		for _, id := range m.ids {
			walkStart[id] = true
		}
	}
	startWalk()
	walks := 0

	for step := range 6000 {
		switch op := r.IntN(100); {
		case op < 45:
			upsert(randID(), vec(), Metadata{"g": float64(r.IntN(5))})
			upsert(randID(), vec(), Metadata{"g": float64(r.IntN(5))})
		case op < 55 && len(m.ids) > 0: // a new vector for a live id
			id := m.ids[r.IntN(len(m.ids))]
			upsert(id, vec(), Metadata{"g": float64(r.IntN(5))})
		case op < 65 && len(m.ids) > 0: // metadata only
			id := m.ids[r.IntN(len(m.ids))]
			it, ok := ix.Get(id)
			if !ok {
				t.Fatalf("step %d: %q missing", step, id)
			}
			upsert(id, it.Vector, Metadata{"g": float64(r.IntN(5))})
		case op < 82:
			id := randID()
			if len(m.ids) > 0 && r.IntN(2) == 0 {
				id = m.ids[r.IntN(len(m.ids))]
			}
			del(id)
			delete(walkStart, id)
		case r.IntN(200) == 0 && len(m.ids) > 0: // a run of neighbours: chunks empty and merge
			i := r.IntN(len(m.ids))
			run := slices.Clone(m.ids[i:min(len(m.ids), i+1+r.IntN(300))])
			del(run...)
			for _, id := range run {
				delete(walkStart, id)
			}
		default: // delete and upsert again
			id := randID()
			del(id)
			delete(walkStart, id)
			upsert(id, vec(), nil)
		}

		// a page from a random place
		var after string
		switch r.IntN(5) {
		case 0:
		case 1:
			after = "\U0010ffff"
		case 2:
			if len(m.ids) > 0 {
				after = m.ids[r.IntN(len(m.ids))]
			}
		default:
			after = randID()
		}
		limit := []int{1, 2, 7, 100, 600, 5000}[r.IntN(6)]
		var f Filter
		var keep func(Metadata) bool
		if r.IntN(3) == 0 {
			f, keep = filterG, keepG
		}
		page, more, err := ix.Scroll(after, limit, f, false)
		if err != nil {
			t.Fatal(err)
		}
		want, wantMore := m.page(after, limit, keep)
		if got := scrollIDs(page); !slices.Equal(got, want) || more != wantMore {
			t.Fatalf("step %d: after %q limit %d filter %v: %d ids (more %v), want %d (more %v)\n got %.10q\nwant %.10q",
				step, after, limit, f, len(got), more, len(want), wantMore, got, want)
		}
		for _, it := range page {
			if keep != nil && !keep(it.Metadata) || it.Metadata == nil && m.meta[it.ID] != nil {
				t.Fatalf("step %d: %q metadata %v, want %v", step, it.ID, it.Metadata, m.meta[it.ID])
			}
		}

		// the walk's next page
		page, more, err = ix.Scroll(walkAfter, 37, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page {
			if len(walkGot) > 0 && it.ID <= walkGot[len(walkGot)-1] {
				t.Fatalf("step %d: walk got %q after %q", step, it.ID, walkGot[len(walkGot)-1])
			}
			walkGot = append(walkGot, it.ID)
		}
		if len(page) > 0 {
			walkAfter = page[len(page)-1].ID
		}
		if !more {
			for _, id := range walkGot {
				delete(walkStart, id)
			}
			if len(walkStart) > 0 {
				t.Fatalf("step %d: the walk missed %d ids live throughout", step, len(walkStart))
			}
			walks++
			startWalk()
		}
		if step%100 == 0 {
			checkOrder(t, ix)
		}
	}
	checkOrder(t, ix)
	t.Logf("%d live, %d chunks, %d walks", len(m.ids), len(ix.order.chunks), walks)
	if walks < 3 || len(ix.order.chunks) < 5 {
		t.Fatalf("%d walks, %d chunks: the test did not exercise what it should", walks, len(ix.order.chunks))
	}
}

// TestScrollOrderBuiltWhileWritten: the first Scroll sorts the ids with no
// lock held; the writes made meanwhile (new ids, deletes, a delete and
// re-upsert, an upsert and delete of a new id, new vectors, metadata) are
// in the order it installs, and every later write keeps it.
func TestScrollOrderBuiltWhileWritten(t *testing.T) {
	const n = 3000
	ix := build(t, Params{Dims: 8, M: 8, EfConstruction: 32}, clustered(n, 8, 11), nil)
	m := &scrollModel{meta: map[string]Metadata{}}
	for i := range n {
		m.put(fmt.Sprintf("id%d", i), nil)
	}
	extra := clustered(1200, 8, 12)
	var hooked atomic.Int32
	orderSorted = func(ix *Index) {
		hooked.Add(1)
		var items []Item
		for i := range 1000 {
			items = append(items, Item{ID: fmt.Sprintf("new%d", i), Vector: extra[i]})
			m.put(fmt.Sprintf("new%d", i), nil)
		}
		items = append(items, Item{ID: "id7", Vector: extra[1000], Metadata: Metadata{"v": "new"}})
		m.put("id7", Metadata{"v": "new"})
		if err := ix.Upsert(items); err != nil {
			t.Error(err)
		}
		var dels []string
		for i := 0; i < n; i += 5 {
			dels = append(dels, fmt.Sprintf("id%d", i))
			m.del(fmt.Sprintf("id%d", i))
		}
		dels = append(dels, "new3")
		m.del("new3")
		if _, err := ix.Delete(dels); err != nil {
			t.Error(err)
		}
		if err := ix.Upsert([]Item{{ID: "id10", Vector: extra[1001]}, {ID: "new3", Vector: extra[1002]}}); err != nil {
			t.Error(err)
		}
		m.put("id10", nil)
		m.put("new3", nil)
	}
	defer func() { orderSorted = nil }()

	page, more, err := ix.Scroll("", 50, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	orderSorted = nil
	if hooked.Load() != 1 {
		t.Fatalf("the order was built %d times", hooked.Load())
	}
	want, wantMore := m.page("", 50, nil)
	if !slices.Equal(scrollIDs(page), want) || more != wantMore {
		t.Fatalf("first page %v (more %v), want %v", scrollIDs(page), more, want)
	}
	checkOrder(t, ix)
	var all []string
	after := ""
	for {
		page, more, err := ix.Scroll(after, 333, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, scrollIDs(page)...)
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(all, m.ids) {
		t.Fatalf("a walk after the build: %d ids, want %d", len(all), len(m.ids))
	}
}

// TestScrollConcurrentWalks: walkers in pages of 37 while writers add,
// replace and delete ids of their own, from a fresh index (so the order is
// built under the writes): every walk gets its ids in rising order and
// each of the ids no writer deletes exactly once. Run with -race.
func TestScrollConcurrentWalks(t *testing.T) {
	const n = 2000
	ix := build(t, Params{Dims: 8, M: 8, EfConstruction: 32}, clustered(n, 8, 21), nil)
	stable := make([]string, n)
	for i := range n {
		stable[i] = fmt.Sprintf("id%d", i)
	}
	slices.Sort(stable)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			vecs := clustered(64, 8, uint64(30+w))
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w%d-%d", w, r.IntN(500))
				if i%3 == 2 {
					if _, err := ix.Delete([]string{id}); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				if i%7 == 0 { // a new vector for a stable id: it stays live
					id = stable[r.IntN(n)]
				}
				if err := ix.Upsert([]Item{{ID: id, Vector: vecs[i%64]}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var walks atomic.Int32
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(deadline) || walks.Load() < 4 {
				var got []string
				after := ""
				for {
					page, more, err := ix.Scroll(after, 37, nil, false)
					if err != nil {
						t.Error(err)
						return
					}
					for _, it := range page {
						if len(got) > 0 && it.ID <= got[len(got)-1] {
							t.Errorf("walk: %q after %q", it.ID, got[len(got)-1])
							return
						}
						got = append(got, it.ID)
					}
					if !more {
						break
					}
					after = page[len(page)-1].ID
				}
				var mine []string
				for _, id := range got {
					if !strings.HasPrefix(id, "w") {
						mine = append(mine, id)
					}
				}
				if !slices.Equal(mine, stable) {
					t.Errorf("a walk got %d of the %d stable ids", len(mine), n)
					return
				}
				walks.Add(1)
			}
		}()
	}
	time.Sleep(1600 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	checkOrder(t, ix)
}

// TestIDOrderRandomOps: the id order alone against a sorted slice, through
// inserts, removes, repeated and missing ids and removals of long runs
// (chunks split, empty and merge): the same ids in the same order, every
// chunk 1..chunkMax ids, seek at the model's position.
func TestIDOrderRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var model []string
	o := newIDOrder(nil)
	check := func(step int) {
		var got []string
		for c, ch := range o.chunks {
			if len(ch) == 0 || len(ch) > chunkMax {
				t.Fatalf("step %d: chunk %d of %d ids", step, c, len(ch))
			}
			got = append(got, ch...)
		}
		if !slices.Equal(got, model) || o.n != len(model) {
			t.Fatalf("step %d: %d ids (n %d), want %d", step, len(got), o.n, len(model))
		}
	}
	maxChunks, merged := 0, false
	for step := range 100_000 {
		id := fmt.Sprintf("%x", r.IntN(30_000))
		switch {
		case r.IntN(5000) == 0 && len(model) > 0:
			i := r.IntN(len(model))
			run := slices.Clone(model[i:min(len(model), i+r.IntN(5000))])
			before := len(o.chunks)
			for _, id := range run {
				o.remove(id)
			}
			model = slices.Delete(model, i, i+len(run))
			merged = merged || len(o.chunks) < before-1
		case r.IntN(3) == 0:
			o.remove(id)
			if i, ok := slices.BinarySearch(model, id); ok {
				model = slices.Delete(model, i, i+1)
			}
		default:
			o.insert(id)
			if i, ok := slices.BinarySearch(model, id); !ok {
				model = slices.Insert(model, i, id)
			}
		}
		maxChunks = max(maxChunks, len(o.chunks))
		if step%1000 == 0 {
			check(step)
			after := fmt.Sprintf("%x", r.IntN(30_000))
			c, j := o.seek(after)
			i, found := slices.BinarySearch(model, after)
			if found {
				i++
			}
			if i == len(model) {
				if c != len(o.chunks) {
					t.Fatalf("step %d: seek(%q) = %d,%d past the end", step, after, c, j)
				}
			} else if c >= len(o.chunks) || o.chunks[c][j] != model[i] {
				t.Fatalf("step %d: seek(%q) = %d,%d, want %q", step, after, c, j, model[i])
			}
		}
	}
	check(-1)
	if maxChunks < 20 || !merged {
		t.Fatalf("at most %d chunks, merged %v: the test did not exercise what it should", maxChunks, merged)
	}
}
