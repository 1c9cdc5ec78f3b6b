package storage_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
)

// TestUnsupportedPreconditions: a PUT or a DELETE with If-Unmodified-Since
// is refused (400 naming the header), as If-None-Match other than * on PUT
// is. storaged ignored them: a DELETE with a stale date removed the object.
// (If-Match on PUT is evaluated since ADR-108: TestConditionalPutLocal; on
// DELETE since ADR-154: TestConditionalDeleteLocal.)
func TestUnsupportedPreconditions(t *testing.T) {
	cfg := storagetest.Config(t)
	storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	c := storage.NewClient(base)
	storagetest.MustPut(t, c, "p/obj", []byte("kept"))
	for _, tc := range []struct{ method, header, value string }{
		{http.MethodPut, "If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"},
		{http.MethodDelete, "If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"},
	} {
		var body io.Reader
		if tc.method == http.MethodPut {
			body = strings.NewReader("overwritten")
		}
		req, err := base.NewRequest(context.Background(), tc.method, storage.ObjectsPath+"/p/obj", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(tc.header, tc.value)
		resp, err := base.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"invalid"`) || !strings.Contains(string(b), tc.header) {
			t.Errorf("%s with %s: %d %s, want 400 invalid naming the header", tc.method, tc.header, resp.StatusCode, b)
		}
		if got := storagetest.MustGet(t, c, "p/obj", storage.Whole); string(got) != "kept" {
			t.Fatalf("%s with %s: the object is now %q", tc.method, tc.header, got)
		}
	}
}
