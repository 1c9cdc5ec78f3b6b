package wal

import (
	"bytes"
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

// TestDamagedLengthIsNotATornTail: a record whose length field is damaged
// points nowhere valid; the scan took it for a torn tail and Open cut it
// and every record after it — acknowledged records silently gone. The
// valid records after it are now found (resync): Replay and Open refuse
// the log as corrupt, ReplayDamaged steps over the damaged frame. A torn
// tail (a cut last frame, zeros or garbage after the last record) is still
// cut by Open.
func TestDamagedLengthIsNotATornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wal")
	w, _ := Open(path)
	for i := 1; i <= 4; i++ {
		w.Append(upsert(i))
	}
	w.Close()
	clean, _ := os.ReadFile(path)
	frame := int64(len(clean)-headerLen) / 4
	at := headerLen + frame // record 2
	for _, b := range []int64{0, 1, 2, 3} {
		data := bytes.Clone(clean)
		data[at+b] ^= 0x01 << b
		os.WriteFile(path, data, 0o644)
		if _, err := Replay(path, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("length byte %d: Replay: %v, want ErrCorrupt", b, err)
		}
		if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("length byte %d: Open: %v, want ErrCorrupt (it cut records 2-4)", b, err)
		}
		var seqs []uint64
		var got Damage
		info, err := ReplayDamaged(path, func(r Record) error { seqs = append(seqs, r.Seq); return nil }, func(d Damage) error { got = d; return nil })
		if err != nil || info.Damaged != 1 || len(seqs) != 3 || seqs[1] != 3 || seqs[2] != 4 ||
			got != (Damage{Offset: at, Bytes: frame, FirstSeq: 2, NextSeq: 3}) {
			t.Fatalf("length byte %d: ReplayDamaged: %v %+v %+v %v", b, seqs, got, info, err)
		}
	}
	for what, tail := range map[string][]byte{
		"cut":     clean[:len(clean)-5],
		"zeros":   append(bytes.Clone(clean), make([]byte, 300)...),
		"garbage": append(bytes.Clone(clean), []byte("\xff\xff\x00\x00 not a frame, not a frame at all.................")...),
		"header":  append(bytes.Clone(clean), clean[headerLen:headerLen+frameHdr+3]...), // a frame cut after its header
	} {
		os.WriteFile(path, tail, 0o644)
		w, err := Open(path)
		if err != nil {
			t.Fatalf("%s tail: %v", what, err)
		}
		w.Close()
		want := 4
		if what == "cut" {
			want = 3
		}
		if recs, info := replayAll(t, path); len(recs) != want || info.TornBytes != 0 {
			t.Fatalf("%s tail: %d records %+v", what, len(recs), info)
		}
	}
}
