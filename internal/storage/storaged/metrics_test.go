package storaged_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/metricstest"
	"lakehouse-go/internal/testutil/miniotest"
)

// TestMetricsLocal: storaged's /metrics counts the objects and bytes of
// real Puts, Gets and Deletes, over HTTP and through the short-circuit
// socket apart, and a Get of a missing key as a backend error. A socket
// client reads files it opens itself under the root storaged handed it
// once (scdirect): storaged never sees those reads.
func TestMetricsLocal(t *testing.T) {
	sc, httpc, _, srv := startSocket(t)
	ctx := context.Background()
	storagetest.MustPut(t, httpc, "m/a", []byte("hello"))
	if got := storagetest.MustGet(t, httpc, "m/a", storage.Whole); string(got) != "hello" {
		t.Fatalf("get: %q", got)
	}
	if err := httpc.Delete(ctx, "m/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := httpc.Get(ctx, "m/missing", storage.Whole); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get of a missing key: %v", err)
	}
	storagetest.MustPut(t, sc, "m/b", []byte("socket!"))
	if got := storagetest.MustGet(t, sc, "m/b", storage.Whole); string(got) != "socket!" {
		t.Fatalf("socket get: %q", got)
	}
	m := metricstest.Scrape(t, srv.URL())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lakehouse_storaged_bytes_total", []string{"op", "put", "backend", "local", "via", "http"}, 5},
		{"lakehouse_storaged_bytes_total", []string{"op", "get", "backend", "local", "via", "http"}, 5},
		{"lakehouse_storaged_objects_total", []string{"op", "put", "backend", "local", "via", "http"}, 1},
		{"lakehouse_storaged_objects_total", []string{"op", "get", "backend", "local", "via", "http"}, 1},
		{"lakehouse_storaged_objects_total", []string{"op", "delete", "backend", "local", "via", "http"}, 1},
		{"lakehouse_storaged_backend_errors_total", []string{"backend", "local", "op", "get", "kind", "not_found"}, 1},
		{"lakehouse_storaged_objects_total", []string{"op", "put", "backend", "local", "via", "socket"}, 1},
		{"lakehouse_storaged_bytes_total", []string{"op", "put", "backend", "local", "via", "socket"}, 7},
	} {
		if got := m.Get(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	m.Lint(t, "lakehouse_storaged_")
}

// TestMetricsS3Errors: with MinIO down, a Put is counted as an s3 backend
// error of kind unavailable; with it up, the Put is an s3 object.
func TestMetricsS3Errors(t *testing.T) {
	mc := miniotest.Start(t, "lakehouse-go-primary")
	cfg := s3Config(t, mc)
	c, srv := storagetest.Start(t, cfg)
	ctx := context.Background()
	storagetest.MustPut(t, c, "m/up", []byte("abc"))
	mc.Stop()
	if _, err := c.Put(ctx, "m/down", strings.NewReader("x"), 1, storage.PutOptions{}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("put with S3 down: %v", err)
	}
	m := metricstest.Scrape(t, srv.URL())
	if got := m.Get("lakehouse_storaged_backend_errors_total", "backend", "s3", "op", "put", "kind", "unavailable"); got != 1 {
		t.Errorf("backend_errors_total{s3,put,unavailable} = %v, want 1", got)
	}
	if got := m.Get("lakehouse_storaged_objects_total", "op", "put", "backend", "s3", "via", "http"); got != 1 {
		t.Errorf("objects_total{put,s3,http} = %v, want 1", got)
	}
	if got := m.Get("lakehouse_storaged_bytes_total", "op", "put", "backend", "s3", "via", "http"); got != 3 {
		t.Errorf("bytes_total{put,s3,http} = %v, want 3", got)
	}
	m.Lint(t, "lakehouse_storaged_")
}
