package vector

import (
	"bytes"
	"context"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestHeldReloadThroughStoraged: a held index's reload (ADR-105) through a
// real storaged, on the local backend (the short-circuit socket) and on
// MinIO (S3): the etag and size the load read and those of a HEAD agree,
// so looks at an unchanged object never read it again; a still-damaged
// replacement is read once; the restored backup is served on the next
// request, with the write logged after it.
func TestHeldReloadThroughStoraged(t *testing.T) {
	t.Run("local", func(t *testing.T) { heldReload(t, storagetest.Config(t)) })
	t.Run("minio", func(t *testing.T) {
		m := miniotest.Start(t, "lakehouse-go-primary")
		cfg := storagetest.S3Config(t, m)
		heldReload(t, cfg)
	})
}

func heldReload(t *testing.T, cfg *shared.Config) {
	ctx := context.Background()
	objects, _ := storagetest.Start(t, cfg)
	dir := t.TempDir()
	put := func(b []byte) {
		t.Helper()
		if _, err := objects.Put(ctx, snapshotKey("p"), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 2})
	s.Upsert(ctx, "p", []Item{{ID: "a", Vector: []float32{1, 0}}})
	if err := s.Snapshot(ctx); err != nil { // stored, the log truncated
		t.Fatal(err)
	}
	s.Upsert(ctx, "p", []Item{{ID: "b", Vector: []float32{0, 1}}}) // after the backup
	s.crash()
	backup := objectBytes(t, objects, snapshotKey("p"))
	put(backup[:len(backup)-3])
	s2 := openStore(t, objects, dir)
	defer s2.Close(ctx)
	held := func() {
		t.Helper()
		if _, err := s2.GetIndex(ctx, "p"); errs.StatusOf(err) != 502 {
			t.Fatalf("p not held: %v", err)
		}
	}
	for i := 0; i < 2; i++ { // looks at the unchanged object
		held()
		time.Sleep(heldRecheck + 50*time.Millisecond)
	}
	if c, r := s2.heldChecks.Load(), s2.heldReads.Load(); c != 2 || r != 0 {
		t.Fatalf("unchanged object: %d looks, %d reads; want 2, 0", c, r)
	}
	put(append(bytes.Clone(backup), 1)) // damaged too
	held()
	time.Sleep(heldRecheck + 50*time.Millisecond)
	held()
	if r := s2.heldReads.Load(); r != 1 {
		t.Fatalf("a still-damaged replacement read %d times", r)
	}
	put(backup)
	time.Sleep(heldRecheck + 50*time.Millisecond)
	if info, err := s2.GetIndex(ctx, "p"); err != nil || info.Count != 2 {
		t.Fatalf("the restored backup: %+v %v", info, err)
	}
	if _, err := s2.GetItem(ctx, "p", "b"); err != nil {
		t.Fatalf("the write logged after the backup: %v", err)
	}
}
