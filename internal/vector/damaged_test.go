package vector

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector/lhv1"
)

// TestDamagedSnapshot: a snapshot object that does not decode (cut in
// half, a flipped byte, empty, bytes after the checksum) is never served.
// When the log still holds the index from its create record (a snapshot
// stored, the log not yet truncated behind it) the index is rebuilt from
// the log, whole, and the next snapshot replaces the damaged object; it
// used to stop vectord's start although nothing was lost. When the log no
// longer reaches back that far the index is held unservable, naming the
// object and what to do, and the other indexes are served (ADR-095; the
// whole start stopped before): nothing writes over the object, the log
// keeps the index's records for a restore from a backup, DELETE drops it
// and a create of the name is a 409 until then.
func TestDamagedSnapshot(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	all := items(r, 0, 300, 8)
	damage := map[string]func([]byte) []byte{
		"cut":      func(b []byte) []byte { return b[:len(b)/2] },
		"flip":     func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 0x10; return c },
		"empty":    func(b []byte) []byte { return nil },
		"trailing": func(b []byte) []byte { return append(bytes.Clone(b), 0) },
	}
	corrupt := func(t *testing.T, objects storage.Store, name string, how func([]byte) []byte) {
		t.Helper()
		rc, _, err := objects.Get(ctx, snapshotKey(name), storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		b = how(b)
		if _, err := objects.Put(ctx, snapshotKey(name), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for what, how := range damage {
		t.Run(what+"/log holds the index", func(t *testing.T) {
			objects, dir := newObjects(t), t.TempDir()
			s := openStore(t, objects, dir)
			s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 8, Metric: "l2"})
			s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2})
			s.Upsert(ctx, "other", []Item{{ID: "o", Vector: []float32{1, 0}}})
			s.Upsert(ctx, "p", all[:200])
			// p's snapshot stored, the log not truncated (as when another
			// index's snapshot failed in the same pass), then more writes.
			if err := s.snapshotOne(ctx, s.indexes["p"]); err != nil {
				t.Fatal(err)
			}
			s.Upsert(ctx, "p", all[200:])
			s.Delete(ctx, "p", []string{"id-0"})
			s.crash()
			corrupt(t, objects, "p", how)

			s2 := openStore(t, objects, dir)
			if info, err := s2.GetIndex(ctx, "p"); err != nil || info.Count != 299 {
				t.Fatalf("index p rebuilt from the log: %+v %v", info, err)
			}
			res, err := s2.Search(ctx, "p", SearchRequest{Vector: all[250].Vector, K: 1, Ef: 100})
			if err != nil || len(res) != 1 || res[0].ID != "id-250" || res[0].Metadata["n"] != float64(250) {
				t.Fatalf("search of the rebuilt index: %+v %v", res, err)
			}
			if _, err := s2.GetItem(ctx, "p", "id-0"); !errs.Is(err, errs.NotFound) {
				t.Fatalf("a logged delete undone: %v", err)
			}
			if info, err := s2.GetIndex(ctx, "other"); err != nil || info.Count != 1 {
				t.Fatalf("index other: %+v %v", info, err)
			}
			if err := s2.Close(ctx); err != nil { // snapshot + truncate
				t.Fatal(err)
			}
			rc, _, err := objects.Get(ctx, snapshotKey("p"), storage.Whole)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := lhv1.Decode(rc)
			rc.Close()
			if err != nil || ix.Len() != 299 {
				t.Fatalf("the damaged object was not replaced: %v", err)
			}
		})
		t.Run(what+"/log truncated", func(t *testing.T) {
			objects, dir := newObjects(t), t.TempDir()
			s := openStore(t, objects, dir)
			s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 8, Metric: "l2"})
			s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2})
			s.Upsert(ctx, "p", all[:200])
			s.Upsert(ctx, "other", []Item{{ID: "o1", Vector: []float32{1, 0}}})
			if err := s.Snapshot(ctx); err != nil { // stored, log truncated
				t.Fatal(err)
			}
			s.Upsert(ctx, "p", all[200:])
			s.crash()
			backup := objectBytes(t, objects, snapshotKey("p"))
			corrupt(t, objects, "p", how)
			damagedBytes := objectBytes(t, objects, snapshotKey("p"))

			// The other index is served; p is held unservable (it stopped
			// the whole start).
			s2, err := Open(ctx, quiet, objects, dir, 5*time.Second)
			if err != nil {
				t.Fatalf("one damaged snapshot stopped the start: %v", err)
			}
			checkBroken(t, s2, "p")
			if info, err := s2.GetIndex(ctx, "other"); err != nil || info.Count != 1 {
				t.Fatalf("index other: %+v %v", info, err)
			}
			if _, err := s2.Upsert(ctx, "other", []Item{{ID: "o2", Vector: []float32{0, 1}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s2.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 8, Metric: "l2"}); !errs.Is(err, errs.Conflict) ||
				!strings.Contains(errs.Message(err), "DELETE it first") {
				t.Fatalf("create over a damaged index: %v", err)
			}
			// A snapshot pass (other's, then a log truncation) and the
			// last one at Close leave p's object and its log records alone.
			if err := s2.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s2.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if b := objectBytes(t, objects, snapshotKey("p")); !bytes.Equal(b, damagedBytes) {
				t.Fatalf("the damaged snapshot was written over: %d bytes, had %d", len(b), len(damagedBytes))
			}
			s3 := openStore(t, objects, dir) // still held, still the others served
			checkBroken(t, s3, "p")
			if info, err := s3.GetIndex(ctx, "other"); err != nil || info.Count != 2 {
				t.Fatalf("index other after a second start: %+v %v", info, err)
			}
			if err := s3.Close(ctx); err != nil {
				t.Fatal(err)
			}

			// The operator restores the object from a backup: the writes
			// logged after it are still in the log and are replayed.
			if _, err := objects.Put(ctx, snapshotKey("p"), bytes.NewReader(backup), int64(len(backup)), storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			s4 := openStore(t, objects, dir)
			defer s4.Close(ctx)
			if info, err := s4.GetIndex(ctx, "p"); err != nil || info.Count != 300 {
				t.Fatalf("index p restored from a backup: %+v %v", info, err)
			}
			if res, err := s4.ListAll(ctx); err != nil || len(res.Indexes) != 2 || len(res.Unreadable) != 0 {
				t.Fatalf("list after the restore: %+v %v", res, err)
			}
			if err := s4.health("vector"); err != nil {
				t.Fatalf("health after the restore: %v", err)
			}
		})
		t.Run(what+"/drop and create again", func(t *testing.T) {
			objects, dir := newObjects(t), t.TempDir()
			s := openStore(t, objects, dir)
			s.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 8, Metric: "l2"})
			s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2})
			s.Upsert(ctx, "p", all[:200])
			s.Upsert(ctx, "other", []Item{{ID: "o1", Vector: []float32{1, 0}}})
			if err := s.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			s.crash()
			corrupt(t, objects, "p", how)
			s2 := openStore(t, objects, dir)
			checkBroken(t, s2, "p")
			if err := s2.DeleteIndex(ctx, "p"); err != nil {
				t.Fatalf("drop of a damaged index: %v", err)
			}
			if _, _, err := objects.Get(ctx, snapshotKey("p"), storage.Whole); !errs.Is(err, errs.NotFound) {
				t.Fatalf("the dropped index's object: %v", err)
			}
			if _, err := s2.GetIndex(ctx, "p"); !errs.Is(err, errs.NotFound) {
				t.Fatalf("index p after its drop: %v", err)
			}
			if err := s2.health("vector"); err != nil {
				t.Fatalf("health after the drop: %v", err)
			}
			if info, err := s2.CreateIndex(ctx, "p", CreateIndexRequest{Dims: 4}); err != nil || info.Count != 0 || info.Params.Dims != 4 {
				t.Fatalf("create after the drop: %+v %v", info, err)
			}
			if _, err := s2.Upsert(ctx, "p", []Item{{ID: "new", Vector: []float32{1, 2, 3, 4}}}); err != nil {
				t.Fatal(err)
			}
			s2.crash() // the new p only in the log
			s3 := openStore(t, objects, dir)
			defer s3.Close(ctx)
			if info, err := s3.GetIndex(ctx, "p"); err != nil || info.Count != 1 || info.Params.Dims != 4 {
				t.Fatalf("the new index p after a restart: %+v %v", info, err)
			}
			if res, err := s3.ListAll(ctx); err != nil || len(res.Indexes) != 2 || len(res.Unreadable) != 0 {
				t.Fatalf("list after the drop: %+v %v", res, err)
			}
		})
	}
}

