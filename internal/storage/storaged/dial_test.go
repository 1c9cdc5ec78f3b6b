package storaged_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/storagetest"
	"lakehouse-go/internal/testutil/miniotest"
)

// unansweredPort is a loopback TCP port whose connects hang: a listener
// with a backlog of 0 that accepts nothing, its one queue slot taken by a
// connection the test holds, so the kernel drops every further SYN (the
// connect is neither refused nor accepted: what a firewalled or
// unreachable S3 host looks like). proxyTo makes it answer: it accepts
// from then on and forwards each connection to target.
type unansweredPort struct {
	Addr    string
	ln      net.Listener
	fillers []net.Conn
	mu      sync.Mutex
	conns   []net.Conn
}

func newUnansweredPort(t *testing.T) *unansweredPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "unanswered")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := &unansweredPort{Addr: ln.Addr().String(), ln: ln}
	t.Cleanup(p.close)
	// Fill the queue until a connect goes unanswered.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", p.Addr, 300*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return p
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		p.fillers = append(p.fillers, c)
		if i > 16 {
			t.Fatalf("%d connects answered by a listener that accepts nothing: cannot make a hung connect here", i)
		}
	}
}

// proxyTo accepts from now on, forwarding every connection to target.
func (p *unansweredPort) proxyTo(target string) {
	for _, c := range p.fillers {
		c.Close()
	}
	go func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				p.mu.Lock()
				p.conns = append(p.conns, c, up)
				p.mu.Unlock()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
}

func (p *unansweredPort) close() {
	p.ln.Close()
	for _, c := range p.fillers {
		c.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestS3DialTimeout: with the S3 endpoint's connects unanswered (SYNs
// dropped, on loopback), storaged's GET, HEAD, list, PUT and DELETE each
// answer 503 unavailable naming the endpoint and bucket within a few
// [s3] dial_timeouts (minio-go makes at most 2 attempts), not after the
// kernel's ~2 minutes of SYN retries; /health says degraded; once the
// endpoint answers, the same storaged serves again.
func TestS3DialTimeout(t *testing.T) {
	const dial = 400 * time.Millisecond
	m := miniotest.Start(t, "lakehouse-go-primary")
	hung := newUnansweredPort(t)
	cfg := s3Config(t, m)
	cfg.S3.Endpoint = "http://" + hung.Addr
	cfg.S3.DialTimeout = shared.Duration{Duration: dial}
	_, srv := storagetest.Start(t, cfg)
	base := storagetest.ClientFor(cfg, "storaged", true)
	hc := &http.Client{Timeout: 30 * time.Second} // far above the bound, far below the kernel's SYN retries

	const bound = 4 * time.Second // 2 attempts of 400 ms, the backoff between them, margin for a loaded machine
	where := "S3 endpoint " + cfg.S3.Endpoint
	do := func(method, path, body string) (int, http.Header, string, time.Duration) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := base.NewRequest(context.Background(), method, path, r)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v after %v", method, path, err, time.Since(start))
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), time.Since(start)
	}
	obj := storage.ObjectURLPath("dial/obj")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", obj, ""},
		{"HEAD", obj, ""},
		{"GET", storage.ObjectsPath + "?prefix=dial/", ""},
		{"PUT", obj, "hello"},
		{"DELETE", obj, ""},
	} {
		status, h, body, took := do(tc.method, tc.path, tc.body)
		msg := body
		if tc.method == "HEAD" {
			msg, _ = url.QueryUnescape(h.Get("X-Lakehouse-Error")) // a HEAD's refusal has no body
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(msg, "unavailable") || !strings.Contains(msg, where) ||
			!strings.Contains(msg, m.Bucket) || took > bound {
			t.Errorf("%s %s with connects unanswered: %d %.300s after %v, want 503 unavailable naming %s and the bucket within %v",
				tc.method, tc.path, status, msg, took, where, bound)
			continue
		}
		t.Logf("%s %s with connects unanswered: %d after %v: %.200s", tc.method, tc.path, status, took.Round(time.Millisecond), msg)
	}
	start := time.Now()
	if h := health(t, srv); h.Status != "degraded" || !strings.Contains(h.Error, hung.Addr) || time.Since(start) > bound {
		t.Errorf("health with connects unanswered: %+v after %v, want degraded naming %s", h, time.Since(start), hung.Addr)
	}

	hung.proxyTo(m.Addr)
	waitHealth(t, srv, "ok")
	if status, _, body, _ := do("PUT", obj, "hello"); status != http.StatusOK {
		t.Fatalf("PUT once the endpoint answers: %d %s", status, body)
	}
	if status, _, body, _ := do("GET", obj, ""); status != http.StatusOK || body != "hello" {
		t.Fatalf("GET once the endpoint answers: %d %q", status, body)
	}
	if status, _, body, _ := do("DELETE", obj, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE once the endpoint answers: %d %s", status, body)
	}
}
