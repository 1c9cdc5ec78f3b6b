package storage_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestUnsatisfiableRange: a 416 says the object's size in Content-Range:
// bytes */N (RFC 9110), and the typed client still reads it as Invalid 416.
func TestUnsatisfiableRange(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	c := storage.NewClient(base)
	storagetest.MustPut(t, c, "r/obj", []byte("hello"))
	for _, rng := range []string{"bytes=5-", "bytes=9-10", "bytes=-0", "bytes=3-1"} {
		req, err := base.NewRequest(context.Background(), http.MethodGet, storage.ObjectsPath+"/r/obj", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", rng)
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */5" || !strings.Contains(string(body), `"invalid"`) {
			t.Errorf("%s: %d Content-Range %q %s", rng, resp.StatusCode, resp.Header.Get("Content-Range"), body)
		}
	}
	// Past the end (at the end, Offset 5, is an empty read: Store.Get).
	_, _, err := c.Get(context.Background(), "r/obj", storage.GetOptions{Offset: 6})
	if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != http.StatusRequestedRangeNotSatisfiable || !strings.Contains(errs.Message(err), "the object has 5 bytes") {
		t.Fatalf("client: %v (status %d)", err, errs.StatusOf(err))
	}
}

// TestHeadErrorMessage: a HEAD answer has no body; the typed client still
// gets the error's message (through errs.ErrorHeader), not "HTTP 400: "
// — a missing bucket or an S3 outage named nothing behind a HEAD.
func TestHeadErrorMessage(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	c := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))
	storagetest.MustPut(t, c, "h/obj", []byte("hello"))
	// A key the local backend refuses (a segment over 255 bytes) but the
	// client lets through: storaged's own message must arrive.
	_, err := c.Head(context.Background(), "h/"+strings.Repeat("x", 300))
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("kind: %v", err)
	}
	if msg := errs.Message(err); strings.HasPrefix(msg, "HTTP ") || !strings.Contains(msg, "255") {
		t.Fatalf("HEAD error lost its message: %q", msg)
	}
	_, err = c.Head(context.Background(), "h/missing")
	if !errs.Is(err, errs.NotFound) || strings.HasPrefix(errs.Message(err), "HTTP ") {
		t.Fatalf("missing: %v", err)
	}
}

// TestHTTPAnswersLocal: storaged's raw HTTP answers on the local backend
// (TestS3HTTPAnswers holds the s3 backend to the same).
func TestHTTPAnswersLocal(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	storagetest.HTTPAnswers(t, storagetest.ClientFor(cfg, "storaged", true))
}

// TestContentTypeLocal: a PUT's Content-Type round trips through storaged
// on the local backend (TestS3ContentType holds the s3 backend to the same).
func TestContentTypeLocal(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	storagetest.ContentTypeAnswers(t, storagetest.ClientFor(cfg, "storaged", true))
}

// TestSuffixUnderReplaceLocal: a suffix Range is one backend call on the
// local backend (TestS3SuffixUnderReplace on s3).
func TestSuffixUnderReplaceLocal(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	storagetest.SuffixUnderReplace(t, storagetest.ClientFor(cfg, "storaged", true))
}
