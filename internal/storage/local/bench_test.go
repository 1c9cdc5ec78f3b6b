package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// BenchmarkPut1MiB is the local backend's PUT of 1 MiB (hash, xattr, fsync,
// rename, fsync dir); BenchmarkDirectWrite1MiB is the bare careful write.
func BenchmarkPut1MiB(b *testing.B) {
	s, err := local.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte{7}, 1<<20)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		if _, err := s.Put(context.Background(), fmt.Sprintf("b/%d", i), bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDirectWrite1MiB(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte{7}, 1<<20)
	b.SetBytes(int64(len(data)))
	os.MkdirAll(filepath.Join(dir, "b"), 0o755)
	for i := 0; b.Loop(); i++ {
		f, _ := os.CreateTemp(dir, "t-*")
		f.Write(data)
		f.Sync()
		f.Close()
		os.Rename(f.Name(), filepath.Join(dir, "b", fmt.Sprint(i)))
		d, _ := os.Open(filepath.Join(dir, "b"))
		d.Sync()
		d.Close()
	}
}
