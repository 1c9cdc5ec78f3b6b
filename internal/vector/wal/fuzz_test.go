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

// FuzzReplayDamaged: any bytes as a log file replay through ReplayDamaged
// without a panic, each damaged frame reported between the records around
// it with the seqs it held; a log it replays OpenDamaged takes, appends to
// and truncates, and what the truncation keeps replays the same.
func FuzzReplayDamaged(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	w, err := Open(seed)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		w.Append(upsert(i))
	}
	w.Append(&Record{Op: OpCreate, Index: "x", Data: []byte(`{"dims":3}`)})
	w.Close()
	good, _ := os.ReadFile(seed)
	f.Add(good, uint64(2))
	mid := bytes.Clone(good)
	mid[headerLen+frameHdr+30] ^= 4
	f.Add(mid, uint64(0))
	f.Add(mid, uint64(1))
	f.Add(good[:len(good)-3], uint64(9))
	f.Add([]byte("LHW1 not a log"), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, through uint64) {
		p := filepath.Join(t.TempDir(), "wal")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Skip()
		}
		type ev struct {
			seq     uint64
			damaged bool
		}
		var first []ev
		last := uint64(0)
		_, err := ReplayDamaged(p, func(r Record) error {
			if r.Seq < last {
				t.Fatalf("seq %d after %d", r.Seq, last)
			}
			last = r.Seq + 1
			first = append(first, ev{seq: r.Seq})
			return nil
		}, func(d Damage) error {
			if d.Offset < headerLen || d.Bytes < 1 || d.FirstSeq < last || d.NextSeq < d.FirstSeq {
				t.Fatalf("damage %+v after seq %d", d, last)
			}
			last = d.NextSeq
			first = append(first, ev{seq: d.FirstSeq, damaged: true})
			return nil
		})
		if err != nil {
			return
		}
		if len(data)%4 != 0 {
			return // Open, Append and TruncateThrough fsync: a share of the inputs
		}
		w, err := OpenDamaged(p)
		if err != nil {
			t.Fatalf("OpenDamaged of a log ReplayDamaged read: %v", err)
		}
		defer w.Close()
		seq, err := w.Append(&Record{Op: OpDelete, Index: "z", IDs: []string{"q"}})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		through %= seq + 2
		if err := w.TruncateThrough(through); err != nil {
			t.Fatalf("TruncateThrough(%d): %v", through, err)
		}
		var again []ev
		if _, err := ReplayDamaged(p, func(r Record) error { again = append(again, ev{seq: r.Seq}); return nil },
			func(d Damage) error { again = append(again, ev{seq: d.FirstSeq, damaged: true}); return nil }); err != nil {
			t.Fatalf("replay after truncation: %v", err)
		}
		// Every record past through is kept, in order.
		var want []uint64
		for _, e := range append(first, ev{seq: seq}) {
			if !e.damaged && e.seq > through {
				want = append(want, e.seq)
			}
		}
		var got []uint64
		for _, e := range again {
			if !e.damaged {
				got = append(got, e.seq)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("kept %v, want %v (through %d)", got, want, through)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("kept %v, want %v (through %d)", got, want, through)
			}
		}
	})
}
