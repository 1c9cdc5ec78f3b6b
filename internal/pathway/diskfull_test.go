package pathway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
)

// fullDisk writes half of each write and then fails as a full disk does
// (a short write with ENOSPC) while full is set.
type fullDisk struct {
	inner    journal.WriteSyncer
	full     atomic.Bool
	syncFail atomic.Bool // writes land whole, fsync fails (EIO)
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if d.full.Load() {
		n, _ := d.inner.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: "state.jsonl", Err: syscall.ENOSPC}
	}
	return d.inner.Write(p)
}

func (d *fullDisk) Sync() error {
	if d.syncFail.Load() {
		return &os.PathError{Op: "fsync", Path: "state.jsonl", Err: syscall.EIO}
	}
	return d.inner.Sync()
}

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

// TestDiskFullFlapping: writers race a disk that fills and frees at
// random; after a clean restart every acknowledged write is there and no
// refused one (whole lines of a refused group were replayed before the
// journal was cut back at Close).
func TestDiskFullFlapping(t *testing.T) {
	ctx := context.Background()
	no := false
	path := filepath.Join(t.TempDir(), "state.jsonl")
	d := &fullDisk{}
	var n atomic.Int64
	s, _, err := Open(ctx, Options{Path: path, Embedder: embedder(t),
		NewID: func() string { return fmt.Sprintf("m%05d", n.Add(1)) },
		wrapJournal: func(w journal.WriteSyncer) journal.WriteSyncer {
			d.inner = w
			return d
		}})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 60
	var mu sync.Mutex
	acked := map[string]bool{}
	refused := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // the disk flaps
		r := rand.New(rand.NewPCG(5, 6))
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.full.Store(r.IntN(3) == 0)
			time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				text := fmt.Sprintf("note %d of writer %d", i, w)
				_, err := s.Add(ctx, AddRequest{Messages: text, Infer: &no, Scope: Scope{UserID: fmt.Sprint("u", w)}})
				mu.Lock()
				if err == nil {
					acked[text] = true
				} else if errs.Is(err, errs.Unavailable) {
					refused[text] = true
				} else {
					t.Errorf("%s: %v", text, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	// The last write refused by a failed fsync, its line whole in the
	// file: Close must cut it, or the restart replays it.
	d.full.Store(false)
	d.syncFail.Store(true)
	if err := add(ctx, s, "refused at the end"); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("write on a full disk: %v", err)
	}
	refused["refused at the end"] = true
	s.Close(ctx)
	if len(acked) == 0 || len(refused) < 2 {
		t.Fatalf("%d acknowledged, %d refused: the disk did not flap", len(acked), len(refused))
	}
	s2 := open(t, path)
	defer s2.Close(ctx)
	got := map[string]bool{}
	for w := 0; w < writers; w++ {
		lr, err := s2.List(ctx, Scope{UserID: fmt.Sprint("u", w)}, ListOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range lr.Results {
			got[m.Memory] = true
		}
	}
	lr, _ := s2.List(ctx, Scope{UserID: "u"}, ListOptions{})
	for _, m := range lr.Results {
		got[m.Memory] = true
	}
	for text := range acked {
		if !got[text] {
			t.Errorf("acknowledged write lost: %q", text)
		}
	}
	for text := range refused {
		if got[text] {
			t.Errorf("refused write present after restart: %q", text)
		}
	}
	t.Logf("%d acknowledged, %d refused", len(acked), len(refused))
}

func add(ctx context.Context, s *Store, text string) error {
	no := false
	_, err := s.Add(ctx, AddRequest{Messages: text, Infer: &no, Scope: Scope{UserID: "u"}})
	return err
}
