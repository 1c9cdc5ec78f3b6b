package ingestd

import (
	"testing"
	"time"
)

// TestLapsedLeaseIsFinal: once half a lease passed without a renewal, the
// ingest never commits, even if a later renewal succeeds (a paused ingestd
// could otherwise write its marker again over parts another instance's
// sweep had deleted, and commit them).
func TestLapsedLeaseIsFinal(t *testing.T) {
	in := &intent{s: &Server{opts: Options{PendingLease: time.Hour}}, renewed: time.Now().Round(0).Add(-31 * time.Minute)}
	if in.valid() == nil {
		t.Fatal("valid after half a lease without a renewal")
	}
	in.renewed = time.Now().Round(0) // a renewal after the lapse
	if in.valid() == nil {
		t.Fatal("a renewal after the lapse made the ingest valid again")
	}
	fresh := &intent{s: &Server{opts: Options{PendingLease: time.Hour}}, renewed: time.Now().Round(0)}
	if err := fresh.valid(); err != nil {
		t.Fatalf("fresh lease: %v", err)
	}
}
