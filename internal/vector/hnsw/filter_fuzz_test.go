package hnsw

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// FuzzFilter: any JSON object as a search or scroll filter (equality,
// any-of lists, ranges). It compiles or is errs.Invalid, never a panic;
// when it compiles, the inverted index (search's matching set), the same
// through range indexes (a second index with every range field indexed)
// and the per-item check (scroll's) select the same items of a fixed index.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`{"n":{"gte":1,"lt":3}}`, `{"n":{"gt":1.5}}`, `{"n":{"lte":-0}}`, `{"s":"a","n":{"lt":2}}`,
		`{"n":[1,2]}`, `{"b":true}`, `{"n":{}}`, `{"n":{"gt":"1"}}`, `{"n":{"between":1}}`,
		`{"n":{"gt":9007199254740993}}`, `{"n":[{"gt":1}]}`, `{"":1}`, `{"n":null}`, `{"s":{"gte":1}}`,
	} {
		f.Add([]byte(s))
	}
	ix, err := New(Params{Dims: 2})
	if err != nil {
		f.Fatal(err)
	}
	var items []Item
	for i := range 40 {
		md := Metadata{"n": float64(i%9) / 2, "s": string(rune('a' + i%5)), "b": i%3 == 0}
		switch i % 7 {
		case 1:
			md["n"] = "1" // a string where others hold numbers
		case 2:
			delete(md, "n")
		case 3:
			md["s"] = float64(i)
		}
		items = append(items, Item{ID: fmt.Sprintf("i%02d", i), Vector: []float32{float32(i + 1), 1}, Metadata: md})
	}
	if err := ix.Upsert(items); err != nil {
		f.Fatal(err)
	}
	ixr, err := New(Params{Dims: 2})
	if err != nil {
		f.Fatal(err)
	}
	if err := ixr.Upsert(items); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var flt Filter
		if dec.Decode(&flt) != nil || len(flt) == 0 {
			return
		}
		cf, err := compileFilter("fuzz", flt)
		if err != nil {
			return
		}
		var byPost, byItem []string
		for _, s := range ix.match(cf) {
			byPost = append(byPost, ix.ids[s])
		}
		for s, id := range ix.ids {
			if id != "" && cf.matches(ix.meta[s]) {
				byItem = append(byItem, id)
			}
		}
		slices.Sort(byPost)
		if !slices.Equal(byPost, byItem) {
			t.Fatalf("filter %s: the index selects %v, the per-item check %v", b, byPost, byItem)
		}
		old := rangeIndexMin
		rangeIndexMin = 0
		ixr.buildRanges(cf)
		rangeIndexMin = old
		var byRange []string
		for _, s := range ixr.match(cf) {
			byRange = append(byRange, ixr.ids[s])
		}
		slices.Sort(byRange)
		if !slices.Equal(byRange, byItem) {
			t.Fatalf("filter %s: the range indexes select %v, the per-item check %v", b, byRange, byItem)
		}
		page, _, err := ix.Scroll("", 100, flt, false)
		if err != nil || len(page) != len(byItem) {
			t.Fatalf("filter %s: scroll %d items (%v), want %d", b, len(page), err, len(byItem))
		}
	})
}
