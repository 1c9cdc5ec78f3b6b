package storaged_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

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
	// puts gets the head of a PUT as it arrives, before its body (one
	// waits; later ones are dropped until it is taken).
	puts chan http.Header
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
	c := &s3Counter{reqs: map[string]int{}, puts: make(chan http.Header, 1)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method
		if r.URL.Query().Get("X-Amz-Algorithm") != "" {
			k += " presigned"
		}
		c.mu.Lock()
		c.reqs[k]++
		c.mu.Unlock()
		if r.Method == http.MethodPut {
			h := r.Header.Clone()
			h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
			select {
			case c.puts <- h:
			default:
			}
		}
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

// TestS3PutsOneRequestEach pins what a 1 MiB PUT through storaged costs S3
// (issue 3's 1 MiB MinIO PUT row, ADR-201): one PUT — no HEAD, no second
// request, plain or create-only — over a reused connection, with the
// declared length and an unsigned payload (nothing hashed, no aws-chunked
// framing); and that PUT starts while the client is still sending: a body of
// known length up to one part streams through, it is not read whole into a
// part buffer first.
func TestS3PutsOneRequestEach(t *testing.T) {
	m := miniotest.Start(t, "lakehouse-go-primary")
	counter, endpoint := startS3Counter(t, m)
	cfg := s3Config(t, m)
	cfg.S3.Endpoint = endpoint
	client, _ := storagetest.Start(t, cfg)
	ctx := context.Background()

	body := storagetest.RandomBytes(1 << 20)
	storagetest.MustPut(t, client, "warm", body)
	counter.take()
	const n = 8
	for i := range n {
		storagetest.MustPut(t, client, fmt.Sprintf("obj-%d", i), body)
		if _, err := client.Put(ctx, fmt.Sprintf("new-%d", i), bytes.NewReader(body), int64(len(body)), storage.PutOptions{CreateOnly: true}); err != nil {
			t.Fatalf("create-only PUT: %v", err)
		}
	}
	if reqs, conns := counter.take(); fmt.Sprint(reqs) != fmt.Sprint(map[string]int{"PUT": 2 * n}) || conns > 0 {
		t.Errorf("%d 1 MiB PUTs through storaged: S3 saw requests %v on %d new connections; want %d PUTs on none", 2*n, reqs, conns, 2*n)
	}

	// The client sends half the body and waits for S3 to see the PUT.
	for len(counter.puts) > 0 {
		<-counter.puts // the earlier PUTs' heads
	}
	pr, pw := io.Pipe()
	defer pw.CloseWithError(io.ErrUnexpectedEOF) // a failed test ends the PUT
	done := make(chan error, 1)
	go func() {
		_, err := client.Put(ctx, "streamed", pr, int64(len(body)), storage.PutOptions{})
		done <- err
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	var head http.Header
	select {
	case head = <-counter.puts:
	case <-time.After(10 * time.Second):
		t.Fatal("S3 saw no PUT while half of a 1 MiB body was unsent: storaged read the body whole before sending it")
	}
	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("streamed PUT: %v", err)
	}
	if got, _, err := getAll(client, "streamed", storage.Whole); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GET streamed: %d bytes, %v", len(got), err)
	}
	for k, want := range map[string]string{"Content-Length": strconv.Itoa(len(body)), "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
		"Content-Md5": "", "Content-Encoding": "", "X-Amz-Decoded-Content-Length": "", "X-Amz-Trailer": ""} {
		if got := head.Get(k); got != want {
			t.Errorf("the PUT to S3 has %s %q; want %q", k, got, want)
		}
	}
}
