package vector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRecreatedIndexDoesNotStallTruncation: a log holding an index's drop
// and its create again (a DELETE then a PUT of one name, then a crash
// before a snapshot pass had cut the log) was replayed into a "drop still
// pending" for an index that exists again — which nothing ever cleared
// (its object removal skips a re-created name), so every later snapshot
// pass kept the log from that drop on: the log grew without bound until a
// restart found it covered. Found by TestCrashTorture (a kill while an
// index is dropped and created again).
func TestRecreatedIndexDoesNotStallTruncation(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	walPath := filepath.Join(dir, "vectord.wal")
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "x", CreateIndexRequest{Dims: 2})
	s.Upsert(ctx, "x", []Item{{ID: "old", Vector: []float32{1, 0}}})
	if err := s.DeleteIndex(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIndex(ctx, "x", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	s.Upsert(ctx, "x", []Item{{ID: "new", Vector: []float32{0, 1}}})
	s.crash()

	s2 := openStore(t, objects, dir)
	defer s2.Close(ctx)
	if info, err := s2.GetIndex(ctx, "x"); err != nil || info.Count != 1 {
		t.Fatalf("x after the restart: %+v %v", info, err)
	}
	for range 2 {
		if err := s2.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(walPath); err != nil || st.Size() != 24 {
		t.Fatalf("the log is not cut back behind the snapshot of the re-created index: %d bytes, %v", st.Size(), err)
	}
	if _, err := s2.GetItem(ctx, "x", "new"); err != nil {
		t.Fatal(err)
	}
}
