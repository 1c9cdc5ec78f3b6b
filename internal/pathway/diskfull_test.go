package pathway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
)

// fullDisk writes half of each write and then fails as a full disk does
// (a short write with ENOSPC) while full is set.
type fullDisk struct {
	inner journal.WriteSyncer
	full  atomic.Bool
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if d.full.Load() {
		n, _ := d.inner.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: "state.jsonl", Err: syscall.ENOSPC}
	}
	return d.inner.Write(p)
}

func (d *fullDisk) Sync() error { return d.inner.Sync() }

// TestWritesResumeAfterDiskFull: a full disk refuses writes (503 naming
// the reason, /health's check failing) and leaves half a line in
// state.jsonl; once the disk takes writes again they succeed without a
// restart (they were refused until one), the half line is gone, and a
// restart replays exactly the acknowledged writes.
func TestWritesResumeAfterDiskFull(t *testing.T) {
	ctx := context.Background()
	no := false
	path := filepath.Join(t.TempDir(), "state.jsonl")
	d := &fullDisk{}
	n := 0
	s, _, err := Open(ctx, Options{Path: path, Embedder: embedder(t),
		NewID: func() string { n++; return fmt.Sprintf("m%03d", n) },
		wrapJournal: func(w journal.WriteSyncer) journal.WriteSyncer {
			d.inner = w
			return d
		}})
	if err != nil {
		t.Fatal(err)
	}
	add := func(text string) error {
		_, err := s.Add(ctx, AddRequest{Messages: text, Infer: &no, Scope: Scope{UserID: "u"}})
		return err
	}
	if err := add("before the disk filled"); err != nil {
		t.Fatal(err)
	}
	d.full.Store(true)
	for i := 0; i < 3; i++ {
		err := add(fmt.Sprint("refused ", i))
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "no space left on device") {
			t.Fatalf("write on a full disk: %v", err)
		}
		if _, err := s.AppendTrace(ctx, TraceRequest{RunID: "r", Steps: []Step{{Type: "llm"}}}); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("trace on a full disk: %v", err)
		}
	}
	if err := s.JournalFailed(); err == nil || !strings.Contains(errs.Message(err), "no space left on device") {
		t.Fatalf("health check while the disk is full: %v", err)
	}
	d.full.Store(false)
	if err := add("after space was freed"); err != nil {
		t.Fatalf("write after the disk took writes again: %v", err)
	}
	if _, err := s.AppendTrace(ctx, TraceRequest{RunID: "r", Steps: []Step{{Type: "tool"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.JournalFailed(); err != nil {
		t.Fatalf("health check after recovery: %v", err)
	}
	before := snapshot(t, s)
	if !strings.Contains(before, "before the disk filled") || !strings.Contains(before, "after space was freed") || strings.Contains(before, "refused") {
		t.Fatalf("state after recovery:\n%s", before)
	}
	s.Close(ctx)
	s2 := open(t, path) // fails on a damaged line: the half-written one
	defer s2.Close(ctx)
	if after := snapshot(t, s2); after != before {
		t.Fatalf("replay differs:\n%s\n---\n%s", before, after)
	}
}
