package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/errs"
)

// clustered returns n vectors of d dims drawn around 50 random centres, a
// stand-in for real embeddings (uniform noise is unrealistically hard).
func clustered(n, d int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	centres := make([][]float32, 50)
	for i := range centres {
		centres[i] = make([]float32, d)
		for j := range centres[i] {
			centres[i][j] = float32(r.NormFloat64())
		}
	}
	out := make([][]float32, n)
	for i := range out {
		c := centres[r.IntN(len(centres))]
		v := make([]float32, d)
		for j := range v {
			v[j] = c[j] + 0.6*float32(r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

func build(t testing.TB, p Params, vecs [][]float32, meta func(i int) Metadata) *Index {
	t.Helper()
	ix, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]Item, len(vecs))
	for i, v := range vecs {
		items[i] = Item{ID: fmt.Sprintf("id%d", i), Vector: v}
		if meta != nil {
			items[i].Metadata = meta(i)
		}
	}
	if err := ix.Upsert(items); err != nil {
		t.Fatal(err)
	}
	return ix
}

func recallAt(t testing.TB, ix *Index, queries [][]float32, k, ef int, f Filter) float64 {
	t.Helper()
	hit, total := 0, 0
	for _, q := range queries {
		want, err := ix.ExactSearch(q, k, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ix.Search(q, k, ef, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("filter %v: got %d results, %d match (want no starvation)", f, len(got), len(want))
		}
		ids := map[string]bool{}
		for _, w := range want {
			ids[w.ID] = true
		}
		for _, g := range got {
			if ids[g.ID] {
				hit++
			}
		}
		total += len(want)
	}
	if total == 0 {
		return 1
	}
	return float64(hit) / float64(total)
}

func TestKernelsMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for n := 0; n <= 140; n++ {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		for _, k := range []struct {
			name      string
			fast, ref func(a, b []float32) float32
		}{{"dot", dot, dotGeneric}, {"l2sq", l2sq, l2sqGeneric}} {
			got, want := k.fast(a, b), k.ref(a, b)
			if math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
				t.Errorf("%s n=%d: got %v want %v (avx2=%v)", k.name, n, got, want, useAVX2)
			}
		}
	}
}

func TestBatchKernelsMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, d := range []int{1, 3, 4, 8, 13, 32, 100, 129} {
		base := make([]float32, 50*d)
		for i := range base {
			base[i] = float32(r.NormFloat64())
		}
		q := base[7*d : 8*d]
		ids := []uint32{0, 49, 7, 3, 3, 20}
		got, want := make([]float32, len(ids)), make([]float32, len(ids))
		for _, k := range []struct {
			name      string
			fast, ref func(q, base []float32, ids []uint32, out []float32)
		}{{"dot", dotBatch, dotBatchGeneric}, {"l2", l2Batch, l2BatchGeneric}} {
			k.fast(q, base, ids, got)
			k.ref(q, base, ids, want)
			for i := range ids {
				if math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
					t.Errorf("%s d=%d i=%d: %v != %v", k.name, d, i, got[i], want[i])
				}
			}
		}
	}
}

