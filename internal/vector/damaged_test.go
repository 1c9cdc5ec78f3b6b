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
// longer reaches back that far the start stops, naming the object and what
// to do.
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
			s.Upsert(ctx, "p", all[:200])
			if err := s.Snapshot(ctx); err != nil { // stored, log truncated
				t.Fatal(err)
			}
			s.Upsert(ctx, "p", all[200:])
			s.crash()
			corrupt(t, objects, "p", how)
			s2, err := Open(ctx, quiet, objects, dir, 5*time.Second)
			if err == nil {
				s2.Close(ctx)
				t.Fatal("a damaged snapshot the log cannot rebuild was served")
			}
			if m := errs.Message(err); errs.Is(err, errs.Unavailable) || !strings.Contains(m, "_vectors/p/index.lhv1 is damaged") ||
				!strings.Contains(m, "restore the object from a backup") {
				t.Fatalf("start with a damaged snapshot: %v", err)
			}
			t.Log(errs.Message(err))
		})
	}
}
