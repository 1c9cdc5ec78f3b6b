package vector

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// TestDeleteDuringHeldReload: a DELETE of a held index that lands while a
// request is reading its restored snapshot object and replaying its log
// records (ADR-105) wins: the reload installs nothing over it, the index
// is not found, not listed, and stays dropped through a restart. Without
// the check the reload put the index back in memory after the drop was
// logged and its object removed — served until the next restart, then
// gone with every write taken meanwhile.
func TestDeleteDuringHeldReload(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	s := openStore(t, objects, dir)
	if _, err := s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, "p", []Item{{ID: "a", Vector: []float32{1, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(ctx); err != nil { // stored, the log truncated
		t.Fatal(err)
	}
	// A long log of another index's records: the reload scans it all.
	if _, err := s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 20000)
	for r := 0; r < 40; r++ {
		for i := range ids {
			ids[i] = fmt.Sprintf("missing-%02d-%06d-%040d", r, i, 0)
		}
		if _, err := s.Delete(ctx, "other", ids); err != nil {
			t.Fatal(err)
		}
	}
	s.crash()
	backup := objectBytes(t, objects, snapshotKey("p"))
	bad := append(bytes.Clone(backup), 0)
	if _, err := objects.Put(ctx, snapshotKey("p"), bytes.NewReader(bad), int64(len(bad)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, objects, dir)
	if _, err := s2.GetIndex(ctx, "p"); errs.StatusOf(err) != 502 {
		t.Fatalf("p not held: %v", err)
	}
	time.Sleep(heldRecheck + 100*time.Millisecond)
	if _, err := objects.Put(ctx, snapshotKey("p"), bytes.NewReader(backup), int64(len(backup)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	reads := s2.heldReads.Load()
	done := make(chan error, 1)
	go func() {
		_, err := s2.GetIndex(ctx, "p")
		done <- err
	}()
	for s2.heldReads.Load() == reads {
		time.Sleep(100 * time.Microsecond)
	}
	if err := s2.DeleteIndex(ctx, "p"); err != nil {
		t.Fatalf("DELETE during the reload: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the reload was over before the DELETE (%v): the test needs a longer log", err)
	default:
	}
	if err := <-done; !errs.Is(err, errs.NotFound) {
		t.Fatalf("the request that read the object, after a DELETE during its read: %v", err)
	}
	if _, err := s2.GetIndex(ctx, "p"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("p after its DELETE: %v", err)
	}
	if res, err := s2.ListAll(ctx); err != nil || len(res.Indexes) != 1 || res.Indexes[0].Name != "other" || len(res.Unreadable) != 0 {
		t.Fatalf("list after the DELETE: %+v %v", res, err)
	}
	if _, _, err := objects.Get(ctx, snapshotKey("p"), storage.Whole); !errs.Is(err, errs.NotFound) {
		t.Fatalf("p's object after its DELETE: %v", err)
	}
	s2.crash()
	s3 := openStore(t, objects, dir)
	defer s3.Close(ctx)
	if _, err := s3.GetIndex(ctx, "p"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("p after a restart: %v", err)
	}
}
