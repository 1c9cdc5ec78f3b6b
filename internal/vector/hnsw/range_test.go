package hnsw

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func fp(x float64) *float64 { return &x }

// TestRangeFilterNeverStarves: range filters (Qdrant's range) of every
// selectivity — a range matching every item (the filtered graph search
// with every bit set), 50% and 5% (the filtered graph), 0.1% (the exact
// scan) — alone and ANDed with equality and any-of fields: every hit
// satisfies the range as the test computes it from the item's number,
// recall against the exact answer, and never fewer than min(k, matches).
// Items whose field is a string, a bool or absent never match.
func TestRangeFilterNeverStarves(t *testing.T) {
	const n = 20000
	vecs := clustered(n, 24, 6)
	ix := build(t, Params{Dims: 24, M: 16, EfConstruction: 100}, vecs, func(i int) Metadata {
		md := Metadata{"x": float64(i), "cat": fmt.Sprint(i % 7), "half": i%2 == 0}
		switch i % 100 {
		case 3:
			md["x"] = fmt.Sprint(i) // a string, never in a range
		case 4:
			md["x"] = true
		case 5:
			delete(md, "x")
		}
		return md
	})
	num := func(i int) (float64, bool) {
		switch i % 100 {
		case 3, 4, 5:
			return 0, false
		}
		return float64(i), true
	}
	queries := clustered(50, 24, 7)
	for _, tc := range []struct {
		name string
		f    Filter
		pred func(i int) bool
	}{
		{"all", Filter{"x": Range{Gte: fp(-1)}}, func(i int) bool { _, ok := num(i); return ok }},
		{"50% lt", Filter{"x": map[string]any{"lt": json.Number("10000")}}, func(i int) bool { x, ok := num(i); return ok && x < 10000 }},
		{"5% gt lte", Filter{"x": map[string]any{"gt": 1000.0, "lte": json.Number("2000")}}, func(i int) bool { x, ok := num(i); return ok && x > 1000 && x <= 2000 }},
		{"0.1% gte lt", Filter{"x": &Range{Gte: fp(500), Lt: fp(520)}}, func(i int) bool { x, ok := num(i); return ok && x >= 500 && x < 520 }},
		{"range and eq", Filter{"x": Range{Lt: fp(10000)}, "cat": "3"}, func(i int) bool { x, ok := num(i); return ok && x < 10000 && i%7 == 3 }},
		{"range and in", Filter{"x": Range{Gte: fp(5000)}, "cat": []any{"1", "2"}, "half": true}, func(i int) bool {
			x, ok := num(i)
			return ok && x >= 5000 && (i%7 == 1 || i%7 == 2) && i%2 == 0
		}},
		{"fractional", Filter{"x": Range{Gt: fp(99.5), Lt: fp(103.5)}}, func(i int) bool { x, ok := num(i); return ok && x > 99.5 && x < 103.5 }},
		{"empty", Filter{"x": Range{Gt: fp(5), Lt: fp(5)}}, func(int) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			matching := 0
			for i := range n {
				if tc.pred(i) {
					matching++
				}
			}
			if r := recallAt(t, ix, queries, 10, 160, tc.f); r < 0.95 {
				t.Fatalf("recall %.3f < 0.95", r)
			}
			for _, k := range []int{10, 40} {
				for _, q := range queries[:10] {
					res, err := ix.Search(q, k, 64, tc.f)
					if err != nil {
						t.Fatal(err)
					}
					if len(res) != min(k, matching) {
						t.Fatalf("k %d: got %d results, %d match", k, len(res), matching)
					}
					for _, r := range res {
						var i int
						fmt.Sscanf(r.ID, "id%d", &i)
						if !tc.pred(i) {
							t.Fatalf("hit %s (metadata %v) does not pass the filter", r.ID, r.Metadata)
						}
					}
				}
			}
			// Scroll applies the same filter item by item.
			got, more, err := ix.Scroll("", n, tc.f, false)
			if err != nil || more || len(got) != matching {
				t.Fatalf("scroll: %d items (more %v, %v), %d match", len(got), more, err, matching)
			}
		})
	}
}

// TestRangeFilterInvalid: a range that is no range is errs.Invalid.
func TestRangeFilterInvalid(t *testing.T) {
	ix := build(t, Params{Dims: 2}, [][]float32{{1, 0}}, func(int) Metadata { return Metadata{"x": 1.0} })
	for _, f := range []Filter{
		{"x": map[string]any{}},
		{"x": map[string]any{"between": json.Number("1")}},
		{"x": map[string]any{"gt": "1"}},
		{"x": map[string]any{"gt": true}},
		{"x": map[string]any{"gt": nil}},
		{"x": map[string]any{"gt": map[string]any{"gt": json.Number("1")}}},
		{"x": map[string]any{"gt": json.Number("9007199254740993")}},
		{"x": []any{map[string]any{"gt": json.Number("1")}}},
		{"x": Range{}},
		{"x": Range{Gt: fp(inf())}},
		{"x": (*Range)(nil)},
	} {
		if _, err := ix.Search([]float32{1, 0}, 1, 0, f); err == nil || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("filter %v: %v, want invalid naming the field", f, err)
		}
		if _, _, err := ix.Scroll("", 1, f, false); err == nil {
			t.Errorf("scroll filter %v: accepted", f)
		}
	}
}

func inf() float64 { var z float64; return 1 / z }

// TestScrollOrderAndPages: every live item once, in id order, across
// pages of every size; deletes and re-upserts between pages; a filter.
func TestScrollOrderAndPages(t *testing.T) {
	vecs := clustered(1000, 8, 3)
	ix := build(t, Params{Dims: 8}, vecs, func(i int) Metadata { return Metadata{"i": float64(i)} })
	var want []string
	for i := range 1000 {
		want = append(want, fmt.Sprintf("id%d", i))
	}
	slices.Sort(want)
	for _, limit := range []int{1, 7, 100, 999, 1000, 5000} {
		var got []string
		after := ""
		for {
			page, more, err := ix.Scroll(after, limit, nil, limit == 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			for _, it := range page {
				got = append(got, it.ID)
				if (it.Vector != nil) != (limit == 7) {
					t.Fatalf("limit %d: vector %v", limit, it.Vector)
				}
			}
			if !more {
				break
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: %d ids, want %d in order", limit, len(got), len(want))
		}
	}
	if _, err := ix.Delete([]string{"id5", "id500"}); err != nil {
		t.Fatal(err)
	}
	page, more, _ := ix.Scroll("id499", 2, nil, false)
	if !more || len(page) != 2 || page[0].ID != "id50" || page[1].ID != "id501" {
		t.Fatalf("after a delete: %v %v", page, more)
	}
	page, more, _ = ix.Scroll("id999", 5, Filter{"i": Range{Gte: fp(990)}}, false)
	if more || len(page) != 0 {
		t.Fatalf("past the last id: %v %v", page, more)
	}
	page, more, _ = ix.Scroll("", 3, Filter{"i": Range{Gte: fp(990)}}, false)
	if !more || len(page) != 3 || page[0].ID != "id990" || page[2].ID != "id992" {
		t.Fatalf("filtered: %v %v", page, more)
	}
}
