package storaged_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storaged"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
	"lakehouse-go/internal/testutil/syncbuf"
)

// TestS3MidBodyOutageClient: MinIO killed while a client reads an object,
// redirected (from MinIO itself) or streamed by storaged. The read error is
// unavailable naming who stopped sending — S3's endpoint and bucket, or
// storaged — not a bare "unexpected EOF" (queryd's cache fill showed "the
// object store stopped sending the file: unexpected EOF").
func TestS3MidBodyOutageClient(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, m)
	var logs syncbuf.Buffer
	srv, err := shared.Start(context.Background(), "storaged", cfg, storaged.New, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	cfg.Storaged.URL = srv.URL()
	redirected := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	t.Setenv(storage.DirectReadsEnv, "0")
	streamed := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	ctx := context.Background()
	storagetest.MustPut(t, redirected, "big", storagetest.RandomBytes(64<<20))

	var bodies []io.ReadCloser
	for _, c := range []*storage.Client{redirected, streamed} {
		rc, _, err := c.Get(ctx, "big", storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, rc)
	}
	m.Stop()
	for i, want := range []string{"S3 endpoint " + m.Endpoint() + ` bucket "lakehouse-go-primary"`, "storaged at " + srv.URL()} {
		_, err := io.Copy(io.Discard, bodies[i])
		if err == nil {
			t.Logf("%s: the whole object was in flight before MinIO stopped", want)
			continue
		}
		msg := errs.Message(err)
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(msg, want) || !strings.Contains(msg, `"big"`) {
			t.Errorf("read after MinIO stopped: %v (kind %s, message %q), want unavailable naming %s", err, errs.KindOf(err), msg, want)
		}
	}
}
