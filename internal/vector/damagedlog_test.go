package vector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector/wal"
)

// TestDamagedLogRecordIsolated: a record in the middle of the write-ahead
// log that is damaged (a flipped byte, valid records after it) stopped the
// whole start, every index down. Its checksum fails, so which index it was
// for is unknown: the indexes it may have changed (their snapshot does not
// cover it, or their first record after it is not a create) are held
// unservable — a 503 naming the damaged record, listed as unreadable,
// /health degraded — and the others are served. The damaged bytes stay in
// the log (never truncated past) until those indexes are dropped; then the
// log goes on as usual. A damaged length field is found too.
func TestDamagedLogRecordIsolated(t *testing.T) {
	// The first record's payload (its checksum fails), or its length
	// field (it points nowhere: the scan took the rest of the log for a
	// torn tail and cut it, acknowledged records included).
	for what, at := range map[string]int{"payload": 24 + 8 + 20, "length": 24 + 1} {
		t.Run(what, func(t *testing.T) {
			ctx := context.Background()
			objects, dir := newObjects(t), t.TempDir()
			walPath := filepath.Join(dir, "vectord.wal")
			s := openStore(t, objects, dir)
			for _, n := range []string{"a", "b", "c"} {
				s.CreateIndex(ctx, n, CreateIndexRequest{Dims: 2})
				s.Upsert(ctx, n, []Item{{ID: n + "1", Vector: []float32{1, 0}}})
			}
			if err := s.Snapshot(ctx); err != nil { // all stored, the log truncated
				t.Fatal(err)
			}
			if st, err := os.Stat(walPath); err != nil || st.Size() != 24 {
				t.Fatalf("log not truncated: %v %v", st, err)
			}
			s.Upsert(ctx, "b", []Item{{ID: "lost", Vector: []float32{0, 1}}}) // the record to damage, first in the log
			s.Upsert(ctx, "c", []Item{{ID: "c2", Vector: []float32{0, 1}}})
			if err := s.snapshotOne(ctx, s.indexes["c"]); err != nil { // c's snapshot covers the damaged record
				t.Fatal(err)
			}
			s.CreateIndex(ctx, "d", CreateIndexRequest{Dims: 2}) // created after it
			s.Upsert(ctx, "d", []Item{{ID: "d1", Vector: []float32{1, 1}}})
			s.crash()
			b, err := os.ReadFile(walPath)
			if err != nil {
				t.Fatal(err)
			}
			b[at] ^= 0x08
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
			if n := damagedLog(); n != 1 {
				t.Fatalf("%d damaged records in the log, want 1", n)
			}

			check := func(s *Store, cCount int) {
				t.Helper()
				for name, count := range map[string]int{"c": cCount, "d": 1} {
					if info, err := s.GetIndex(ctx, name); err != nil || info.Count != count {
						t.Fatalf("index %s: %+v %v", name, info, err)
					}
				}
				// a had no change since its snapshot, but the record may have
				// been its: held too (which index it was for is unknown).
				for _, name := range []string{"a", "b"} {
					_, err := s.Search(ctx, name, SearchRequest{Vector: []float32{1, 0}, K: 1})
					if m := errs.Message(err); !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 503 ||
						!strings.Contains(m, "write-ahead log has a damaged record (byte 24") || !strings.Contains(m, "DELETE the index") {
						t.Fatalf("search of %s: %v", name, err)
					}
					if _, err := s.Upsert(ctx, name, []Item{{ID: "x", Vector: []float32{1, 0}}}); !errs.Is(err, errs.Unavailable) {
						t.Fatalf("upsert to %s: %v", name, err)
					}
				}
				if _, err := s.CreateIndex(ctx, "b", CreateIndexRequest{Dims: 2}); !errs.Is(err, errs.Conflict) {
					t.Fatalf("create over b: %v", err)
				}
				res, err := s.ListAll(ctx)
				if err != nil || len(res.Indexes) != 2 || len(res.Unreadable) != 2 || res.Unreadable[0].Name != "a" || res.Unreadable[1].Name != "b" {
					t.Fatalf("list: %+v %v", res, err)
				}
				if err := s.health("vector"); !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "2 index(es) cannot be served (the others are)") {
					t.Fatalf("health: %v", err)
				}
			}
			s2, err := Open(ctx, quiet, objects, dir, 5*time.Second)
			if err != nil {
				t.Fatalf("a damaged log record stopped the start: %v", err)
			}
			check(s2, 2)
			if _, err := s2.Upsert(ctx, "c", []Item{{ID: "c3", Vector: []float32{1, 1}}}); err != nil {
				t.Fatal(err)
			}
			if err := s2.Snapshot(ctx); err != nil { // truncation stops before the damaged record
				t.Fatal(err)
			}
			if err := s2.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if n := damagedLog(); n != 1 {
				t.Fatalf("the damaged record left the log while its indexes are held: %d", n)
			}
			s3 := openStore(t, objects, dir)
			s3.Upsert(ctx, "c", []Item{{ID: "c2", Vector: []float32{0, 1}}}) // a replacement: 3 items still
			check(s3, 3)
			for _, name := range []string{"a", "b"} {
				if err := s3.DeleteIndex(ctx, name); err != nil {
					t.Fatalf("drop of %s: %v", name, err)
				}
			}
			if err := s3.health("vector"); err != nil {
				t.Fatalf("health after the drops: %v", err)
			}
			if _, err := s3.CreateIndex(ctx, "b", CreateIndexRequest{Dims: 3}); err != nil {
				t.Fatal(err)
			}
			if err := s3.Close(ctx); err != nil { // snapshot, truncation past the damaged record
				t.Fatal(err)
			}
			if n := damagedLog(); n != 0 {
				t.Fatalf("the damaged record is still in the log after its indexes were dropped: %d", n)
			}
			s4 := openStore(t, objects, dir)
			defer s4.Close(ctx)
			res, err := s4.ListAll(ctx)
			if err != nil || len(res.Indexes) != 3 || len(res.Unreadable) != 0 {
				t.Fatalf("list after the drops: %+v %v", res, err)
			}
			if _, err := s4.GetIndex(ctx, "a"); !errs.Is(err, errs.NotFound) {
				t.Fatalf("dropped a: %v", err)
			}
			if info, err := s4.GetIndex(ctx, "b"); err != nil || info.Params.Dims != 3 || info.Count != 0 {
				t.Fatalf("the new b: %+v %v", info, err)
			}

		})
	}
}

