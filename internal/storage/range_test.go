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
	for _, rng := range []string{"bytes=5-", "bytes=9-10", "bytes=-0", "bytes=0-1,3-4"} {
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
	_, _, err := c.Get(context.Background(), "r/obj", storage.GetOptions{Offset: 5})
	if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != http.StatusRequestedRangeNotSatisfiable || !strings.Contains(errs.Message(err), "the object has 5 bytes") {
		t.Fatalf("client: %v (status %d)", err, errs.StatusOf(err))
	}
}
