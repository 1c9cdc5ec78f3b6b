package storage_test

import (
	"context"
	"io"
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// BenchmarkHTTPGet1MiB is a 1 MiB GET through storaged (local backend) and
// the typed client, in-process.
func BenchmarkHTTPGet1MiB(b *testing.B) {
	c, _ := storagetest.Start(b, storagetest.Config(b))
	storagetest.MustPut(b, c, "k", storagetest.RandomBytes(1<<20))
	buf := make([]byte, 1<<20)
	b.SetBytes(1 << 20)
	for b.Loop() {
		rc, _, err := c.Get(context.Background(), "k", storage.Whole)
		if err != nil {
			b.Fatal(err)
		}
		io.CopyBuffer(struct{ io.Writer }{io.Discard}, rc, buf)
		rc.Close()
	}
}