// TestDamagedCreateRecordHeld: when the damaged log record was an index's
// create, the index's later changes name an index that does not exist —
// which replay took for an index dropped later in the log and skipped, so
// the index would have been silently missing. It is held unservable.
func TestDamagedCreateRecordHeld(t *testing.T) {
	ctx := context.Background()
	s2 := openDamagedCreateRecord(t)
	if info, err := s2.GetIndex(ctx, "keep"); err != nil || info.Count != 2 {
		t.Fatalf("index keep: %+v %v", info, err)
	}
	if _, err := s2.GetIndex(ctx, "e"); !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "damaged record") {
		t.Fatalf("index e, whose create record is damaged: %v", err)
	}
	if res, err := s2.ListAll(ctx); err != nil || len(res.Unreadable) != 1 || res.Unreadable[0].Name != "e" {
		t.Fatalf("list: %+v %v", res, err)
	}
}

// openDamagedCreateRecord opens a Store on a log whose create record of
// index "e" is damaged (a flipped byte in its params), with e's upsert
// after it, and an index "keep" of two items whose snapshot covers its
// records around the damage. The Store is closed at the test's end.
func openDamagedCreateRecord(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	objects, dir := newObjects(t), t.TempDir()
	walPath := filepath.Join(dir, walFile)
	s := openStore(t, objects, dir)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateIndex(ctx, "keep", CreateIndexRequest{Dims: 2}))
	must(s.Upsert(ctx, "keep", []Item{{ID: "k", Vector: []float32{1, 0}}}))
	if err := s.Snapshot(ctx); err != nil { // the log cut: e's create comes first
		t.Fatal(err)
	}
	must(s.CreateIndex(ctx, "e", CreateIndexRequest{Dims: 2})) // the record to damage
	must(s.Upsert(ctx, "e", []Item{{ID: "e1", Vector: []float32{1, 0}}}))
	must(s.Upsert(ctx, "keep", []Item{{ID: "k2", Vector: []float32{0, 1}}}))
	if err := s.snapshotOne(ctx, s.indexes["keep"]); err != nil {
		t.Fatal(err)
	}
	s.crash()
	var first wal.Record
	if _, err := wal.Replay(walPath, func(r wal.Record) error {
		if first.Seq == 0 {
			first = r
		}
		return nil
	}); err != nil || first.Op != wal.OpCreate || first.Index != "e" {
		t.Fatalf("the log's first record is %+v (%v), want e's create", first, err)
	}
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	b[24+8+9+2] ^= 0x01 // header, frame length and checksum, then the create record's params
	if err := os.WriteFile(walPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, objects, dir)
	t.Cleanup(func() { s2.Close(ctx) })
	return s2
}
