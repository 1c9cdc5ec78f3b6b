package s3_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestOutageMessage: with MinIO down, what a caller reads names the
// endpoint, the bucket and the network failure, not the S3 request's URL
// (a multipart upload id, ListObjectsV2's query string): those stay out of
// error bodies (DESIGN.md: internal details stay in the log).
func TestOutageMessage(t *testing.T) {
	m := miniotest.Start(t, "")
	s := newStore(t, m)
	ctx := context.Background()
	data := storagetest.RandomBytes(12 << 20) // multipart: parts of 5 MiB
	// MinIO dies once the first part is read: the upload id is known.
	body := &stopAfter{r: bytes.NewReader(data), n: 6 << 20, stop: m.Stop}
	_, err := s.Put(ctx, "big", body, -1, storage.PutOptions{})
	errsSeen := map[string]error{"put": err}
	_, errsSeen["head"] = s.Head(ctx, "big")
	_, _, errsSeen["get"] = s.Get(ctx, "big", storage.Whole)
	_, errsSeen["list"] = s.List(ctx, storage.ListOptions{Prefix: "a/"})
	for op, err := range errsSeen {
		msg := errs.Message(err)
		if !errs.Is(err, errs.Unavailable) || !strings.Contains(msg, m.Addr) || !strings.Contains(msg, "bucket") {
			t.Errorf("%s: %v (message %q), want unavailable naming endpoint and bucket", op, err, msg)
		}
		for _, leak := range []string{"uploadId", "list-type", "?", `"http://`} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: message %q shows the S3 request (%s)", op, msg, leak)
			}
		}
	}
}

// stopAfter calls stop once n bytes were read.
type stopAfter struct {
	r       *bytes.Reader
	n       int
	read    int
	stop    func()
	stopped bool
}

func (s *stopAfter) Read(p []byte) (int, error) {
	if s.read >= s.n && !s.stopped {
		s.stopped = true
		s.stop()
	}
	n, err := s.r.Read(p)
	s.read += n
	return n, err
}
