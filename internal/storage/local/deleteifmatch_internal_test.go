package local

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// TestDeleteIfMatchRaceWithPut: a conditional delete whose etag check has
// passed is not followed by the removal of an object a concurrent Put
// published meanwhile (a check-then-delete race): the Put waits for the
// key's lock, which the delete holds from its check to its removal, and
// lands after it. The hook runs the Put between the check and the removal.
func TestDeleteIfMatchRaceWithPut(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	old := []byte("old version")
	info, err := s.Put(ctx, "race/obj", bytes.NewReader(old), int64(len(old)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newer := []byte("newer version, put during the delete")
	putDone := make(chan error, 1)
	deleteHook = func(key string) {
		go func() {
			_, err := s.Put(ctx, key, bytes.NewReader(newer), int64(len(newer)), storage.PutOptions{})
			putDone <- err
		}()
		select { // give the Put every chance to land here if nothing holds it back
		case err := <-putDone:
			putDone <- err
		case <-time.After(300 * time.Millisecond):
		}
	}
	defer func() { deleteHook = nil }()
	if err := s.DeleteWith(ctx, "race/obj", storage.DeleteOptions{IfMatch: info.ETag}); err != nil {
		t.Fatalf("DeleteWith the current etag: %v", err)
	}
	if err := <-putDone; err != nil {
		t.Fatalf("the concurrent Put: %v", err)
	}
	rc, _, err := s.Get(ctx, "race/obj", storage.Whole)
	if errs.Is(err, errs.NotFound) {
		t.Fatal("the object the concurrent Put published was deleted by a delete conditional on the old etag")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, newer) {
		t.Fatalf("after the race: %q, want the newer version", b)
	}
}
