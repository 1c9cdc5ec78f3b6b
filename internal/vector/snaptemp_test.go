package vector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestStartSweepsSnapshotTemps: a snapshot is encoded into snap-*.lhv1 in
// the WAL directory and removed after its upload; a vectord killed (-9)
// while encoding or uploading left the file for good — an index-sized file
// per kill, never swept. Start removes them (no snapshot of its own runs
// yet) and leaves every other file alone.
func TestStartSweepsSnapshotTemps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	objects := newObjects(t)
	s := openStore(t, objects, dir)
	if _, err := s.CreateIndex(ctx, "docs", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, "docs", []Item{{ID: "a", Vector: []float32{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	left := []string{"snap-123.lhv1", "snap-9.lhv1"}
	kept := []string{"notes.txt", "snap-1.lhv1.keep"}
	for _, n := range append(left, kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, objects, dir)
	defer s.Close(ctx)
	for _, n := range left {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after start (%v)", n, err)
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if it, err := s.GetItem(ctx, "docs", "a"); err != nil || it.ID != "a" {
		t.Errorf("item after restart: %+v %v", it, err)
	}
}
