package vector

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// syncBuf is a log sink the Store's goroutines may write to at once.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestHeldReloadWarnsOnlyWhenOlder: a held index (its snapshot damaged,
// the log no longer holding its creation) reloaded from a restored backup
// warned "snapshot older than the write-ahead log" whenever the log started
// after the backup's seq — which is normal: other indexes' snapshots cut
// the log behind them. Restoring the very snapshot that was damaged is no
// loss and now loads without the warning; a backup older than the damaged
// snapshot, whose changes after it the log no longer holds, warns, naming
// both seqs; a damaged header (the replaced snapshot's seq unknown) warns
// as before (ADR-122).
func TestHeldReloadWarnsOnlyWhenOlder(t *testing.T) {
	ctx := context.Background()
	put := func(t *testing.T, objects storage.Store, b []byte) {
		t.Helper()
		if _, err := objects.Put(ctx, snapshotKey("p"), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		older  bool // restore a backup taken before p's last change
		header bool // the damage is in the header (its seq unreadable)
		warn   string
		items  int
	}{
		{name: "the damaged snapshot restored", items: 2},
		{name: "an older backup restored", older: true, items: 1, warn: "older than the one it replaces"},
		{name: "damaged header", header: true, items: 2, warn: "older than the write-ahead log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must := func(_ any, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			objects, dir := newObjects(t), t.TempDir()
			s := openStore(t, objects, dir)
			must(s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 2}))
			must(s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2}))
			must(s.Upsert(ctx, "p", []Item{{ID: "a", Vector: []float32{1, 0}}}))
			if err := s.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			early := objectBytes(t, objects, snapshotKey("p"))
			must(s.Upsert(ctx, "p", []Item{{ID: "b", Vector: []float32{0, 1}}}))
			if err := s.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			last := objectBytes(t, objects, snapshotKey("p"))
			// The other index's writes and snapshots cut the log well past
			// p's snapshots: the normal state of a log.
			for i := range 5 {
				must(s.Upsert(ctx, "other", []Item{{ID: "o", Vector: []float32{1, float32(i)}}}))
				if err := s.Snapshot(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if first := s.w.NextSeq(); first <= s.indexes["p"].snapSeq+1 {
				t.Fatalf("the log was not cut past p's snapshot (next seq %d)", first)
			}
			s.crash()
			bad := bytes.Clone(last)
			if tc.header {
				bad[0] ^= 0x20 // the magic: the seq is not read
			} else {
				bad[len(bad)/2] ^= 0x20
			}
			put(t, objects, bad)

			var logged syncBuf
			s2, err := Open(ctx, slog.New(slog.NewTextHandler(&logged, nil)), objects, dir, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close(ctx)
			if _, err := s2.GetIndex(ctx, "p"); errs.StatusOf(err) != 502 {
				t.Fatalf("p with its snapshot damaged: %v", err)
			}
			restore := last
			if tc.older {
				restore = early
			}
			put(t, objects, restore)
			time.Sleep(heldRecheck + 100*time.Millisecond)
			info, err := s2.GetIndex(ctx, "p")
			if err != nil || info.Count != tc.items {
				t.Fatalf("p after the restore: %+v %v", info, err)
			}
			out := logged.String()
			if !strings.Contains(out, "held index loaded") {
				t.Fatalf("no reload logged:\n%s", out)
			}
			warned := strings.Contains(out, "held index loaded from a snapshot older")
			switch {
			case tc.warn == "" && warned:
				t.Fatalf("restoring the snapshot that was damaged (nothing lost) warned:\n%s", out)
			case tc.warn != "" && !strings.Contains(out, tc.warn):
				t.Fatalf("want a warning %q:\n%s", tc.warn, out)
			}
		})
	}
}
