package vector

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// TestHeldIndexKeepsItsRecordsBeforeTheDamage: an index held for a damaged
// log record kept the log only from the damaged record on (its hold), so
// another index's snapshot pass cut the held index's intact records logged
// before the damage — acknowledged writes its snapshot lacks — and a
// recover served it without them, counting only the damaged record as
// lost. The log is now kept from the held index's first record (ADR-095's
// rule for the other holds; ADR-122).
func TestHeldIndexKeepsItsRecordsBeforeTheDamage(t *testing.T) {
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
	must(s.CreateIndex(ctx, "b", CreateIndexRequest{Dims: 2}))
	must(s.CreateIndex(ctx, "other", CreateIndexRequest{Dims: 2}))
	must(s.Upsert(ctx, "b", []Item{{ID: "b1", Vector: []float32{1, 0}}}))
	if err := s.Snapshot(ctx); err != nil { // the log cut: b's next records come first
		t.Fatal(err)
	}
	must(s.Upsert(ctx, "b", []Item{{ID: "kept", Vector: []float32{1, 1}}})) // intact, before the damage
	must(s.Upsert(ctx, "b", []Item{{ID: "lost", Vector: []float32{0, 1}}})) // the record to damage
	must(s.Upsert(ctx, "b", []Item{{ID: "b2", Vector: []float32{1, 2}}}))
	// other's snapshot covers the damaged record: other is served
	must(s.Upsert(ctx, "other", []Item{{ID: "o", Vector: []float32{1, 0}}}))
	if err := s.snapshotOne(ctx, s.indexes["other"]); err != nil {
		t.Fatal(err)
	}
	s.crash()
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	second := 24 + 8 + int(binary.LittleEndian.Uint32(b[24:])) // the second frame
	b[second+8+12] ^= 0x08
	if err := os.WriteFile(walPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, objects, dir)
	defer s2.Close(ctx)
	if _, err := s2.GetIndex(ctx, "b"); err == nil {
		t.Fatal("b is served with a damaged record of its own in the log")
	}
	// The other index's writes and snapshot passes: the log is cut as far
	// as the holds allow.
	for i := range 3 {
		must(s2.Upsert(ctx, "other", []Item{{ID: "o", Vector: []float32{1, float32(i)}}}))
		if err := s2.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s2.Recover(ctx, "b", RecoverRequest{AcceptLoss: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b1", "kept", "b2"} {
		if _, err := s2.GetItem(ctx, "b", id); err != nil {
			t.Fatalf("item %s of b after the recover (%+v): %v", id, res, err)
		}
	}
	if res.LostRecords != 1 || res.Count != 3 {
		t.Fatalf("recover: %+v, want 3 items and 1 lost record", res)
	}
}
