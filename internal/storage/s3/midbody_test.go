package s3_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestMidBodyOutage: MinIO killed while an object is being read. The read
// error is unavailable naming the endpoint and the bucket (queryd showed
// "the object store stopped sending the file: unexpected EOF").
func TestMidBodyOutage(t *testing.T) {
	m := miniotest.Start(t, "")
	s := newStore(t, m)
	data := storagetest.RandomBytes(48 << 20)
	if _, err := s.Put(context.Background(), "big", bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(context.Background(), "big", storage.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	_, err = io.Copy(io.Discard, rc)
	if err == nil {
		t.Skip("the whole object was in flight before MinIO stopped")
	}
	msg := errs.Message(err)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(msg, m.Addr) || !strings.Contains(msg, "bucket") || !strings.Contains(msg, `"big"`) {
		t.Fatalf("read after MinIO stopped: %v (kind %s, message %q), want unavailable naming the endpoint, bucket and object", err, errs.KindOf(err), msg)
	}
}
