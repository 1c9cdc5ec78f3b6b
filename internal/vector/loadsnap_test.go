package vector

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLoadSnapshotsReplayedLog: a start that replays many logged items
// (a kill -9 before the snapshot pass) takes a snapshot pass as soon as it
// serves, so the next start reads them from the snapshot instead of
// linking them into the graph again. vectord's first pass came a whole
// snapshot_interval after its start: one killed more often than that (the
// chaos test: every ~35 s, the interval 1 min) never took one, and every
// start replayed the whole log, growing — 7-16 s for 40-90k vectors on 2
// cores (ADR-122). A start that replays only a few items keeps the interval.
func TestLoadSnapshotsReplayedLog(t *testing.T) {
	ctx := context.Background()
	objects := newObjects(t)
	dir := t.TempDir()
	walPath := filepath.Join(dir, walFile)
	s := openStore(t, objects, dir)
	if _, err := s.CreateIndex(ctx, "many", CreateIndexRequest{Dims: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIndex(ctx, "few", CreateIndexRequest{Dims: 8}); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(ctx); err != nil { // both stored empty, the log cut
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	all := items(r, 0, loadSnapshotItems+200, 8)
	for i := 0; i < len(all); i += 400 {
		if _, err := s.Upsert(ctx, "many", all[i:min(i+400, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	s.crash() // kill -9: every item only in the log

	run := func(s *Store) (stop func()) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.Run(rctx, time.Hour, 0) }() // vectord's loop; the interval never comes
		return func() { cancel(); <-done }
	}
	s = openStore(t, objects, dir)
	if got := s.OpsSinceSnapshot(); got != int64(len(all)) {
		t.Fatalf("ops since the snapshot after the load = %d, want the %d replayed items", got, len(all))
	}
	stop := run(s)
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(walPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 24 { // the header alone: a snapshot covers everything
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after a start that replayed %d items the log is still %d bytes: no snapshot pass", len(all), fi.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	s.crash()

	s = openStore(t, objects, dir) // nothing to replay now: read from the snapshot
	if got := s.OpsSinceSnapshot(); got != 0 {
		t.Fatalf("the second start replayed %d items", got)
	}
	info, err := s.GetIndex(ctx, "many")
	if err != nil || info.Stats.Count != len(all) {
		t.Fatalf("after the second start: %+v %v", info, err)
	}
	// A few items: the interval rule as before, no pass at once.
	if _, err := s.Upsert(ctx, "few", items(r, 0, 10, 8)); err != nil {
		t.Fatal(err)
	}
	s.crash()
	s = openStore(t, objects, dir)
	stop = run(s)
	time.Sleep(2500 * time.Millisecond) // two of Run's 1 s ticks
	stop()
	if fi, err := os.Stat(walPath); err != nil || fi.Size() == 24 {
		t.Fatalf("a start that replayed 10 items took a snapshot pass at once (log %v, %v)", fi.Size(), err)
	}
	if got := s.OpsSinceSnapshot(); got != 10 {
		t.Fatalf("ops since the snapshot = %d, want 10", got)
	}
	s.crash()
}
