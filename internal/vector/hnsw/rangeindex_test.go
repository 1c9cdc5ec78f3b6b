package hnsw

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// lowRangeIndexMin makes every range search index its field (the default
// waits for rangeIndexMin distinct values) for the test's duration.
func lowRangeIndexMin(t testing.TB) {
	old := rangeIndexMin
	rangeIndexMin = 0
	t.Cleanup(func() { rangeIndexMin = old })
}

// rangeValues are the numbers the tests give items and take bounds from:
// -0 and +0, integers at and near 2^53, values a bound can fall just
// beside, a few repeated small ones.
var rangeValues = func() []float64 {
	base := []float64{
		0, math.Copysign(0, -1), 1, -1, 2, 3, 0.5, 0.1, 0.2, 0.30000000000000004, 0.3,
		1 << 53, 1<<53 - 1, 1<<53 + 2, -(1 << 53), -(1<<53 - 1), 1e300, -1e300,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64,
	}
	out := slices.Clone(base)
	for _, v := range base {
		for _, w := range []float64{math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1))} {
			if !math.IsInf(w, 0) {
				out = append(out, w)
			}
		}
	}
	return out
}()

// checkNumIndex checks x's invariants: chunks of 1..numChunkMax pairs in
// strict (number, slot) order, no -0, n their count.
func checkNumIndex(t testing.TB, x *numIndex) {
	t.Helper()
	n, first := 0, true
	var pv float64
	var ps uint32
	for c, ch := range x.chunks {
		if len(ch.v) == 0 || len(ch.v) > numChunkMax || len(ch.v) != len(ch.s) {
			t.Fatalf("chunk %d of %d numbers, %d slots", c, len(ch.v), len(ch.s))
		}
		for i, v := range ch.v {
			if v == 0 && math.Signbit(v) {
				t.Fatalf("chunk %d holds -0", c)
			}
			if !first && cmpPair(pv, ps, v, ch.s[i]) >= 0 {
				t.Fatalf("chunk %d: (%v, %d) after (%v, %d)", c, v, ch.s[i], pv, ps)
			}
			first, pv, ps = false, v, ch.s[i]
			n++
		}
	}
	if n != x.n {
		t.Fatalf("index counts %d pairs, holds %d", x.n, n)
	}
}

// checkRanges checks that each range index of ix holds exactly the
// numbers the live items have in its field, and that every field with a
// range index still exists.
func checkRanges(t testing.TB, ix *Index) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.rangeLog) != 0 {
		t.Fatalf("a build's log left: %d", len(ix.rangeLog))
	}
	for field, x := range ix.ranges {
		checkNumIndex(t, x)
		if ix.post[field] == nil {
			t.Fatalf("range index of %q kept, no item has the field", field)
		}
		var want []numPair
		for s, md := range ix.meta {
			if f, ok := md[field].(float64); ok && !ix.deleted[s] {
				if f == 0 {
					f = 0
				}
				want = append(want, numPair{f, uint32(s)})
			}
		}
		slices.SortFunc(want, func(a, b numPair) int { return cmpPair(a.v, a.s, b.v, b.s) })
		var got []numPair
		for _, ch := range x.chunks {
			for i := range ch.v {
				got = append(got, numPair{ch.v[i], ch.s[i]})
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("range index of %q holds %d pairs, the items have %d", field, len(got), len(want))
		}
	}
}

// randomRange is a range whose bounds are item values, their neighbours or
// values between, with gt or gte and lt or lte at random.
func randomRange(r *rand.Rand) *Range {
	pick := func() *float64 {
		v := rangeValues[r.IntN(len(rangeValues))]
		if r.IntN(4) == 0 {
			v = float64(r.IntN(40)) - 10
		}
		return &v
	}
	rg := &Range{}
	for rg.Gt == nil && rg.Gte == nil && rg.Lt == nil && rg.Lte == nil {
		switch r.IntN(3) {
		case 0:
			rg.Gt = pick()
		case 1:
			rg.Gte = pick()
		}
		switch r.IntN(3) {
		case 0:
			rg.Lt = pick()
		case 1:
			rg.Lte = pick()
		}
	}
	return rg
}

