package keyword

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func ids(hs []Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func TestAnalyze(t *testing.T) {
	got := Analyze("The Forklift Drivers' union isn't Alice's; BOXES, policies and glasses")
	want := []string{"forklift", "driver", "union", "isn't", "alice", "boxe", "policy", "glasse"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestBM25(t *testing.T) {
	ix := New()
	ix.Add([]Doc{
		{"1", "Alice Forklift Operator"},
		{"2", "Bob Accountant"},
		{"3", "Carol Truck Driver"},
		{"4", "Dan forklift forklift mechanic and forklift trainer with a very long description of many other things"},
		{"5", "Eve Accountant"},
	})
	if got := ids(ix.Search("forklift", 10, nil)); !reflect.DeepEqual(got, []string{"1", "4"}) {
		t.Errorf("forklift: %v (short doc first: length normalisation)", got)
	}
	if got := ids(ix.Search("forklift driver", 10, nil)); len(got) != 3 {
		t.Errorf("forklift driver: %v", got)
	}
	// rare term outweighs common one
	if got := ids(ix.Search("bob accountant", 1, nil)); !reflect.DeepEqual(got, []string{"2"}) {
		t.Errorf("bob accountant: %v", got)
	}
	if got := ids(ix.Search("forklift", 10, func(id string) bool { return id == "4" })); !reflect.DeepEqual(got, []string{"4"}) {
		t.Errorf("allow: %v", got)
	}
	if got := ix.Search("the of and", 10, nil); len(got) != 0 {
		t.Errorf("stop words only: %v", got)
	}
	// replace and delete
	ix.Add([]Doc{{"1", "Alice Welder"}})
	if got := ids(ix.Search("forklift", 10, nil)); !reflect.DeepEqual(got, []string{"4"}) {
		t.Errorf("after replace: %v", got)
	}
	if n := ix.Delete([]string{"4", "nope"}); n != 1 || ix.Len() != 4 {
		t.Errorf("delete: %d, len %d", n, ix.Len())
	}
	if got := ix.Search("forklift", 10, nil); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
}

func TestSaveLoad(t *testing.T) {
	ix := New()
	ix.Add([]Doc{{"a", "red apple pie"}, {"b", "green apple"}, {"c", "red car"}, {"d", "blue sky"}})
	ix.Delete([]string{"c"})
	ix.Add([]Doc{{"b", "green pear"}})
	path := filepath.Join(t.TempDir(), "sub", "kw.lhkw")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"apple", "red", "green pear", "sky", "car"} {
		a, b := ix.Search(q, 10, nil), got.Search(q, 10, nil)
		if !reflect.DeepEqual(ids(a), ids(b)) {
			t.Errorf("%q: before %v, after load %v", q, a, b)
		}
		for i := range a {
			if d := a[i].Score - b[i].Score; d > 1e-9 || d < -1e-9 {
				t.Errorf("%q: score %v vs %v", q, a[i].Score, b[i].Score)
			}
		}
	}
	if got.Len() != 3 || got.Has("c") {
		t.Errorf("len %d, has c %v", got.Len(), got.Has("c"))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
	// every truncation and a flipped byte are detected
	b, _ := os.ReadFile(path)
	for _, n := range []int{0, 3, 5, len(b) / 2, len(b) - 1} {
		os.WriteFile(path, b[:n], 0o644)
		if _, err := Load(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated at %d: %v", n, err)
		}
	}
	b[len(b)/2] ^= 0x40
	os.WriteFile(path, b, 0o644)
	if _, err := Load(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped byte: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// TestTextSum: each document keeps the sum of the text it was indexed with,
// through a replace, Save and Load; an LHKW1 file (no sums) still loads,
// its sums unknown.
func TestTextSum(t *testing.T) {
	ix := New()
	ix.Add([]Doc{{ID: "a", Text: "first copy"}, {ID: "b", Text: "bee"}})
	ix.Add([]Doc{{ID: "a", Text: "second copy"}})
	if s, ok := ix.TextSum("a"); !ok || s != TextSum("second copy") || s == TextSum("first copy") {
		t.Fatalf("a: %x %v", s, ok)
	}
	if _, ok := ix.TextSum("zz"); ok {
		t.Fatal("sum of an absent id")
	}
	path := filepath.Join(t.TempDir(), "kw")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for id, txt := range map[string]string{"a": "second copy", "b": "bee"} {
		if s, ok := got.TextSum(id); !ok || s != TextSum(txt) {
			t.Errorf("loaded %s: %x %v", id, s, ok)
		}
	}

	// LHKW1: one doc "a" of 2 tokens, term "copy" in it.
	v1 := []byte("LHKW\x01\x01\x01a\x02\x01\x04copy\x01\x00\x01")
	v1 = binary.LittleEndian.AppendUint32(v1, crc32.Checksum(v1, castagnoli))
	old, err := decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := old.TextSum("a"); ok || !old.Has("a") || len(old.Search("copy", 5, nil)) != 1 {
		t.Errorf("LHKW1: sum known or doc lost")
	}
	old.Add([]Doc{{ID: "a", Text: "new"}})
	if s, ok := old.TextSum("a"); !ok || s != TextSum("new") {
		t.Errorf("LHKW1 doc added again: %x %v", s, ok)
	}
}

// TestSearchScoresAreDeterministic: the same query on the same index gives
// bit-identical scores every time. The query's terms used to be summed in
// map order, so a document's score changed in the last bit from one call
// to the next (found by FuzzLoad comparing a reloaded index's answers).
func TestSearchScoresAreDeterministic(t *testing.T) {
	ix := New()
	ix.Add([]Doc{
		{ID: "1", Text: "forklift operator night shift driver warehouse pallet truck loader"},
		{ID: "2", Text: "truck driver nights forklift forklift crane rigger"},
		{ID: "3", Text: "warehouse loader pallet pallet crane"},
	})
	q := "driver forklift night operator forklift driver warehouse pallet truck loader crane rigger shift"
	first := ix.Search(q, 10, nil)
	if len(first) != 3 {
		t.Fatalf("hits %v", first)
	}
	for i := 0; i < 200; i++ {
		if again := ix.Search(q, 10, nil); !reflect.DeepEqual(again, first) {
			t.Fatalf("call %d: %v, first call %v", i, again, first)
		}
	}
}

// TestTiesInIDOrder (ADR-174): documents that score the same come back in
// id order, as vectord orders its ties, whatever order they were indexed
// in; with k smaller than the tie, the smallest ids are kept. Ties used to
// come back in indexing order, so re-indexing the same rows in another
// order (or replacing one of them) reordered a tie.
func TestTiesInIDOrder(t *testing.T) {
	for _, order := range [][]string{{"c", "a", "d", "b"}, {"d", "c", "b", "a"}, {"a", "b", "c", "d"}} {
		ix := New()
		for _, id := range order {
			ix.Add([]Doc{{ID: id, Text: "same words here"}})
		}
		ix.Add([]Doc{{ID: "0", Text: "other text entirely"}})
		var got []string
		for _, h := range ix.Search("words", 10, nil) {
			got = append(got, h.ID)
		}
		if want := []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
			t.Errorf("indexed %v: hits %v, want %v", order, got, want)
		}
		got = got[:0]
		for _, h := range ix.Search("words", 2, nil) {
			got = append(got, h.ID)
		}
		if want := []string{"a", "b"}; !reflect.DeepEqual(got, want) {
			t.Errorf("indexed %v, k=2: hits %v, want %v", order, got, want)
		}
	}
}
