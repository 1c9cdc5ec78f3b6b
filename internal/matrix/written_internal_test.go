package matrix

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix/keyword"
)

// FuzzWrittenJournal: whatever a damaged or torn journal holds (a last
// record without its newline included), the ids noted after it are read
// back, once each, except those the keyword index
// holds; reading never fails on the content.
func FuzzWrittenJournal(f *testing.F) {
	f.Add([]byte(""), "a\x00b\x00a", "b")
	f.Add([]byte("\"x\"\n\"y"), "y\x00z", "")
	f.Add([]byte("not json\n\"\\u00e9\"\n"), "\u00e9\x00line\nbreak\x00\"q\"", "line\nbreak")
	f.Add([]byte(strings.Repeat("z", 200_000)), "long", "x")
	f.Fuzz(func(t *testing.T, prior []byte, noted, held string) {
		m := &Matrix{opts: Options{Dir: t.TempDir()}}
		w := m.openWritten("ds")
		if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(w.path, prior, 0o644); err != nil {
			t.Fatal(err)
		}
		ids := strings.Split(noted, "\x00")
		if err := w.note(ids); err != nil {
			t.Fatal(err)
		}
		w.close()
		kw := keyword.New()
		var docs []keyword.Doc
		for _, id := range strings.Split(held, "\x00") {
			docs = append(docs, keyword.Doc{ID: id, Text: "text"})
		}
		kw.Add(docs)
		stale, err := w.stale(kw)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, id := range stale {
			if seen[id] || kw.Has(id) {
				t.Fatalf("stale %q twice or held by the keyword index: %q", id, stale)
			}
			seen[id] = true
		}
		for _, id := range ids {
			if !kw.Has(id) && !slices.Contains(stale, id) {
				t.Fatalf("noted id %q (not held) missing from %q", id, stale)
			}
		}
		if err := w.reset(); err != nil {
			t.Fatal(err)
		}
		if left, err := w.stale(kw); err != nil || len(left) != 0 {
			t.Fatalf("after reset: %q %v", left, err)
		}
	})
}