// matchThreeWays compares, for filter cf, the range indexes' matching set
// (built first), the scan of the field's value keys and the per-item check.
func matchThreeWays(t testing.TB, ix *Index, cf compiledFilter, what string) int {
	t.Helper()
	ix.buildRanges(cf)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, f := range cf {
		if f.rng != nil && len(ix.post[f.name]) >= max(rangeIndexMin, 1) && ix.ranges[f.name] == nil {
			t.Fatalf("%s: field %q has no range index after a range search", what, f.name)
		}
	}
	byIndex := slices.Clone(ix.match(cf))
	var byScan []uint32
	for i, f := range cf {
		var set []uint32
		if f.rng != nil {
			set = rangeSet(ix.post[f.name], f.rng, len(ix.ids))
		} else {
			set = keysSet(ix.post[f.name], f.keys, len(ix.ids))
		}
		if i == 0 {
			byScan = set
		} else {
			byScan = intersect(byScan, set)
		}
	}
	var byItem []uint32
	for s, md := range ix.meta {
		if !ix.deleted[s] && cf.matches(md) {
			byItem = append(byItem, uint32(s))
		}
	}
	if len(byScan) == 0 {
		byScan = nil
	}
	if len(byIndex) == 0 {
		byIndex = nil
	}
	if !slices.Equal(byIndex, byItem) || !slices.Equal(byScan, byItem) {
		t.Fatalf("%s: the range index selects %v, the value scan %v, the per-item check %v", what, byIndex, byScan, byItem)
	}
	return len(byItem)
}

func randomNumMeta(r *rand.Rand) Metadata {
	md := Metadata{}
	for _, field := range []string{"x", "y"} {
		switch r.IntN(10) {
		case 0:
			// absent
		case 1:
			md[field] = fmt.Sprint(r.IntN(3)) // a string never in a range
		case 2:
			md[field] = r.IntN(2) == 0
		case 3, 4:
			md[field] = float64(r.IntN(2000)) / 8 // many distinct
		default:
			md[field] = rangeValues[r.IntN(len(rangeValues))]
		}
	}
	if r.IntN(3) == 0 {
		md["c"] = fmt.Sprint(r.IntN(3))
	}
	return md
}

