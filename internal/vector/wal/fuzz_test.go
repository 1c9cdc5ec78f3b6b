package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"lakehouse-go/internal/vector/hnsw"
)

// FuzzReplay: any bytes as a log file replay without a panic; Open either
// refuses them or leaves a log that replays to the same records and accepts
// a further append.
func FuzzReplay(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	w, err := Open(seed)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		w.Append(upsert(i))
	}
	w.Append(&Record{Op: OpDelete, Index: "docs", IDs: []string{"a1"}})
	w.Append(&Record{Op: OpCreate, Index: "x", Data: []byte(`{"dims":3}`)})
	// A null metadata field as an upsert request carries it: encoded as absent.
	w.Append(&Record{Op: OpUpsert, Index: "x", Items: []hnsw.Item{{ID: "n", Vector: []float32{1, 2, 3}, Metadata: hnsw.Metadata{"x": nil, "y": "v"}}}})
	w.Close()
	good, _ := os.ReadFile(seed)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:24])
	f.Add([]byte{})
	f.Add([]byte("LHW1 not a log"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "wal")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Skip()
		}
		var first []Record
		if _, err := Replay(p, func(r Record) error { first = append(first, r); return nil }); err != nil {
			return
		}
		if len(data)%8 != 0 {
			return // Open and Append fsync: exercise them on a deterministic share of inputs
		}
		w, err := Open(p)
		if err != nil {
			return
		}
		if _, err := w.Append(&Record{Op: OpDelete, Index: "z", IDs: []string{"q"}}); err != nil {
			t.Fatalf("append after open: %v", err)
		}
		w.Close()
		var again []Record
		if _, err := Replay(p, func(r Record) error { again = append(again, r); return nil }); err != nil {
			t.Fatalf("replay after open+append: %v", err)
		}
		if len(again) != len(first)+1 {
			t.Fatalf("records %d then %d (+1 expected)", len(first), len(again))
		}
		for i := range first {
			if first[i].Seq != again[i].Seq || !bytes.Equal([]byte(first[i].Index), []byte(again[i].Index)) {
				t.Fatalf("record %d changed by open", i)
			}
		}
	})
}