func objectBytes(t *testing.T, objects storage.Store, key string) []byte {
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

// checkBroken: index name is held unservable — every route on it answers
// a 502 naming its snapshot and what to do, it is listed as unreadable
// with that error, and /health says so.
func checkBroken(t *testing.T, s *Store, name string) {
	t.Helper()
	ctx := context.Background()
	key := snapshotKey(name)
	want := func(what string, err error) {
		t.Helper()
		m := errs.Message(err)
		if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 502 || !strings.Contains(m, key+" in storage is damaged") ||
			!strings.Contains(m, "restore the object from a backup") || !strings.Contains(m, "DELETE the index") {
			t.Fatalf("%s on a damaged index: %d %v", what, errs.StatusOf(err), err)
		}
	}
	_, err := s.GetIndex(ctx, name)
	want("get", err)
	_, err = s.Search(ctx, name, SearchRequest{Vector: make([]float32, 8), K: 1})
	want("search", err)
	_, err = s.Upsert(ctx, name, []Item{{ID: "x", Vector: make([]float32, 8)}})
	want("upsert", err)
	_, err = s.Delete(ctx, name, []string{"x"})
	want("delete", err)
	_, err = s.GetItem(ctx, name, "x")
	want("item", err)
	res, err := s.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ix := range res.Indexes {
		if ix.Name == name {
			t.Fatalf("a damaged index listed as served: %+v", ix)
		}
	}
	if len(res.Unreadable) != 1 || res.Unreadable[0].Name != name || res.Unreadable[0].Error.Kind != errs.Unavailable ||
		!strings.Contains(res.Unreadable[0].Error.Message, key) {
		t.Fatalf("unreadable: %+v", res.Unreadable)
	}
	if err := s.health("vector"); !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), key) {
		t.Fatalf("health with a damaged index: %v", err)
	}
}