func TestRecallPerMetric(t *testing.T) {
	vecs := clustered(6000, 32, 1)
	queries := clustered(200, 32, 2)
	for _, m := range []Metric{Cosine, L2, Dot} {
		t.Run(string(m), func(t *testing.T) {
			ix := build(t, Params{Dims: 32, Metric: m, M: 16, EfConstruction: 100}, vecs, nil)
			want := 0.95
			if m == Dot {
				want = 0.9 // inner product is not a metric; HNSW is weaker there
			}
			if r := recallAt(t, ix, queries, 10, 100, nil); r < want {
				t.Fatalf("recall@10 = %.3f, want >= %.2f", r, want)
			}
			st := ix.Stats()
			if st.Count != len(vecs) || st.Deleted != 0 || st.MemoryBytes < int64(len(vecs)*32*4) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestScores(t *testing.T) {
	for _, tc := range []struct {
		metric Metric
		want   float32
	}{{Cosine, 0.6}, {Dot, 3}, {L2, 4}} {
		ix, _ := New(Params{Dims: 2, Metric: tc.metric})
		if err := ix.Upsert([]Item{{ID: "a", Vector: []float32{3, 0}}}); err != nil {
			t.Fatal(err)
		}
		res, err := ix.Search([]float32{1, 2}, 1, 10, nil)
		if err != nil || len(res) != 1 {
			t.Fatal(res, err)
		}
		// cosine: 3/(3*sqrt5)=0.447..; recompute expectations exactly
		want := map[Metric]float32{Cosine: float32(1 / math.Sqrt(5)), Dot: 3, L2: 4 + 4}[tc.metric]
		if math.Abs(float64(res[0].Score-want)) > 1e-5 {
			t.Errorf("%s: score %v, want %v", tc.metric, res[0].Score, want)
		}
	}
}

func TestInvalidInputs(t *testing.T) {
	ix, err := New(Params{Dims: 3})
	if err != nil {
		t.Fatal(err)
	}
	good := []float32{1, 2, 3}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		run  func() error
	}{
		{"new dims 0", func() error { _, err := New(Params{Dims: 0}); return err }},
		{"new bad metric", func() error { _, err := New(Params{Dims: 3, Metric: "manhattan"}); return err }},
		{"new m 1", func() error { _, err := New(Params{Dims: 3, M: 1}); return err }},
		{"wrong dims", func() error { return ix.Upsert([]Item{{ID: "a", Vector: []float32{1, 2}}}) }},
		{"nan", func() error { return ix.Upsert([]Item{{ID: "a", Vector: []float32{1, nan, 3}}}) }},
		{"inf", func() error { return ix.Upsert([]Item{{ID: "a", Vector: []float32{inf, 2, 3}}}) }},
		{"zero vector cosine", func() error { return ix.Upsert([]Item{{ID: "a", Vector: []float32{0, 0, 0}}}) }},
		{"empty id", func() error { return ix.Upsert([]Item{{ID: "", Vector: good}}) }},
		{"duplicate ids", func() error { return ix.Upsert([]Item{{ID: "a", Vector: good}, {ID: "a", Vector: good}}) }},
		{"nested metadata", func() error {
			return ix.Upsert([]Item{{ID: "a", Vector: good, Metadata: Metadata{"x": map[string]any{}}}})
		}},
		{"delete empty id", func() error { _, err := ix.Delete([]string{"a", ""}); return err }},
		{"k 0", func() error { _, err := ix.Search(good, 0, 10, nil); return err }},
		{"k negative", func() error { _, err := ix.Search(good, -1, 10, nil); return err }},
		{"ef negative", func() error { _, err := ix.Search(good, 1, -1, nil); return err }},
		{"query dims", func() error { _, err := ix.Search([]float32{1}, 1, 10, nil); return err }},
		{"query nan", func() error { _, err := ix.Search([]float32{nan, 1, 1}, 1, 10, nil); return err }},
		{"filter object", func() error { _, err := ix.Search(good, 1, 10, Filter{"x": map[string]any{}}); return err }},
		{"filter nested list", func() error { _, err := ix.Search(good, 1, 10, Filter{"x": []any{[]any{1}}}); return err }},
		{"filter null", func() error { _, err := ix.Search(good, 1, 10, Filter{"x": nil}); return err }},
		{"filter null in list", func() error { _, err := ix.Search(good, 1, 10, Filter{"x": []any{"a", nil}}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("got %v, want an invalid error", err)
			}
		})
	}
	if ix.Len() != 0 {
		t.Fatalf("a rejected batch changed the index: len %d", ix.Len())
	}
}

func TestUpsertReplaceDeleteReuse(t *testing.T) {
	vecs := clustered(3000, 16, 3)
	ix := build(t, Params{Dims: 16, Metric: L2, M: 8, EfConstruction: 64}, vecs, func(i int) Metadata { return Metadata{"i": i} })
	// Replace item 0 with a far-away vector: searching there must find it.
	far := make([]float32, 16)
	for i := range far {
		far[i] = 100
	}
	if err := ix.Upsert([]Item{{ID: "id0", Vector: far, Metadata: Metadata{"tag": "moved"}}}); err != nil {
		t.Fatal(err)
	}
	res, _ := ix.Search(far, 1, 32, nil)
	if len(res) != 1 || res[0].ID != "id0" || res[0].Metadata["tag"] != "moved" {
		t.Fatalf("replace not visible: %+v", res)
	}
	if st := ix.Stats(); st.Slots != 3000 || st.Count != 3000 {
		t.Fatalf("replace should reuse the slot: %+v", st)
	}
	// Same vector, new metadata: updated in place, filterable.
	if err := ix.Upsert([]Item{{ID: "id0", Vector: far, Metadata: Metadata{"tag": "again"}}}); err != nil {
		t.Fatal(err)
	}
	if res, _ := ix.Search(far, 5, 32, Filter{"tag": "again"}); len(res) != 1 || res[0].ID != "id0" {
		t.Fatalf("metadata-only update: %+v", res)
	}
	if res, _ := ix.Search(far, 5, 32, Filter{"tag": "moved"}); len(res) != 0 {
		t.Fatalf("stale metadata still indexed: %+v", res)
	}
	// Delete a third; none of them may come back; slots are reused by inserts.
	var del []string
	for i := 0; i < 3000; i += 3 {
		del = append(del, fmt.Sprintf("id%d", i))
	}
	del = append(del, "missing")
	n, err := ix.Delete(del)
	if err != nil || n != 1000 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if st := ix.Stats(); st.Count != 2000 || st.Deleted != 1000 {
		t.Fatalf("after delete: %+v", st)
	}
	queries := clustered(100, 16, 4)
	for _, q := range queries {
		res, _ := ix.Search(q, 20, 64, nil)
		for _, r := range res {
			var i int
			fmt.Sscanf(r.ID, "id%d", &i)
			if i%3 == 0 {
				t.Fatalf("deleted item %s returned", r.ID)
			}
		}
	}
	if r := recallAt(t, ix, queries, 10, 64, nil); r < 0.95 {
		t.Fatalf("recall after deletes %.3f", r)
	}
	fresh := clustered(1000, 16, 5)
	items := make([]Item, len(fresh))
	for i, v := range fresh {
		items[i] = Item{ID: fmt.Sprintf("new%d", i), Vector: v}
	}
	if err := ix.Upsert(items); err != nil {
		t.Fatal(err)
	}
	if st := ix.Stats(); st.Slots != 3000 || st.Count != 3000 || st.Deleted != 0 {
		t.Fatalf("tombstones not reclaimed: %+v", st)
	}
	if r := recallAt(t, ix, queries, 10, 64, nil); r < 0.95 {
		t.Fatalf("recall after reuse %.3f", r)
	}
	if _, ok := ix.Get("id0"); ok {
		t.Fatal("deleted id0 still readable")
	}
	if it, ok := ix.Get("new5"); !ok || len(it.Vector) != 16 {
		t.Fatal("Get new5 failed")
	}
}

func TestFilteredSearchNeverStarves(t *testing.T) {
	const n = 20000
	vecs := clustered(n, 24, 6)
	ix := build(t, Params{Dims: 24, M: 16, EfConstruction: 100}, vecs, func(i int) Metadata {
		return Metadata{
			"half":  i%2 == 0,    // 50%
			"five":  i%20 == 0,   // 5%
			"tenth": i%1000 == 0, // 0.1% (20 items)
			"cat":   fmt.Sprint(i % 7),
			"n":     float64(i % 5), // number field
		}
	})
	queries := clustered(100, 24, 7)
	for _, tc := range []struct {
		name string
		f    Filter
		min  float64
	}{
		{"50%", Filter{"half": true}, 0.95},
		{"5%", Filter{"five": true}, 0.95},
		{"0.1%", Filter{"tenth": true}, 0.95},
		{"in", Filter{"cat": []any{"1", "3"}}, 0.95},
		{"and", Filter{"half": true, "cat": "2"}, 0.95},
		{"number", Filter{"n": 3}, 0.95},
		{"number in", Filter{"n": []int{1, 4}}, 0.95},
		{"in many", Filter{"cat": []any{"0", "1", "2", "5", "nope"}}, 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := recallAt(t, ix, queries, 10, 160, tc.f); r < tc.min {
				t.Fatalf("recall %.3f < %.2f", r, tc.min)
			}
			res, _ := ix.Search(queries[0], 10, 64, tc.f)
			if len(res) != 10 {
				t.Fatalf("got %d results", len(res))
			}
		})
	}
	// fewer matches than k: all of them, and nothing for no match
	res, _ := ix.Search(queries[0], 50, 64, Filter{"tenth": true})
	if len(res) != 20 {
		t.Fatalf("want all 20 matches, got %d", len(res))
	}
	res, _ = ix.Search(queries[0], 10, 64, Filter{"cat": "nope"})
	if len(res) != 0 {
		t.Fatalf("want none, got %d", len(res))
	}
	// deleting matches keeps filtered results exact
	var del []string
	for i := 0; i < n; i += 1000 {
		if i%2000 == 0 {
			del = append(del, fmt.Sprintf("id%d", i))
		}
	}
	ix.Delete(del)
	res, _ = ix.Search(queries[0], 50, 64, Filter{"tenth": true})
	if len(res) != 10 {
		t.Fatalf("want 10 remaining matches, got %d", len(res))
	}
}

// TestConcurrentSearchDuringUpserts: item i always holds a vector whose
// components all equal its version v and metadata {"v": v}, so a search hit
// whose score disagrees with its metadata is a half-written item.
func TestConcurrentSearchDuringUpserts(t *testing.T) {
	const dims, n = 8, 500
	ix, _ := New(Params{Dims: dims, Metric: L2, M: 8, EfConstruction: 32})
	item := func(i, v int) Item {
		vec := make([]float32, dims)
		for j := range vec {
			vec[j] = float32(v) + float32(i)/1000
		}
		return Item{ID: fmt.Sprint(i), Vector: vec, Metadata: Metadata{"v": v, "i": i}}
	}
	var items []Item
	for i := 0; i < n; i++ {
		items = append(items, item(i, 1))
	}
	if err := ix.Upsert(items); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := make([]float32, dims)
			for !stop.Load() {
				res, err := ix.Search(q, 5, 32, nil)
				if err != nil || len(res) == 0 {
					bad.Add(1)
					continue
				}
				for _, r := range res {
					v := r.Metadata["v"].(float64)
					i := r.Metadata["i"].(float64)
					x := v + i/1000
					want := float32(dims) * float32(x) * float32(x)
					if math.Abs(float64(r.Score-want)) > 1e-3*float64(want) {
						bad.Add(1)
					}
				}
				ix.Stats()
			}
		}()
	}
	for v := 2; v < 6; v++ {
		var batch []Item
		for i := 0; i < n; i++ {
			batch = append(batch, item(i, v))
		}
		if err := ix.Upsert(batch); err != nil {
			t.Fatal(err)
		}
		if _, err := ix.Delete([]string{fmt.Sprint(v)}); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d inconsistent results", bad.Load())
	}
}

