package vector

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector/wal"
)

// TestRecoverDamagedLogRecord: a damaged record in the middle of the
// write-ahead log held every index it may have been for, and the only way
// out was a DELETE, which threw away every acknowledged write of the index
// — the damaged record's and every intact one. Recover (POST .../recover
// {"accept_loss":true}, ADR-116) serves the index from its snapshot and
// every intact record, before and after the damage, says how many records
// were lost, and stores a snapshot covering the damage so a restart (a
// crash too) does not hold it again; once no index is held for it, the
// damaged bytes leave the log. The hold's message names the log file, the
// byte offset and the way out; without accept_loss nothing changes.
func TestRecoverDamagedLogRecord(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	walPath := filepath.Join(dir, "vectord.wal")
	s := openStore(t, objects, dir)
	for _, n := range []string{"a", "b", "c"} {
		s.CreateIndex(ctx, n, CreateIndexRequest{Dims: 2})
		s.Upsert(ctx, n, []Item{{ID: n + "1", Vector: []float32{1, 0}}})
	}
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	mustUpsert := func(s *Store, name, id string) {
		t.Helper()
		if _, err := s.Upsert(ctx, name, []Item{{ID: id, Vector: []float32{0, 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	mustUpsert(s, "b", "lost") // the record to damage, first in the log
	mustUpsert(s, "b", "b2")   // acknowledged after it: must survive
	if _, err := s.Delete(ctx, "b", []string{"b1"}); err != nil {
		t.Fatal(err)
	}
	mustUpsert(s, "c", "c2")
	if err := s.snapshotOne(ctx, s.indexes["c"]); err != nil { // c's snapshot covers the damaged record
		t.Fatal(err)
	}
	s.crash()
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	b[24+8+20] ^= 0x08
	if err := os.WriteFile(walPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	damagedLog := func() int {
		t.Helper()
		info, err := wal.ReplayDamaged(walPath, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return info.Damaged
	}

	s2 := openStore(t, objects, dir)
	_, err = s2.GetIndex(ctx, "b")
	if m := errs.Message(err); !errs.Is(err, errs.Unavailable) || !strings.Contains(m, "byte 24, sequence 7") || !strings.Contains(m, "vectord.wal") || strings.Contains(m, dir) ||
		!strings.Contains(m, `POST {"accept_loss":true} to /v1/vectors/indexes/b/recover`) || !strings.Contains(m, "DELETE the index") {
		t.Fatalf("GET of the held index: %v", err)
	}
	// Refusals change nothing.
	if _, err := s2.Recover(ctx, "b", RecoverRequest{}); !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), `{"accept_loss":true}`) {
		t.Fatalf("recover without accept_loss: %v", err)
	}
	if _, err := s2.Recover(ctx, "c", RecoverRequest{AcceptLoss: true}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("recover of a served index: %v", err)
	}
	if _, err := s2.Recover(ctx, "nope", RecoverRequest{AcceptLoss: true}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("recover of an unknown index: %v", err)
	}
	if res, _ := s2.ListAll(ctx); len(res.Unreadable) != 2 {
		t.Fatalf("held after the refusals: %+v", res)
	}

	res, err := s2.Recover(ctx, "b", RecoverRequest{AcceptLoss: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.LostRecords != 1 || len(res.Damaged) != 1 || res.Damaged[0].Offset != 24 || res.Damaged[0].FirstSeq != 7 || res.Log != "vectord.wal" || res.SnapshotSeq != 4 || res.ReplayedRecords != 2 {
		t.Fatalf("recover of b: %+v", res)
	}
	if _, err := s2.GetItem(ctx, "b", "b2"); err != nil {
		t.Fatalf("the write acknowledged after the damaged record: %v", err)
	}
	if _, err := s2.GetItem(ctx, "b", "b1"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the delete acknowledged after the damaged record undone: %v", err)
	}
	if _, err := s2.GetItem(ctx, "b", "lost"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the damaged record's item: %v", err)
	}
	if err := s2.health("vector"); err == nil || !strings.Contains(errs.Message(err), `1 index(es) cannot be served`) || !strings.Contains(errs.Message(err), `index "a"`) {
		t.Fatalf("health with a still held: %v", err)
	}
	// a had no change since its snapshot; the record may have been its all
	// the same. Its object lost too, it cannot be recovered (the log does
	// not hold it from its creation); restored through storage (a backup),
	// it can: the recover starts from the object as it is now.
	backup := readObject(t, objects, snapshotKey("a"))
	if err := objects.Delete(ctx, snapshotKey("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Recover(ctx, "a", RecoverRequest{AcceptLoss: true}); !errs.Is(err, errs.Conflict) ||
		!strings.Contains(errs.Message(err), "has no snapshot object in storage") || !strings.Contains(errs.Message(err), "restore the snapshot object") {
		t.Fatalf("recover of a without its object: %v", err)
	}
	if _, err := objects.Put(ctx, snapshotKey("a"), bytes.NewReader(backup), int64(len(backup)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// A restore alone does not end a hold for a damaged log record (the
	// object does not cover the lost record): the index's GET still says so.
	if _, err := s2.GetIndex(ctx, "a"); !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "damaged record") {
		t.Fatalf("a after its object was restored: %v", err)
	}
	if res, err := s2.Recover(ctx, "a", RecoverRequest{AcceptLoss: true}); err != nil || res.Count != 1 || res.LostRecords != 1 || res.SnapshotSeq != 2 {
		t.Fatalf("recover of a from its restored object: %+v %v", res, err)
	}
	if err := s2.health("vector"); err != nil {
		t.Fatalf("health after both recoveries: %v", err)
	}
	mustUpsert(s2, "b", "b3")
	s2.crash() // the recovered snapshots are stored; the log still holds the damage
	if n := damagedLog(); n != 1 {
		t.Fatalf("damaged frames before a truncation: %d", n)
	}

	s3 := openStore(t, objects, dir)
	all, err := s3.ListAll(ctx)
	if err != nil || len(all.Indexes) != 3 || len(all.Unreadable) != 0 {
		t.Fatalf("after a crash the recovered indexes are held again: %+v %v", all, err)
	}
	for _, id := range []string{"b2", "b3"} {
		if _, err := s3.GetItem(ctx, "b", id); err != nil {
			t.Fatalf("b %s after the crash: %v", id, err)
		}
	}
	if info, err := s3.GetIndex(ctx, "c"); err != nil || info.Count != 2 {
		t.Fatalf("c: %+v %v", info, err)
	}
	if err := s3.Close(ctx); err != nil { // snapshot, truncation past the damage
		t.Fatal(err)
	}
	if n := damagedLog(); n != 0 {
		t.Fatalf("the damaged record is still in the log after every index was recovered: %d", n)
	}
	s4 := openStore(t, objects, dir)
	defer s4.Close(ctx)
	if info, err := s4.GetIndex(ctx, "b"); err != nil || info.Count != 2 {
		t.Fatalf("b after the truncation: %+v %v", info, err)
	}
}

// TestRecoverRefusals: recover applies only to a hold for a damaged log
// record. A damaged snapshot the log cannot rebuild is restored, not
// recovered (409 naming the snapshot); an index whose create record is the
// damaged one has no params to rebuild from (409, restore or DELETE), and
// stays held.
func TestRecoverRefusals(t *testing.T) {
	ctx := context.Background()
	s2 := openDamagedCreateRecord(t)
	if _, err := s2.Recover(ctx, "e", RecoverRequest{AcceptLoss: true}); !errs.Is(err, errs.Conflict) ||
		!strings.Contains(errs.Message(err), "does not hold its creation") {
		t.Fatalf("recover of an index whose create record is damaged: %v", err)
	}
	if _, err := s2.GetIndex(ctx, "e"); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("e after a refused recover: %v", err)
	}
	if _, err := s2.Recover(ctx, "keep", RecoverRequest{AcceptLoss: true}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("recover of a served index: %v", err)
	}
}

// TestRecoverRacesDelete: a recover and a DELETE of the same held index at
// once end in one consistent state — dropped (no object left behind, not
// served after a restart) or recovered then dropped — never an index
// served with its drop logged, nor an object resurrected by the recover's
// snapshot after the drop removed it.
func TestRecoverRacesDelete(t *testing.T) {
	ctx := context.Background()
	for i := range 20 {
		objects, dir := newObjects(t), t.TempDir()
		walPath := filepath.Join(dir, "vectord.wal")
		s := openStore(t, objects, dir)
		s.CreateIndex(ctx, "b", CreateIndexRequest{Dims: 2})
		s.Upsert(ctx, "b", []Item{{ID: "b1", Vector: []float32{1, 0}}})
		if err := s.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		s.Upsert(ctx, "b", []Item{{ID: "lost", Vector: []float32{0, 1}}})
		s.Upsert(ctx, "b", []Item{{ID: "b2", Vector: []float32{0, 1}}})
		s.crash()
		b, _ := os.ReadFile(walPath)
		b[24+8+20] ^= 0x08
		os.WriteFile(walPath, b, 0o644)
		s2 := openStore(t, objects, dir)
		done := make(chan error, 1)
		go func() {
			_, err := s2.Recover(ctx, "b", RecoverRequest{AcceptLoss: true})
			done <- err
		}()
		if i%2 == 0 {
			s2.GetIndex(ctx, "b") // a reloadHeld look meanwhile
		}
		derr := s2.DeleteIndex(ctx, "b")
		rerr := <-done
		if derr != nil {
			t.Fatalf("round %d: delete: %v (recover: %v)", i, derr, rerr)
		}
		if rerr != nil && !errs.Is(rerr, errs.Conflict) && !errs.Is(rerr, errs.NotFound) {
			t.Fatalf("round %d: recover: %v", i, rerr)
		}
		if _, err := s2.GetIndex(ctx, "b"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("round %d: b after its DELETE: %v", i, err)
		}
		if err := s2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := objects.Get(ctx, snapshotKey("b"), storage.Whole); !errs.Is(err, errs.NotFound) {
			t.Fatalf("round %d: b's snapshot object after its DELETE: %v (recover: %v)", i, err, rerr)
		}
		s3 := openStore(t, objects, dir)
		if all, err := s3.ListAll(ctx); err != nil || len(all.Indexes)+len(all.Unreadable) != 0 {
			t.Fatalf("round %d: after a restart: %+v %v", i, all, err)
		}
		s3.Close(ctx)
	}
}

func readObject(t *testing.T, objects storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := objects.Get(context.Background(), key, storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
