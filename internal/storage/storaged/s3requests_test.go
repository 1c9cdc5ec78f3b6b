package storaged_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// s3Counter is a loopback proxy in front of MinIO that counts the requests
// (by method; "GET presigned" for a presigned URL's) and the TCP
// connections that reach it.
type s3Counter struct {
	mu    sync.Mutex
	reqs  map[string]int
	conns int
}

func (c *s3Counter) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, n := c.reqs, c.conns
	c.reqs, c.conns = map[string]int{}, 0
	return r, n
}

func startS3Counter(t *testing.T, m *miniotest.Server) (*s3Counter, string) {
	target, _ := url.Parse(m.Endpoint())
	rp := httputil.NewSingleHostReverseProxy(target)
	c := &s3Counter{reqs: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method
		if r.URL.Query().Get("X-Amz-Algorithm") != "" {
			k += " presigned"
		}
		c.mu.Lock()
		c.reqs[k]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r) // Host stays the proxy's: the signature holds
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// TestS3GetsOneRequestEach pins what a GET through storaged costs S3 (the
// 1 MiB GET rows of issue 3, ADR-146): a streamed GET, whole or ranged, is
// one GET to S3 — no HEAD, no listing, no second request — over a reused
// connection; a redirected GET costs storaged no request at all (the URL is
// signed locally) and the client one GET of the presigned URL.
func TestS3GetsOneRequestEach(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	counter, endpoint := startS3Counter(t, m)
	cfg := s3Config(t, m)
	cfg.S3.Endpoint = endpoint
	redirected, _ := storagetest.Start(t, cfg)
	t.Setenv(storage.DirectReadsEnv, "0")
	streamed := storage.NewClient(storagetest.ClientFor(cfg, "storaged", true))

	body := storagetest.RandomBytes(1 << 20)
	const n = 8
	for i := range n {
		storagetest.MustPut(t, streamed, fmt.Sprintf("obj-%d", i), body)
	}
	counter.take()
	for _, c := range []struct {
		name      string
		client    *storage.Client
		wantReqs  map[string]int
		wantConns int
	}{
		{"streamed", streamed, map[string]int{"GET": 2 * n}, 0},
		{"redirected", redirected, map[string]int{"GET presigned": 2 * n}, 1},
	} {
		for i := range n {
			key := fmt.Sprintf("obj-%d", i)
			got, _, err := getAll(c.client, key, storage.Whole)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%s GET %s: %d bytes, %v", c.name, key, len(got), err)
			}
			got, _, err = getAll(c.client, key, storage.GetOptions{Offset: 1000, Length: 5000})
			if err != nil || !bytes.Equal(got, body[1000:6000]) {
				t.Fatalf("%s ranged GET %s: %d bytes, %v", c.name, key, len(got), err)
			}
		}
		reqs, conns := counter.take()
		if fmt.Sprint(reqs) != fmt.Sprint(c.wantReqs) || conns > c.wantConns {
			t.Errorf("%d %s GETs through storaged: S3 saw requests %v on %d new connections; want %v on at most %d",
				2*n, c.name, reqs, conns, c.wantReqs, c.wantConns)
		}
	}
}