// TestRangeIndexMatchesScan: under 6,000 random upserts (new ids, reused
// slots, metadata-only changes, new vectors), deletes and fields that come
// and go, the matching set a range index finds is the one the scan of the
// field's values and the per-item check find, for ranges whose bounds
// equal item values or lie just beside them (gt vs gte, lt vs lte), over
// -0 and +0, integers at and beyond 2^53, strings, bools and absent fields,
// alone and ANDed with another range and an equality. Search answers as
// ExactSearch over the same set. The indexes hold exactly the live numbers.
func TestRangeIndexMatchesScan(t *testing.T) {
	lowRangeIndexMin(t)
	r := rand.New(rand.NewPCG(7, 8))
	ix, err := New(Params{Dims: 2, M: 4, EfConstruction: 16})
	if err != nil {
		t.Fatal(err)
	}
	vec := func(i int) []float32 { return []float32{float32(i%13) + 1, float32(i%7) + 1} }
	live := map[string]bool{}
	nonEmpty := 0
	for step := range 6000 {
		id := fmt.Sprintf("i%03d", r.IntN(400))
		switch op := r.IntN(10); {
		case op < 6:
			if err := ix.Upsert([]Item{{ID: id, Vector: vec(step), Metadata: randomNumMeta(r)}}); err != nil {
				t.Fatal(err)
			}
			live[id] = true
		case op < 8 && live[id]:
			it, _ := ix.Get(id) // metadata only: the same vector
			if err := ix.Upsert([]Item{{ID: id, Vector: it.Vector, Metadata: randomNumMeta(r)}}); err != nil {
				t.Fatal(err)
			}
		default:
			if _, err := ix.Delete([]string{id}); err != nil {
				t.Fatal(err)
			}
			delete(live, id)
		}
		if step%10 != 0 {
			continue
		}
		rg := randomRange(r)
		cf := compiledFilter{{name: "x", rng: rg}}
		switch r.IntN(3) {
		case 1:
			cf = append(cf, filterField{name: "y", rng: randomRange(r)})
		case 2:
			cf = append(cf, filterField{name: "c", keys: []string{valueKey("1")}})
		}
		if matchThreeWays(t, ix, cf, fmt.Sprintf("step %d %s", step, showRange(*rg))) > 0 {
			nonEmpty++
		}
		if step%200 == 0 {
			checkRanges(t, ix)
			f := Filter{"x": *rg}
			got, err1 := ix.Search([]float32{1, 2}, 5, 0, f)
			want, err2 := ix.ExactSearch([]float32{1, 2}, 5, f)
			if err1 != nil || err2 != nil || len(got) != len(want) {
				t.Fatalf("step %d: search %v %v, exact %v %v", step, got, err1, want, err2)
			}
		}
	}
	checkRanges(t, ix)
	if nonEmpty < 200 {
		t.Fatalf("only %d of 600 filters matched anything", nonEmpty)
	}
	// Every item deleted: the fields go, and their range indexes with them.
	ids := make([]string, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	if _, err := ix.Delete(ids); err != nil {
		t.Fatal(err)
	}
	checkRanges(t, ix)
	if len(ix.ranges) != 0 {
		t.Fatalf("%d range indexes left with no item", len(ix.ranges))
	}
}

// TestRangeIndexEdges: bounds equal to item values, gt vs gte and lt vs
// lte, -0 vs +0 (equal in every range), integers at 2^53 and their float64
// neighbours, answered through a range index exactly as the per-item check
// does, by Search over a field of many distinct numbers (the default
// rangeIndexMin).
func TestRangeIndexEdges(t *testing.T) {
	const p53 = 1 << 53
	special := []float64{math.Copysign(0, -1), 0, 1, p53 - 1, p53, p53 + 2, -p53, 0.1, math.Nextafter(0.1, 1)}
	n := 200
	var vecs [][]float32
	for i := range n {
		vecs = append(vecs, []float32{float32(i%11) + 1, float32(i%5) + 1})
	}
	ix := build(t, Params{Dims: 2}, vecs, func(i int) Metadata {
		if i < len(special) {
			return Metadata{"x": special[i]}
		}
		return Metadata{"x": float64(i) + 0.25}
	})
	num := func(i int) float64 {
		if i < len(special) {
			return special[i]
		}
		return float64(i) + 0.25
	}
	neg0 := math.Copysign(0, -1)
	for _, rg := range []Range{
		{Gt: fp(0)}, {Gte: fp(0)}, {Gt: fp(neg0)}, {Gte: fp(neg0)}, {Lt: fp(0)}, {Lte: fp(neg0)}, {Lte: fp(0)},
		{Gte: fp(neg0), Lte: fp(0)}, {Gt: fp(neg0), Lt: fp(1)},
		{Gte: fp(p53)}, {Gt: fp(p53)}, {Gt: fp(p53 - 1), Lt: fp(p53 + 2)}, {Gte: fp(p53 - 1), Lte: fp(p53)},
		{Lt: fp(-p53)}, {Lte: fp(-p53)},
		{Gt: fp(0.1), Lt: fp(1)}, {Gte: fp(0.1), Lte: fp(0.1)}, {Gt: fp(0.1), Lte: fp(math.Nextafter(0.1, 1))},
		{Gte: fp(100.25), Lt: fp(150.25)}, {Gt: fp(100.25), Lte: fp(150.25)}, {Gte: fp(150), Lte: fp(100)},
	} {
		var want []string
		for i := range n {
			if rg.contains(num(i)) {
				want = append(want, fmt.Sprintf("id%d", i))
			}
		}
		slices.Sort(want)
		res, err := ix.Search([]float32{1, 1}, n, 0, Filter{"x": rg})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range res {
			got = append(got, h.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("range %s: %d hits %v, want %d %v", showRange(rg), len(got), got, len(want), want)
		}
	}
	if ix.ranges["x"] == nil {
		t.Fatal("no range index for a field of 200 distinct numbers after range searches")
	}
	checkRanges(t, ix)
}

func showRange(r Range) string {
	s := ""
	for _, b := range []struct {
		k string
		v *float64
	}{{"gt", r.Gt}, {"gte", r.Gte}, {"lt", r.Lt}, {"lte", r.Lte}} {
		if b.v != nil {
			s += fmt.Sprintf("%s %v ", b.k, *b.v)
		}
	}
	return s
}

// TestRangeIndexBuiltWhileWritten: writes that land between a build's
// sort and its install (new numbers, changed ones, deletes, a field
// gone from every item) are in the index installed.
func TestRangeIndexBuiltWhileWritten(t *testing.T) {
	lowRangeIndexMin(t)
	for round, write := range []func(ix *Index){
		func(ix *Index) { // new items, changed numbers, deletes
			ix.Upsert([]Item{{ID: "new1", Vector: []float32{1, 1}, Metadata: Metadata{"x": 2.5}}, {ID: "i010", Vector: []float32{1, 3}, Metadata: Metadata{"x": -7.0}}})
			ix.Upsert([]Item{{ID: "i011", Vector: []float32{1, 11}, Metadata: Metadata{"x": 99.0}}}) // metadata only
			ix.Delete([]string{"i012", "i013"})
			ix.Upsert([]Item{{ID: "i014", Vector: []float32{1, 14}, Metadata: Metadata{"x": "text"}}})
		},
		func(ix *Index) { // the field leaves every item
			var its []Item
			for i := range 50 {
				its = append(its, Item{ID: fmt.Sprintf("i%03d", i), Vector: []float32{1, float32(i)}, Metadata: Metadata{"z": 1.0}})
			}
			ix.Upsert(its)
		},
		func(ix *Index) { // every item deleted, then some come back with the field
			var ids []string
			for i := range 50 {
				ids = append(ids, fmt.Sprintf("i%03d", i))
			}
			ix.Delete(ids)
			ix.Upsert([]Item{{ID: "back", Vector: []float32{2, 1}, Metadata: Metadata{"x": 3.0}}})
		},
	} {
		ix, err := New(Params{Dims: 2})
		if err != nil {
			t.Fatal(err)
		}
		var its []Item
		for i := range 50 {
			its = append(its, Item{ID: fmt.Sprintf("i%03d", i), Vector: []float32{1, float32(i)}, Metadata: Metadata{"x": float64(i % 17)}})
		}
		if err := ix.Upsert(its); err != nil {
			t.Fatal(err)
		}
		rangeSorted = write
		cf := compiledFilter{{name: "x", rng: &Range{Gte: fp(-10)}}}
		ix.buildRanges(cf)
		rangeSorted = nil
		checkRanges(t, ix)
		matchThreeWays(t, ix, cf, fmt.Sprintf("round %d", round))
		for _, rg := range []*Range{{Lt: fp(3)}, {Gt: fp(2.5)}, {Gte: fp(2.5), Lte: fp(99)}} {
			matchThreeWays(t, ix, compiledFilter{{name: "x", rng: rg}}, fmt.Sprintf("round %d %s", round, showRange(*rg)))
		}
	}
}

// TestNumIndexRandomOps: 100k random inserts and removes of (number, slot)
// pairs on a numIndex alone, against a sorted model, so chunks split and
// merge many times; the set of random ranges matches the model's.
func TestNumIndexRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newNumIndex(nil)
	var model []numPair
	vals := []float64{math.Copysign(0, -1), 0, 1, 2, 1 << 53, -3.5}
	for step := range 100_000 {
		v := vals[r.IntN(len(vals))]
		if r.IntN(2) == 0 {
			v = float64(r.IntN(300))
		}
		s := uint32(r.IntN(3000))
		mv := v
		if mv == 0 {
			mv = 0
		}
		i, found := slices.BinarySearchFunc(model, numPair{mv, s}, func(a, b numPair) int { return cmpPair(a.v, a.s, b.v, b.s) })
		// grow for the first half, then shrink, so both splits and merges run
		if r.IntN(100) < 70-40*(step/50_000) {
			x.insert(v, s)
			if !found {
				model = slices.Insert(model, i, numPair{mv, s})
			}
		} else {
			x.remove(v, s)
			if found {
				model = slices.Delete(model, i, i+1)
			}
		}
		if step%5000 == 0 || step == 99_999 {
			checkNumIndex(t, x)
			if x.n != len(model) {
				t.Fatalf("step %d: %d pairs, model %d", step, x.n, len(model))
			}
			for range 20 {
				rg := randomRange(r)
				var want []uint32
				for _, p := range model {
					if rg.contains(p.v) {
						want = append(want, p.s)
					}
				}
				slices.Sort(want)
				want = slices.Compact(want)
				got := x.set(rg, 3000)
				if len(got) == 0 && len(want) == 0 {
					continue
				}
				if !slices.Equal(got, want) {
					t.Fatalf("step %d range %s: %d slots, want %d", step, showRange(*rg), len(got), len(want))
				}
			}
		}
	}
	if len(x.chunks) < 2 {
		t.Fatalf("only %d chunks: no split tried", len(x.chunks))
	}
}

// TestRangeIndexConcurrent: range searches (which build and read the
// indexes) alongside writers that change the same field's numbers; run
// with -race. Every hit satisfies the range, and afterwards the indexes
// hold exactly the live numbers.
func TestRangeIndexConcurrent(t *testing.T) {
	lowRangeIndexMin(t)
	ix, err := New(Params{Dims: 2, M: 4, EfConstruction: 16})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 1500 {
				id := fmt.Sprintf("w%d-%03d", w, r.IntN(200))
				if r.IntN(4) == 0 {
					ix.Delete([]string{id})
					continue
				}
				ix.Upsert([]Item{{ID: id, Vector: []float32{float32(i%9) + 1, float32(w) + 1}, Metadata: randomNumMeta(r)}})
			}
		})
	}
	for q := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(q), 10))
			for range 300 {
				rg := randomRange(r)
				field := []string{"x", "y"}[r.IntN(2)]
				res, err := ix.Search([]float32{1, 1}, 10, 0, Filter{field: *rg})
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range res {
					if f, ok := h.Metadata[field].(float64); !ok || !rg.contains(f) {
						t.Errorf("hit %s has %s %v, not in %s", h.ID, field, h.Metadata[field], showRange(*rg))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	checkRanges(t, ix)
	if len(ix.ranges) == 0 {
		t.Fatal("no range index built")
	}
}

// TestRangeIndexMemory: a range index is counted in Stats.MemoryBytes, at
// 12 to 18 bytes a number, and only once a range search asked for it.
func TestRangeIndexMemory(t *testing.T) {
	const n = 5000
	var vecs [][]float32
	for i := range n {
		vecs = append(vecs, []float32{float32(i%101) + 1, float32(i%7) + 1})
	}
	ix := build(t, Params{Dims: 2}, vecs, func(i int) Metadata { return Metadata{"x": float64(i)} })
	before := ix.Stats().MemoryBytes
	if _, err := ix.Search([]float32{1, 1}, 3, 0, Filter{"x": Range{Gte: fp(0)}}); err != nil {
		t.Fatal(err)
	}
	if ix.ranges["x"] == nil {
		t.Fatal("no range index built")
	}
	per := float64(ix.Stats().MemoryBytes-before) / n
	t.Logf("range index: %.1f bytes a number (%d numbers)", per, n)
	if per < 12 || per > 18 {
		t.Fatalf("range index counted at %.1f bytes a number, want 12..18", per)
	}
}

// FuzzRangeIndex: a byte string as writes (upserts of numbers from
// rangeValues or from the bytes' own float64 bits, metadata-only changes,
// deletes) with range searches between them; the range index's matching
// set equals the scan's and the per-item check's every time.
func FuzzRangeIndex(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x80\x03\x02\x01\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"))
	f.Add([]byte("\x00\x43\x40\x00\x00\x00\x00\x00\x01\x00\x43\x40\x00\x00\x00\x00\x00\x02\x04\x05\x03\x02\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		old := rangeIndexMin
		rangeIndexMin = int(len(b) % 3) // 0..2: indexed at once or after a few values
		defer func() { rangeIndexMin = old }()
		ix, err := New(Params{Dims: 2, M: 4, EfConstruction: 8})
		if err != nil {
			t.Fatal(err)
		}
		next := func() byte {
			if len(b) == 0 {
				return 0
			}
			c := b[0]
			b = b[1:]
			return c
		}
		num := func() float64 {
			c := next()
			if c < 200 || len(b) < 8 {
				return rangeValues[int(c)%len(rangeValues)]
			}
			v := math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 1
			}
			return v
		}
		bound := func() *float64 { v := num(); return &v }
		for step := 0; len(b) > 0 && step < 300; step++ {
			id := fmt.Sprintf("i%d", next()%24)
			switch next() % 6 {
			case 0, 1:
				md := Metadata{"x": num()}
				if next()%4 == 0 {
					md["x"] = "s"
				}
				if err := ix.Upsert([]Item{{ID: id, Vector: []float32{float32(step%5) + 1, 1}, Metadata: md}}); err != nil {
					t.Fatal(err)
				}
			case 2:
				if it, ok := ix.Get(id); ok {
					ix.Upsert([]Item{{ID: id, Vector: it.Vector, Metadata: Metadata{"x": num()}}})
				}
			case 3:
				ix.Delete([]string{id})
			default:
				rg := &Range{}
				switch next() % 3 {
				case 0:
					rg.Gt = bound()
				case 1:
					rg.Gte = bound()
				}
				switch next() % 3 {
				case 0:
					rg.Lt = bound()
				case 1:
					rg.Lte = bound()
				}
				if rg.Gt == nil && rg.Gte == nil && rg.Lt == nil && rg.Lte == nil {
					rg.Gte = bound()
				}
				matchThreeWays(t, ix, compiledFilter{{name: "x", rng: rg}}, fmt.Sprintf("step %d %s", step, showRange(*rg)))
			}
		}
		checkRanges(t, ix)
	})
}
