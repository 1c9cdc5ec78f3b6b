package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/s3"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

var bucketN atomic.Int64

// newStore gives each test a fresh bucket on m.
func newStore(t *testing.T, m *miniotest.Server) *s3.Store {
	t.Helper()
	b := fmt.Sprintf("lakehouse-go-t%d", bucketN.Add(1))
	if err := m.Client(t).MakeBucket(context.Background(), b, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(s3.Config{Endpoint: m.Endpoint(), Bucket: b, Region: "us-east-1",
		AccessKey: m.AccessKey, SecretKey: m.SecretKey, PartSize: 5 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestS3(t *testing.T) {
	m := miniotest.Start(t, "")
	ctx := context.Background()

	t.Run("Contract", func(t *testing.T) {
		storagetest.Contract(t, func(t *testing.T) storage.Store { return newStore(t, m) })
	})

	t.Run("CreateOnlyOnePartUnread", func(t *testing.T) {
		// A one-part create-only PUT of a key that exists is refused before
		// its body is read (it was sent whole, then refused by MinIO).
		s := newStore(t, m)
		storagetest.MustPut(t, s, "k", []byte("kept"))
		for _, size := range []int64{4 << 20, 1 << 20} {
			body := &countingReader{r: bytes.NewReader(make([]byte, size))}
			_, err := s.Put(ctx, "k", body, size, storage.PutOptions{CreateOnly: true})
			if !errs.Is(err, errs.Conflict) || errs.StatusOf(err) != 412 {
				t.Fatalf("size %d: %v (status %d), want 412", size, err, errs.StatusOf(err))
			}
			// Without the early refusal the transport's write loop reads on
			// after MinIO's 412 (0.5-0.8 MiB seen): give it the time to.
			time.Sleep(100 * time.Millisecond)
			if read := body.n.Load(); size > 1<<20 && read != 0 {
				t.Errorf("size %d: %d bytes of the refused body were read", size, read)
			}
			if got := storagetest.MustGet(t, s, "k", storage.Whole); string(got) != "kept" {
				t.Fatalf("overwritten: %q", got)
			}
		}
	})

	t.Run("Multipart", func(t *testing.T) {
		s := newStore(t, m)
		data := storagetest.RandomBytes(12<<20 + 3) // three parts of 5 MiB
		for _, size := range []int64{-1, int64(len(data))} {
			info, err := s.Put(ctx, "big", bytes.NewReader(data), size, storage.PutOptions{})
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			if info.Size != int64(len(data)) {
				t.Fatalf("size %d: info %+v", size, info)
			}
			if got := storagetest.MustGet(t, s, "big", storage.Whole); !bytes.Equal(got, data) {
				t.Fatalf("size %d: read back differs", size)
			}
			if got := storagetest.MustGet(t, s, "big", storage.GetOptions{Offset: 6 << 20, Length: 10}); !bytes.Equal(got, data[6<<20:6<<20+10]) {
				t.Fatal("range across parts differs")
			}
		}
		// A known size that the body overruns is refused and not kept.
		if _, err := s.Put(ctx, "over", bytes.NewReader(data), int64(len(data)-1), storage.PutOptions{}); !errs.Is(err, errs.Invalid) {
			t.Fatalf("overrun: %v", err)
		}
		if _, err := s.Head(ctx, "over"); !errs.Is(err, errs.NotFound) {
			t.Fatalf("overrun kept: %v", err)
		}
	})

	// If-None-Match on CompleteMultipartUpload: verified against the real
	// server, with concurrent multipart writers.
	t.Run("CreateOnlyMultipartRace", func(t *testing.T) {
		s := newStore(t, m)
		var wins atomic.Int32
		var wg sync.WaitGroup
		bodies := make([][]byte, 4)
		winner := -1
		var mu sync.Mutex
		for w := range bodies {
			bodies[w] = storagetest.RandomBytes(11 << 20)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Put(ctx, "once", bytes.NewReader(bodies[w]), -1, storage.PutOptions{CreateOnly: true})
				switch {
				case err == nil:
					wins.Add(1)
					mu.Lock()
					winner = w
					mu.Unlock()
				case errs.Is(err, errs.Conflict) && errs.StatusOf(err) == 412:
				default:
					t.Errorf("writer %d: %v", w, err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners, want 1", wins.Load())
		}
		if got := storagetest.MustGet(t, s, "once", storage.Whole); !bytes.Equal(got, bodies[winner]) {
			t.Fatal("stored object is not the winner's")
		}
	})

	t.Run("NoSuchBucket", func(t *testing.T) {
		st, err := s3.Open(s3.Config{Endpoint: m.Endpoint(), Bucket: "lakehouse-go-missing", AccessKey: m.AccessKey, SecretKey: m.SecretKey}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, err := range map[string]error{
			"put":  func() error { _, err := st.Put(ctx, "k", strings.NewReader("x"), 1, storage.PutOptions{}); return err }(),
			"head": func() error { _, err := st.Head(ctx, "k"); return err }(),
			"get":  func() error { _, _, err := st.Get(ctx, "k", storage.Whole); return err }(),
			"list": func() error { _, err := st.List(ctx, storage.ListOptions{}); return err }(),
		} {
			if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "NoSuchBucket") ||
				!strings.Contains(errs.Message(err), "lakehouse-go-missing") || !strings.Contains(errs.Message(err), m.Addr) {
				t.Errorf("%s: %v (message %q)", name, err, errs.Message(err))
			}
		}
	})

	t.Run("BadCredentials", func(t *testing.T) {
		st, _ := s3.Open(s3.Config{Endpoint: m.Endpoint(), Bucket: "lakehouse-go-primary", AccessKey: "nobody", SecretKey: "wrongwrong"}, nil)
		_, err := st.Head(ctx, "k")
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "credentials") {
			t.Fatalf("%v", err)
		}
	})
}

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secrets-go.toml")
	os.WriteFile(p, []byte("[s3.primary]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n"), 0o600)
	if ak, sk, err := s3.LoadSecrets(p); err != nil || ak != "a" || sk != "b" {
		t.Fatalf("%q %q %v", ak, sk, err)
	}
	os.Chmod(p, 0o640)
	if _, _, err := s3.LoadSecrets(p); err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Fatalf("group-readable: %v", err)
	}
	os.Chmod(p, 0o604)
	if _, _, err := s3.LoadSecrets(p); err == nil {
		t.Fatal("world-readable accepted")
	}
	os.WriteFile(filepath.Join(dir, "empty.toml"), []byte("[s3.primary]\n"), 0o600)
	if _, _, err := s3.LoadSecrets(filepath.Join(dir, "empty.toml")); err == nil {
		t.Fatal("no keys accepted")
	}
	if _, _, err := s3.LoadSecrets(filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// countingReader counts what is read of r (atomic: the HTTP transport may
// read on after the answer came).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
