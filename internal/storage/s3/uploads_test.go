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
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/s3"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// openJournaled opens a store on m's bucket with an upload journal at
// journal and a janitor every interval.
func openJournaled(t *testing.T, m *miniotest.Server, journal string, interval time.Duration) *s3.Store {
	t.Helper()
	st, err := s3.Open(s3.Config{Endpoint: m.Endpoint(), Bucket: m.Bucket, Region: "us-east-1",
		AccessKey: m.AccessKey, SecretKey: m.SecretKey, PartSize: 5 << 20,
		UploadJournal: journal, JanitorInterval: interval}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitNoIncomplete waits up to 20 s for key to have no incomplete upload.
func waitNoIncomplete(t *testing.T, m *miniotest.Server, key string) {
	t.Helper()
	var ids []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ids = m.IncompleteUploads(t, key); len(ids) == 0 {
			return
		}
	}
	t.Fatalf("incomplete uploads of %s still there: %v", key, ids)
}

// hookReader yields size bytes of data and calls at(n) once after n bytes
// were read (n > the first part).
type hookReader struct {
	r    io.Reader
	n    int64
	at   int64
	hook func()
	once sync.Once
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.n >= h.at {
		h.once.Do(h.hook)
	}
	if rem := h.at - h.n; rem > 0 && int64(len(p)) > rem {
		p = p[:rem]
	}
	m, err := h.r.Read(p)
	h.n += int64(m)
	return m, err
}

func journalLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestUploadJanitor: multipart uploads that their Put could not abort are
// aborted by the janitor; a live one never is.
func TestUploadJanitor(t *testing.T) {
	ctx := context.Background()
	data := storagetest.RandomBytes(40 << 20) // 8 parts of 5 MiB

	// MinIO killed in the middle of a PUT: the Put answers unavailable and
	// its own abort fails; once MinIO is back the janitor aborts the upload.
	t.Run("MinIOOutage", func(t *testing.T) {
		m := miniotest.Start(t, "lakehouse-go-primary")
		journal := filepath.Join(t.TempDir(), "storaged", "uploads.jsonl")
		st := openJournaled(t, m, journal, 300*time.Millisecond)
		const key = "t/outage.bin"
		r := &hookReader{r: bytes.NewReader(data), at: 17 << 20, hook: func() {
			// Parts 1-3 are sent or in flight: the upload exists.
			m.Stop()
		}}
		_, err := st.Put(ctx, key, r, int64(len(data)), storage.PutOptions{})
		if !errs.Is(err, errs.Unavailable) {
			t.Fatalf("put during the outage: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // a sweep or two fail while MinIO is down
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
		waitNoIncomplete(t, m, key)
		if _, err := st.Head(ctx, key); !errs.Is(err, errs.NotFound) {
			t.Fatalf("head after the sweep: %v", err)
		}
		// The sweep that aborted it also compacts the journal to nothing.
		for deadline := time.Now().Add(5 * time.Second); len(journalLines(t, journal)) != 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("journal not compacted: %q", journalLines(t, journal))
			}
		}
		// The store works as before.
		if _, err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := storagetest.MustGet(t, st, key, storage.Whole); !bytes.Equal(got, data) {
			t.Fatal("read back differs")
		}
	})

	// A Put that is still sending parts is never aborted, however often the
	// janitor sweeps meanwhile.
	t.Run("LiveUploadNotAborted", func(t *testing.T) {
		m := miniotest.Start(t, "lakehouse-go-primary")
		journal := filepath.Join(t.TempDir(), "uploads.jsonl")
		st := openJournaled(t, m, journal, 20*time.Millisecond)
		const key = "t/live.bin"
		paused, resume := make(chan struct{}), make(chan struct{})
		r := &hookReader{r: bytes.NewReader(data), at: 17 << 20, hook: func() { close(paused); <-resume }}
		errc := make(chan error, 1)
		go func() {
			_, err := st.Put(ctx, key, r, int64(len(data)), storage.PutOptions{})
			errc <- err
		}()
		select {
		case <-paused:
		case err := <-errc:
			t.Fatalf("live put returned before its body was read: %v", err)
		}
		for i := 0; i < 20; i++ {
			if _, _, err := st.SweepUploads(ctx); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond) // and the janitor's own sweeps
		if ids := m.IncompleteUploads(t, key); len(ids) != 1 {
			t.Fatalf("live upload: incomplete uploads %v, want 1", ids)
		}
		close(resume)
		if err := <-errc; err != nil {
			t.Fatalf("live put: %v", err)
		}
		if got := storagetest.MustGet(t, st, key, storage.Whole); !bytes.Equal(got, data) {
			t.Fatal("read back differs")
		}
		if ids := m.IncompleteUploads(t, key); len(ids) != 0 {
			t.Fatalf("after the put: %v", ids)
		}
	})

	// The journal a previous process left: its uploads are aborted at Open
	// (one that no longer exists is dropped), a torn last line is skipped,
	// and a second store cannot take a journal in use.
	t.Run("JournalLeftByACrash", func(t *testing.T) {
		m := miniotest.Start(t, "lakehouse-go-primary")
		core := minio.Core{Client: m.Client(t)}
		const key = "t/crashed.bin"
		id, err := core.NewMultipartUpload(ctx, m.Bucket, key, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := core.PutObjectPart(ctx, m.Bucket, key, id, 1, bytes.NewReader(data[:5<<20]), 5<<20, minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
		journal := filepath.Join(t.TempDir(), "uploads.jsonl")
		left := fmt.Sprintf(`{"op":"start","bucket":%q,"key":%q,"upload_id":%q,"started":"2025-01-01T00:00:00Z"}
{"op":"start","bucket":%q,"key":"t/gone.bin","upload_id":"bm8tc3VjaC11cGxvYWQ","started":"2025-01-01T00:00:00Z"}
{"op":"start","bucket":%q,"key":"t/done.bin","upload_id":"ZG9uZQ","started":"2025-01-01T00:00:00Z"}
{"op":"done","bucket":%q,"key":"t/done.bin","upload_id":"ZG9uZQ"}
{"op":"start","bucket":"lakeh`, m.Bucket, key, id, m.Bucket, m.Bucket, m.Bucket)
		if err := os.WriteFile(journal, []byte(left), 0o600); err != nil {
			t.Fatal(err)
		}
		st := openJournaled(t, m, journal, time.Hour)
		if _, err := s3.Open(s3.Config{Endpoint: m.Endpoint(), Bucket: m.Bucket, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
			UploadJournal: journal}, nil); err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("second store on the same journal: %v", err)
		}
		waitNoIncomplete(t, m, key)
		for deadline := time.Now().Add(5 * time.Second); len(journalLines(t, journal)) != 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("journal not emptied: %q", journalLines(t, journal))
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		// Closed: the journal is free again.
		openJournaled(t, m, journal, time.Hour)
	})
}

// BenchmarkPut256MiB measures a 256 MiB multipart PUT (16 MiB parts) with
// and without the upload journal (its cost: one small write and fsync per
// upload, one unsynced write at the end).
func BenchmarkPut256MiB(b *testing.B) {
	m := miniotest.Start(b, "lakehouse-go-primary")
	data := storagetest.RandomBytes(256 << 20)
	for _, journaled := range []bool{false, true} {
		b.Run(fmt.Sprintf("journal=%v", journaled), func(b *testing.B) {
			cfg := s3.Config{Endpoint: m.Endpoint(), Bucket: m.Bucket, Region: "us-east-1",
				AccessKey: m.AccessKey, SecretKey: m.SecretKey}
			if journaled {
				cfg.UploadJournal = filepath.Join(b.TempDir(), "uploads.jsonl")
			}
			st, err := s3.Open(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := st.Put(context.Background(), "bench/put", bytes.NewReader(data), int64(len(data)), storage.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
