package vector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestLostLogKeepsNewWrites: vectord's data_dir (its write-ahead log) is
// lost — a new container without its volume, a new host — while the
// snapshots in storaged survive. The new log numbered its records from 1
// again, below the sequence numbers the snapshots cover: every write after
// the start looked covered by the index's snapshot, so no snapshot pass
// wrote it and a restart's replay skipped it — acknowledged writes were
// lost. The log now continues after the highest sequence number a
// snapshot covers.
func TestLostLogKeepsNewWrites(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	s := openStore(t, objects, dir)
	if _, err := s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := s.Upsert(ctx, "p", []Item{{ID: "old", Vector: []float32{1, float32(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil { // snapshot at seq 21, the log truncated
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "vectord.wal")); err != nil { // the data_dir lost
		t.Fatal(err)
	}
	s2 := openStore(t, objects, dir)
	if _, err := s2.Upsert(ctx, "p", []Item{{ID: "new", Vector: []float32{0, 1}}}); err != nil {
		t.Fatal(err)
	}
	s2.crash() // only the log has it
	s3 := openStore(t, objects, dir)
	if _, err := s3.GetItem(ctx, "p", "new"); err != nil {
		t.Fatalf("an acknowledged write after the log was lost, after a crash: %v", err)
	}
	if _, err := s3.Upsert(ctx, "p", []Item{{ID: "new2", Vector: []float32{0, 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := s3.Close(ctx); err != nil { // a graceful stop: a last snapshot
		t.Fatal(err)
	}
	s4 := openStore(t, objects, dir)
	defer s4.Close(ctx)
	for _, id := range []string{"old", "new", "new2"} {
		if _, err := s4.GetItem(ctx, "p", id); err != nil {
			t.Fatalf("item %s after a graceful restart: %v", id, err)
		}
	}
}