func TestMetadataCodecRoundTrip(t *testing.T) {
	md := Metadata{"s": "héllo", "n": 3.5, "t": true, "f": false, "z": ""}
	b := AppendMetadata(nil, md)
	got, n, err := DecodeMetadata(b)
	if err != nil || n != len(b) || len(got) != len(md) {
		t.Fatal(got, n, err)
	}
	for k, v := range md {
		if got[k] != v {
			t.Errorf("%s: %v != %v", k, got[k], v)
		}
	}
	for i := 0; i < len(b); i++ {
		if _, _, err := DecodeMetadata(b[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
}

func BenchmarkDot100(b *testing.B) {
	x, y := make([]float32, 100), make([]float32, 100)
	for i := range x {
		x[i], y[i] = float32(i), float32(100-i)
	}
	var s float32
	for b.Loop() {
		s += dot(x, y)
	}
	_ = s
}

func BenchmarkDot100Generic(b *testing.B) {
	x, y := make([]float32, 100), make([]float32, 100)
	var s float32
	for b.Loop() {
		s += dotGeneric(x, y)
	}
	_ = s
}

func benchIndex(b *testing.B, n, d int) (*Index, [][]float32) {
	vecs := clustered(n, d, 11)
	ix := build(b, Params{Dims: d, M: 16, EfConstruction: 200, Capacity: n}, vecs, nil)
	return ix, clustered(1000, d, 12)
}

func BenchmarkInsert20k(b *testing.B) {
	vecs := clustered(20000, 100, 11)
	for b.Loop() {
		build(b, Params{Dims: 100, M: 16, EfConstruction: 200, Capacity: len(vecs)}, vecs, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20000, "ns/insert")
}

func BenchmarkSearch20kEf80(b *testing.B) {
	ix, qs := benchIndex(b, 20000, 100)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := ix.Search(qs[i%len(qs)], 10, 80, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestSearchReachesKWithDuplicates: many identical vectors leave the graph
// unable to reach all of them (the neighbour heuristic keeps few links
// among equals); a search still returns min(k, live) items, the closest
// ones (it returned 116 of 400 here, and matrixd read the short list as
// "exhausted").
func TestSearchReachesKWithDuplicates(t *testing.T) {
	ix, err := New(Params{Dims: 32})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	bases := make([][]float32, 4)
	for i := range bases {
		bases[i] = make([]float32, 32)
		for j := range bases[i] {
			bases[i][j] = float32(r.NormFloat64())
		}
	}
	var items []Item
	for i := 0; i < 4000; i++ {
		items = append(items, Item{ID: strconv.Itoa(i), Vector: slices.Clone(bases[i%4])})
	}
	if err := ix.Upsert(items); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Delete([]string{"1", "5"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{10, 400, 998, 2000, 5000} {
		res, err := ix.Search(bases[1], k, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(k, 3998); len(res) != want {
			t.Fatalf("k %d: %d results, want %d", k, len(res), want)
		}
		seen := map[string]bool{}
		for i, x := range res {
			n, _ := strconv.Atoi(x.ID)
			if seen[x.ID] || x.ID == "1" || x.ID == "5" || (i < 998 && n%4 != 1) {
				t.Fatalf("k %d: result %d is %q (score %v)", k, i, x.ID, x.Score)
			}
			seen[x.ID] = true
		}
	}
}

// A null metadata field is no field (Qdrant accepts null payload values): it
// is dropped on upsert, encodes as if absent (LHV1 and the WAL unchanged),
// and a metadata object of nulls only is no metadata. Before, {"x": null}
// was a 400.
func TestNullMetadataFieldsAreAbsent(t *testing.T) {
	ix, err := New(Params{Dims: 2, Metric: L2})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert([]Item{
		{ID: "mixed", Vector: []float32{1, 0}, Metadata: Metadata{"x": nil, "y": "v"}},
		{ID: "nulls", Vector: []float32{0, 1}, Metadata: Metadata{"x": nil}},
	}); err != nil {
		t.Fatal(err)
	}
	if it, _ := ix.Get("mixed"); len(it.Metadata) != 1 || it.Metadata["y"] != "v" {
		t.Fatalf("mixed: %+v", it.Metadata)
	}
	if it, _ := ix.Get("nulls"); it.Metadata != nil {
		t.Fatalf("nulls only: %#v, want nil", it.Metadata)
	}
	res, err := ix.Search([]float32{0, 1}, 2, 10, Filter{"y": "v"})
	if err != nil || len(res) != 1 || res[0].ID != "mixed" {
		t.Fatalf("filter y=v: %+v %v", res, err)
	}
	if a, b := AppendMetadata(nil, Metadata{"x": nil, "y": "v"}), AppendMetadata(nil, Metadata{"y": "v"}); string(a) != string(b) {
		t.Fatalf("null field encoded: %x vs %x", a, b)
	}
	if md, _, err := DecodeMetadata(AppendMetadata(nil, Metadata{"x": nil})); err != nil || md != nil {
		t.Fatalf("nulls only decode: %#v %v", md, err)
	}
}
