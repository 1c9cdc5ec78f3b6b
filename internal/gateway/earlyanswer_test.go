package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lingerDaemon answers 413 right after a request's head, without reading
// its body, and then drains the body as the harness's lingering close
// does (ADR-139: a daemon over max_body_bytes keeps reading up to 256 MiB
// so that a client writing its body first can read the answer). It counts
// the body bytes that reached it.
type lingerDaemon struct {
	ln      net.Listener
	drained atomic.Int64
}

func newLingerDaemon(t *testing.T) *lingerDaemon {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &lingerDaemon{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				body := `{"error":{"kind":"too_large","message":"request body over 1048576 bytes"}}`
				fmt.Fprintf(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				n, _ := io.Copy(io.Discard, r.Body)
				d.drained.Add(n)
			}()
		}
	}()
	return d
}

// TestEarlyAnswerStopsUpload: a client uploading a big body without
// Expect to a daemon that answers 413 after the head saw the answer only
// once the gateway had sent the daemon the whole body (the daemon drains
// it, ADR-139): a 2 GB PUT went through in full first. Now, on both paths,
// the gateway looks for an early answer every earlyCheckEvery body bytes,
// stops the upload and relays the 413 at once, then closes the client's
// connection cleanly (Connection: close, a lingering close).
func TestEarlyAnswerStopsUpload(t *testing.T) {
	const size = 200 << 20
	paths(t, func(t *testing.T, fast bool) {
		d := newLingerDaemon(t)
		gw, _ := startGatewayWith(t, fast, "http://"+d.ln.Addr().String(), nil)
		c, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "PUT /v1/storage/objects/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		var sent atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 64<<10)
			for sent.Load() < size {
				select {
				case <-stop:
					return
				default:
				}
				n, err := c.Write(buf)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		close(stop)
		if err != nil {
			t.Fatalf("no answer after %d body bytes: %v", sent.Load(), err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		wantJSONError(t, resp, string(b), 413, "too_large")
		<-done
		t.Logf("%d body bytes sent before the 413, %d reached the daemon", sent.Load(), d.drained.Load())
		if n := sent.Load(); n >= 32<<20 {
			t.Fatalf("the 413 came after %d of %d body bytes, want it within a few MiB", n, size)
		}
		if !resp.Close {
			t.Fatal("the 413 with the body unsent does not say Connection: close")
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after the 413: %v, want a clean close", err)
		}
		if n := d.drained.Load(); n >= 32<<20 {
			t.Fatalf("the daemon got %d body bytes after its 413", n)
		}
	})
}

// BenchmarkFastProxySmallPOST is BenchmarkFastProxyGET with a 1 KiB body:
// the early-answer look (earlyCheckEvery) costs such a body nothing.
func BenchmarkFastProxySmallPOST(b *testing.B) {
	up := fixedUpstream(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	gw := startBenchGateway(b, up)
	c, err := net.Dial("tcp", gw)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("POST /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	br := bufio.NewReaderSize(c, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
