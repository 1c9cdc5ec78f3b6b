package wal

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// replayFile replays the log held by f (which may no longer have a name)
// and returns the seqs it holds.
func replayFile(t *testing.T, f *os.File) []uint64 {
	t.Helper()
	var seqs []uint64
	if _, err := scan(f, func(r Record) error { seqs = append(seqs, r.Seq); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// holdsOnce reports a problem unless seqs holds every seq in want exactly
// once and nothing at or below through.
func holdsOnce(seqs []uint64, want map[uint64]bool, through uint64) string {
	seen := map[uint64]int{}
	for _, s := range seqs {
		seen[s]++
		if s <= through {
			return "a truncated record is still there"
		}
	}
	for s := range want {
		if seen[s] != 1 {
			return "an acknowledged record is not there exactly once"
		}
	}
	return ""
}

// TestAppendsFlowDuringTruncate: TruncateThrough's fsyncs (the rewrite's,
// then the directory's after the rename) are held by a hook until an
// append completes; appends no longer wait for the rewrite (ADR-143). At
// each point the log under its name and the old file, the two a kill -9
// could leave, hold every acknowledged record once; after it, and after a
// reopen, the log holds the records after the truncation point once each.
func TestAppendsFlowDuringTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	acked := map[uint64]bool{}
	for i := range 200 {
		seq, err := w.Append(upsert(i))
		if err != nil {
			t.Fatal(err)
		}
		acked[seq] = true
	}
	const through = 150
	for s := range acked {
		if s <= through {
			delete(acked, s)
		}
	}
	oldFile, err := os.Open(path) // the file the rename replaces
	if err != nil {
		t.Fatal(err)
	}
	defer oldFile.Close()
	stages := map[string]bool{}
	truncHook = func(stage string) {
		stages[stage] = true
		type result struct {
			seq uint64
			err error
		}
		done := make(chan result, 1)
		go func() {
			seq, err := w.Append(upsert(1000 + len(stages)))
			done <- result{seq, err}
		}()
		select {
		case r := <-done:
			if r.err != nil {
				t.Errorf("append during the truncation's %s: %v", stage, r.err)
				return
			}
			acked[r.seq] = true
		case <-time.After(5 * time.Second):
			// the append completes once the hook returns
			t.Errorf("an append waited over 5 s for the truncation's %s", stage)
			return
		}
		if stage != "dirsync" {
			return
		}
		// A kill -9 here leaves either name: both hold every
		// acknowledged record (the old one also those truncated).
		if p := holdsOnce(replayFile(t, oldFile), acked, 0); p != "" {
			t.Errorf("the old log during the directory's fsync: %s", p)
		}
		cur, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer cur.Close()
		if p := holdsOnce(replayFile(t, cur), acked, through); p != "" {
			t.Errorf("the new log during the directory's fsync: %s", p)
		}
	}
	defer func() { truncHook = nil }()
	if err := w.TruncateThrough(through); err != nil {
		t.Fatal(err)
	}
	truncHook = nil
	if !stages["sync"] || !stages["dirsync"] {
		t.Fatalf("hook stages seen: %v", stages)
	}
	seq, err := w.Append(upsert(2000))
	if err != nil {
		t.Fatal(err)
	}
	acked[seq] = true
	recs, _ := replayAll(t, path)
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	if p := holdsOnce(seqs, acked, through); p != "" || len(seqs) != len(acked) {
		t.Fatalf("after the truncation: %s (%d records, %d acknowledged)", p, len(seqs), len(acked))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if got, want := w2.NextSeq(), seq+1; got != want {
		t.Fatalf("next seq after reopening: %d, want %d", got, want)
	}
}

// TestTruncateWhileAppending: four goroutines append while TruncateThrough
// runs again and again (run it with -race); the log then holds every
// record after the last truncation point once, in order, and reopens.
func TestTruncateWhileAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[uint64]bool{}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				seq, err := w.Append(upsert(g*1000 + i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[seq] = true
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	truncated := make(chan uint64)
	go func() {
		var through uint64
		for {
			select {
			case <-stop:
				truncated <- through
				return
			default:
			}
			s := w.NextSeq() - 1
			if s > 20 {
				if err := w.TruncateThrough(s - 20); err != nil {
					t.Error(err)
				}
				through = s - 20
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	through := <-truncated
	if through == 0 {
		t.Fatal("no truncation ran")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for s := range acked {
		if s <= through {
			delete(acked, s)
		}
	}
	recs, _ := replayAll(t, path)
	var seqs []uint64
	for i, r := range recs {
		seqs = append(seqs, r.Seq)
		if i > 0 && r.Seq != recs[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", r.Seq, recs[i-1].Seq)
		}
	}
	if p := holdsOnce(seqs, acked, through); p != "" || len(seqs) != len(acked) {
		t.Fatalf("%s: %d records, %d acknowledged after %d", p, len(seqs), len(acked), through)
	}
	w2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
}
