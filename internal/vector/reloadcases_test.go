package vector

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// TestHeldReloadCases (ADR-105): an index held for a snapshot in a newer
// LHV1 version is served once the object this vectord wrote is put back,
// with the writes logged after it; an index held for a damaged snapshot
// whose object is then deleted through storaged stays held, saying the
// object is gone (never served empty, never dropped behind the
// operator's back), and is served once the backup is put back.
func TestHeldReloadCases(t *testing.T) {
	ctx := context.Background()
	put := func(t *testing.T, objects storage.Store, key string, b []byte) {
		t.Helper()
		if _, err := objects.Put(ctx, key, bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("newer version, then the old object", func(t *testing.T) {
		objects, dir := newObjects(t), t.TempDir()
		s := openStore(t, objects, dir)
		s.CreateIndex(ctx, "v", CreateIndexRequest{Dims: 2})
		s.Upsert(ctx, "v", []Item{{ID: "a", Vector: []float32{1, 0}}})
		if err := s.snapshotOne(ctx, s.indexes["v"]); err != nil {
			t.Fatal(err)
		}
		s.Upsert(ctx, "v", []Item{{ID: "b", Vector: []float32{0, 1}}}) // logged after the snapshot
		s.crash()
		orig := objectBytes(t, objects, snapshotKey("v"))
		newer := bytes.Clone(orig)
		newer[4] = 2
		put(t, objects, snapshotKey("v"), newer)
		s2 := openStore(t, objects, dir)
		defer s2.Close(ctx)
		if _, err := s2.GetIndex(ctx, "v"); errs.StatusOf(err) != 502 || !strings.Contains(errs.Message(err), "unsupported LHV1 version 2") {
			t.Fatalf("held: %v", err)
		}
		put(t, objects, snapshotKey("v"), orig)
		time.Sleep(heldRecheck + 100*time.Millisecond)
		// /health alone (no request for the index) picks it up: it looks
		// in the background and turns ok.
		for end := time.Now().Add(5 * time.Second); s2.health("vector") != nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("health after the old object is back: %v", s2.health("vector"))
			}
		}
		if info, err := s2.GetIndex(ctx, "v"); err != nil || info.Count != 2 {
			t.Fatalf("after the old object is back: %+v %v", info, err)
		}
		if err := s2.health("vector"); err != nil {
			t.Fatalf("health: %v", err)
		}
	})
	t.Run("damaged, deleted, restored", func(t *testing.T) {
		objects, dir := newObjects(t), t.TempDir()
		s := openStore(t, objects, dir)
		s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 2})
		s.Upsert(ctx, "p", []Item{{ID: "a", Vector: []float32{1, 0}}})
		if err := s.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		s.crash()
		backup := objectBytes(t, objects, snapshotKey("p"))
		put(t, objects, snapshotKey("p"), backup[:len(backup)/2])
		s2 := openStore(t, objects, dir)
		defer s2.Close(ctx)
		if _, err := s2.GetIndex(ctx, "p"); errs.StatusOf(err) != 502 {
			t.Fatalf("held: %v", err)
		}
		if err := objects.Delete(ctx, snapshotKey("p")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(heldRecheck + 100*time.Millisecond)
		_, err := s2.GetIndex(ctx, "p")
		if m := errs.Message(err); errs.StatusOf(err) != 502 || !strings.Contains(m, "no longer in storage") {
			t.Fatalf("held, its object deleted: %v", err)
		}
		if res, err := s2.ListAll(ctx); err != nil || len(res.Unreadable) != 1 || !strings.Contains(res.Unreadable[0].Error.Message, "no longer in storage") {
			t.Fatalf("list: %+v %v", res, err)
		}
		put(t, objects, snapshotKey("p"), backup)
		time.Sleep(heldRecheck + 100*time.Millisecond)
		if res, err := s2.ListAll(ctx); err != nil || len(res.Indexes) != 1 || res.Indexes[0].Name != "p" || res.Indexes[0].Count != 1 || len(res.Unreadable) != 0 {
			t.Fatalf("list after the backup is back: %+v %v", res, err)
		}
	})
}

// TestDroppedNewerVersionStaysDropped: an index whose drop is in the log
// but whose snapshot object is still stored (the object's delete had not
// happened yet: storaged down, a kill) in an LHV1 version this build does
// not read — a downgrade after a newer vectord dropped it — came back
// held (a 502 on every route, listed unreadable, /health degraded): the
// acknowledged DELETE was undone. The drop is honoured as for any dropped
// index: not found, the object removed.
func TestDroppedNewerVersionStaysDropped(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "v", CreateIndexRequest{Dims: 2})
	s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2})
	s.Upsert(ctx, "v", []Item{{ID: "a", Vector: []float32{1, 0}}})
	if err := s.snapshotOne(ctx, s.indexes["v"]); err != nil {
		t.Fatal(err)
	}
	newer := objectBytes(t, objects, snapshotKey("v"))
	newer[4] = 2
	if err := s.DeleteIndex(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	// The object's delete did not happen: it is still there.
	if _, err := objects.Put(ctx, snapshotKey("v"), bytes.NewReader(newer), int64(len(newer)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s.crash()
	s2 := openStore(t, objects, dir)
	defer s2.Close(ctx)
	if _, err := s2.GetIndex(ctx, "v"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a dropped index: %v", err)
	}
	if res, err := s2.ListAll(ctx); err != nil || len(res.Indexes) != 1 || len(res.Unreadable) != 0 {
		t.Fatalf("list: %+v %v", res, err)
	}
	if err := s2.health("vector"); err != nil {
		t.Fatalf("health: %v", err)
	}
	if err := s2.Snapshot(ctx); err != nil { // removes dropped indexes' objects
		t.Fatal(err)
	}
	if _, _, err := objects.Get(ctx, snapshotKey("v"), storage.Whole); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the dropped index's object: %v", err)
	}
}
