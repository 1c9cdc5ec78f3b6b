package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReplayDamagedStepsOver: a damaged frame followed by valid ones is
// refused by Replay and Open, reported by ReplayDamaged in order (its
// offset, size and the seq it held) with the records after it replayed;
// OpenDamaged appends after the last record, and TruncateThrough keeps
// the damaged frame until seq passes it, then drops it.
func TestReplayDamagedStepsOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, _ := Open(path)
	for i := 1; i <= 4; i++ {
		w.Append(upsert(i))
	}
	w.Close()
	data, _ := os.ReadFile(path)
	frame := int64(len(data)-headerLen) / 4 // the four frames are of one size
	at := headerLen + frame                 // record 2
	data[at+frameHdr+20] ^= 1
	os.WriteFile(path, data, 0o644)
	if _, err := Replay(path, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Replay: %v, want ErrCorrupt", err)
	}
	var order []uint64 // record seqs, 0 for the damage
	var got Damage
	info, err := ReplayDamaged(path, func(r Record) error { order = append(order, r.Seq); return nil },
		func(d Damage) error { order = append(order, 0); got = d; return nil })
	if err != nil || info.Damaged != 1 || info.Records != 3 || info.TornBytes != 0 {
		t.Fatalf("ReplayDamaged: %+v %v", info, err)
	}
	if want := []uint64{1, 0, 3, 4}; len(order) != 4 || order[0] != 1 || order[1] != 0 || order[2] != 3 || order[3] != 4 {
		t.Fatalf("order %v, want %v", order, want)
	}
	if got != (Damage{Offset: at, Bytes: frame, FirstSeq: 2, NextSeq: 3}) {
		t.Fatalf("damage %+v", got)
	}
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	w, err = OpenDamaged(path)
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := w.Append(upsert(5)); err != nil || seq != 5 {
		t.Fatalf("append: %d %v", seq, err)
	}
	count := func() (int, int, uint64) {
		t.Helper()
		info, err := ReplayDamaged(path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return info.Records, info.Damaged, info.FirstSeq
	}
	if n, d, _ := count(); n != 4 || d != 1 {
		t.Fatalf("after the append: %d records, %d damaged", n, d)
	}
	if err := w.TruncateThrough(1); err != nil { // the damaged frame is first now
		t.Fatal(err)
	}
	if n, d, first := count(); n != 3 || d != 1 || first != 3 {
		t.Fatalf("after TruncateThrough(1): %d records, %d damaged, first %d", n, d, first)
	}
	if err := w.TruncateThrough(1); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	if err := w.TruncateThrough(3); err != nil { // passes it
		t.Fatal(err)
	}
	if n, d, first := count(); n != 2 || d != 0 || first != 4 {
		t.Fatalf("after TruncateThrough(3): %d records, %d damaged, first %d", n, d, first)
	}
	if seq, err := w.Append(upsert(6)); err != nil || seq != 6 {
		t.Fatalf("append: %d %v", seq, err)
	}
	w.Close()
	if recs, info := replayAll(t, path); len(recs) != 3 || info.LastSeq != 6 {
		t.Fatalf("replay at the end: %d records %+v", len(recs), info)
	}
	// No damaged frame left: Open takes the log again.
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