// TestSnapshotOfNewerVersionHeld: a snapshot in an LHV1 version this build
// does not read (written by a newer vectord) holds that index unservable,
// even when the log could rebuild it — rebuilt, its next snapshot would
// write over the newer file in the old format — and the other indexes are
// served. It stopped the whole start before.
func TestSnapshotOfNewerVersionHeld(t *testing.T) {
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "v", CreateIndexRequest{Dims: 8})
	s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2})
	s.Upsert(ctx, "other", []Item{{ID: "o", Vector: []float32{1, 0}}})
	if err := s.snapshotOne(ctx, s.indexes["v"]); err != nil { // the log still holds v
		t.Fatal(err)
	}
	s.crash()
	b := objectBytes(t, objects, snapshotKey("v"))
	b[4] = 2 // version 2
	if _, err := objects.Put(ctx, snapshotKey("v"), bytes.NewReader(b), int64(len(b)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, objects, dir)
	if info, err := s2.GetIndex(ctx, "other"); err != nil || info.Count != 1 {
		t.Fatalf("index other: %+v %v", info, err)
	}
	_, err := s2.GetIndex(ctx, "v")
	if m := errs.Message(err); errs.StatusOf(err) != 502 || !strings.Contains(m, "_vectors/v/index.lhv1") || !strings.Contains(m, "unsupported LHV1 version 2") {
		t.Fatalf("index v: %v", err)
	}
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := objectBytes(t, objects, snapshotKey("v")); !bytes.Equal(got, b) {
		t.Fatal("the newer snapshot was written over")
	}
}
