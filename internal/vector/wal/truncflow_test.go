package wal

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// TestKill9DuringTruncate runs a child process (this test binary) that
// appends from four goroutines while another truncates the log again and
// again, printing each acknowledged seq and each truncation point before
// it starts; it is killed with SIGKILL mid-stream. The log it leaves
// opens and holds every acknowledged record after the last truncation
// point printed, exactly once and in order.
func TestKill9DuringTruncate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for round := range 4 {
		path := filepath.Join(t.TempDir(), "wal")
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringTruncateChild$", "-test.v")
		cmd.Env = append(os.Environ(), "WAL_KILL9_TRUNC_PATH="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[uint64]string{}
		var through uint64
		truncs := 0
		sc := bufio.NewScanner(out)
		killAt := 400 + round*300
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "ack":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				acked[seq] = f[2]
			case len(f) == 2 && f[0] == "trunc":
				through, _ = strconv.ParseUint(f[1], 10, 64)
				truncs++
			}
			if len(acked) == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if len(acked) < killAt || truncs == 0 {
			t.Fatalf("child acked %d records, started %d truncations", len(acked), truncs)
		}
		w, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		got := map[uint64]string{}
		var prev uint64
		info, err := Replay(path, func(r Record) error {
			if _, dup := got[r.Seq]; dup || (prev != 0 && r.Seq != prev+1) {
				return fmt.Errorf("seq %d after %d", r.Seq, prev)
			}
			prev = r.Seq
			got[r.Seq] = r.Items[0].ID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for seq, id := range acked {
			if seq > through && got[seq] != id {
				t.Fatalf("acked seq %d (%s) lost after kill -9 (truncating through %d); replayed %d records", seq, id, through, info.Records)
			}
		}
		t.Logf("round %d: %d acked, %d truncations, last through %d, %d replayed", round, len(acked), truncs, through, info.Records)
	}
}

func TestKill9DuringTruncateChild(t *testing.T) {
	path := os.Getenv("WAL_KILL9_TRUNC_PATH")
	if path == "" {
		t.Skip("helper for TestKill9DuringTruncate")
	}
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deadline := time.Now().Add(20 * time.Second)
	go func() {
		for time.Now().Before(deadline) {
			if s := w.NextSeq(); s > 30 {
				mu.Lock()
				fmt.Fprintf(os.Stdout, "trunc %d\n", s-30)
				mu.Unlock()
				if err := w.TruncateThrough(s - 30); err != nil {
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	appendAndAck(w, &mu, deadline)
}

// TestCloseWaitsForTruncate: Close while a TruncateThrough is between its
// rewrite and its rename returned at once, so the rename could land after
// a new WAL was opened on the old file (a Store restarted in the same
// process): that WAL's appends went to a file no longer named by the log
// and were gone at the next open. Close now waits for the truncation, and
// a log opened after it keeps what it appends.
func TestCloseWaitsForTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := w.Append(upsert(i)); err != nil {
			t.Fatal(err)
		}
	}
	held, release := make(chan struct{}), make(chan struct{})
	truncHook = func(stage string) {
		if stage == "dirsync" {
			close(held)
			<-release
		}
	}
	defer func() { truncHook = nil }()
	truncated := make(chan error, 1)
	go func() { truncated <- w.TruncateThrough(10) }()
	<-held
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	var closeErr error
	early := false
	select {
	case closeErr = <-closed:
		early = true
		t.Errorf("Close returned (%v) with a truncation under way", closeErr)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-truncated; err != nil {
		t.Fatal(err)
	}
	if !early {
		closeErr = <-closed
	}
	if closeErr != nil {
		t.Fatal(closeErr)
	}
	w2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := w2.Append(upsert(100))
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	var seqs []uint64
	for _, r := range func() []Record { r, _ := replayAll(t, path); return r }() {
		seqs = append(seqs, r.Seq)
	}
	if len(seqs) == 0 || seqs[len(seqs)-1] != seq || seqs[0] != 11 || len(seqs) != 11 {
		t.Errorf("after the reopen the log holds %v, want 11..20 and %d", seqs, seq)
	}
}
