package gateway

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// expectDaemon is a Go net/http daemon, as every daemon behind the gateway
// is: it sends 100 Continue when a handler first reads the body. By the
// path's last segment: /big answers 413 without reading a body over
// expectLimit (queryd's max_body_bytes check), /auth 401 and /missing 404
// without reading; any other path reads the body and answers its length
// and SHA-256. It records the Expect field of each request.
type expectDaemon struct {
	srv     *httptest.Server
	mu      sync.Mutex
	expects []string
}

const expectLimit = 1 << 20

func newExpectDaemon(t *testing.T) *expectDaemon {
	d := &expectDaemon{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.expects = append(d.expects, r.Header.Get("Expect"))
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path[strings.LastIndexByte(r.URL.Path, '/'):] {
		case "/big":
			if r.ContentLength > expectLimit {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				io.WriteString(w, `{"error":{"kind":"too_large","message":"request body over 1048576 bytes"}}`)
				return
			}
		case "/auth":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"kind":"unauthorized","message":"no"}}`)
			return
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"kind":"not_found","message":"no such object"}}`)
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *expectDaemon) seenExpect() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.expects...)
}

// expectClient is curl's side of Expect: 100-continue on a raw
// connection: it sends the head, waits for the first answer head, sends
// its body only after a 100 Continue and stops sending as soon as a final
// answer came. It counts the body bytes it sent and the 100s it saw.
type expectClient struct {
	c         net.Conn
	br        *bufio.Reader
	sent      atomic.Int64
	continues int
}

func dialExpect(t *testing.T, addr string) *expectClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &expectClient{c: c, br: bufio.NewReader(c)}
}

// readHead reads one answer head (status, fields), leaving its body.
func (e *expectClient) readHead() (*http.Response, error) {
	return http.ReadResponse(e.br, nil)
}

// upload sends a PUT of size bytes from body (chunked when chunked), the
// body only after a 100, and returns the final answer with its body.
func (e *expectClient) upload(t *testing.T, path string, size int64, body io.Reader, chunked bool) (*http.Response, string) {
	t.Helper()
	framing := "Content-Length: " + strconv.FormatInt(size, 10)
	if chunked {
		framing = "Transfer-Encoding: chunked"
	}
	if _, err := fmt.Fprintf(e.c, "PUT %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n%s\r\n\r\n", path, framing); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	startBody := func() {
		go func() {
			buf := make([]byte, 64<<10)
			var err error
			for err == nil {
				select {
				case <-stop:
					wrote <- nil
					return
				default:
				}
				var n int
				n, err = body.Read(buf)
				if n > 0 {
					p := buf[:n]
					if chunked {
						p = append([]byte(strconv.FormatInt(int64(n), 16)+"\r\n"), append(p, "\r\n"...)...)
					}
					if _, werr := e.c.Write(p); werr != nil {
						wrote <- werr
						return
					}
					e.sent.Add(int64(n))
				}
			}
			if err == io.EOF && chunked {
				_, err = io.WriteString(e.c, "0\r\n\r\n")
			} else if err == io.EOF {
				err = nil
			}
			wrote <- err
		}()
	}
	started := false
	for {
		resp, err := e.readHead()
		if err != nil {
			t.Fatalf("%s: reading the answer after %d body bytes: %v", path, e.sent.Load(), err)
		}
		if resp.StatusCode == http.StatusContinue {
			e.continues++
			if !started {
				started = true
				startBody()
			}
			continue
		}
		close(stop)
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: answer body: %v", path, err)
		}
		if started {
			if werr := <-wrote; werr != nil {
				t.Logf("%s: the body's write ended with %v", path, werr)
			}
		}
		return resp, string(b)
	}
}

// cleanlyClosed reports that the gateway closed the connection with an
// end of stream (a reset would be a client's "connection reset").
func (e *expectClient) cleanlyClosed() error {
	e.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := e.br.ReadByte()
	if err == io.EOF {
		return nil
	}
	if err == nil {
		return errors.New("more bytes after the answer")
	}
	return err
}

// nextWorks sends a small upload on the same connection and checks its
// answer: keep-alive after the Expect exchange.
func (e *expectClient) nextWorks(t *testing.T) {
	t.Helper()
	body := []byte("next request")
	sum := sha256.Sum256(body)
	fmt.Fprintf(e.c, "PUT /v1/storage/objects/next HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := e.readHead()
	if err != nil {
		t.Fatalf("next request on the kept connection: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("%d %x", len(body), sum); resp.StatusCode != 200 || string(b) != want {
		t.Fatalf("next request: %d %q, want 200 %q", resp.StatusCode, b, want)
	}
}

// TestExpectContinueEndToEnd: Expect: 100-continue goes through the
// gateway to the daemon, as through Envoy or HAProxy (RFC 9110 10.1.1).
// The gateway answered 100 itself and sent the body before it read the
// daemon's answer, so curl -T of a file over queryd's max_body_bytes got
// its 413 only after 256 MiB (the daemon's lingering drain, ADR-139).
// Now, on both paths: an over-limit upload gets the daemon's 413 with
// almost nothing sent, a 401 or 404 comes without a 100 and without the
// body, each followed by a clean close; a normal upload (sized or
// chunked) gets exactly one 100 (the daemon's), goes through
// byte-identical, and the connection serves the next request.
func TestExpectContinueEndToEnd(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		d := newExpectDaemon(t)
		gw, _ := startGatewayWith(t, fast, d.srv.URL, nil)

		t.Run("over the limit", func(t *testing.T) {
			e := dialExpect(t, gw.Addr)
			resp, body := e.upload(t, "/v1/storage/objects/big", 400<<20, io.LimitReader(zeros{}, 400<<20), false)
			wantJSONError(t, resp, body, 413, "too_large")
			if n := e.sent.Load(); n >= 1<<20 {
				t.Fatalf("%d body bytes sent before the 413, want far fewer than 1 MiB", n)
			}
			if e.continues != 0 {
				t.Fatalf("%d 100 Continue before the 413", e.continues)
			}
			if !resp.Close {
				t.Fatal("the 413 with the body unsent does not say Connection: close")
			}
			if err := e.cleanlyClosed(); err != nil {
				t.Fatalf("after the 413: %v, want a clean close", err)
			}
		})
		for _, tc := range []struct {
			path, kind string
			status     int
		}{{"/v1/storage/objects/auth", "unauthorized", 401}, {"/v1/storage/objects/missing", "not_found", 404}} {
			t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
				e := dialExpect(t, gw.Addr)
				resp, body := e.upload(t, tc.path, 5<<20, io.LimitReader(zeros{}, 5<<20), false)
				wantJSONError(t, resp, body, tc.status, tc.kind)
				if n := e.sent.Load(); n != 0 || e.continues != 0 {
					t.Fatalf("%d body bytes sent, %d 100s, want none", n, e.continues)
				}
				if err := e.cleanlyClosed(); err != nil {
					t.Fatalf("after the %d: %v, want a clean close", tc.status, err)
				}
			})
		}
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("upload, chunked %v", chunked), func(t *testing.T) {
				data := make([]byte, 8<<20+123)
				rand.Read(data)
				sum := sha256.Sum256(data)
				e := dialExpect(t, gw.Addr)
				resp, body := e.upload(t, "/v1/storage/objects/file", int64(len(data)), bytes.NewReader(data), chunked)
				if want := fmt.Sprintf("%d %x", len(data), sum); resp.StatusCode != 200 || body != want {
					t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, want)
				}
				if e.continues != 1 {
					t.Fatalf("%d 100 Continue, want exactly one", e.continues)
				}
				e.nextWorks(t)
			})
		}
		// Each Expect reached the daemon (the two "next" requests had none).
		want := []string{"100-continue", "100-continue", "100-continue", "100-continue", "", "100-continue", ""}
		if got := d.seenExpect(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("the daemon saw Expect %q, want %q (forwarded)", got, want)
		}
	})
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestExpectContinueLongWorkAfterBody: a daemon's 100 Continue is not the
// first byte of its answer's head. An ingest sent with Expect (curl -T of
// a big CSV) gets queryd-style long work after its body — a conversion of
// minutes — and the wait for its answer has no bound (ADR-109); only a
// head that began must finish within partialHeadBound. Had the relayed 100
// counted as that beginning, every ingest taking longer than 10 s would
// end in a 504. Both paths; the bound shortened to 200 ms, the work 1.2 s.
func TestExpectContinueLongWorkAfterBody(t *testing.T) {
	old := partialHeadBound
	partialHeadBound = 200 * time.Millisecond
	t.Cleanup(func() { partialHeadBound = old })
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body) // the 100 Continue goes out here
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(1200 * time.Millisecond) // the conversion
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"rows":%d}`, n)
	}))
	t.Cleanup(daemon.Close)
	paths(t, func(t *testing.T, fast bool) {
		gw, _ := startGatewayWith(t, fast, "http://127.0.0.1:1", func(cfg *shared.Config) {
			cfg.Ingestd.URL = daemon.URL
		})
		e := dialExpect(t, gw.Addr)
		const size = 3 << 20
		resp, body := e.upload(t, "/v1/ingest?name=x", size, io.LimitReader(zeros{}, size), false)
		if resp.StatusCode != 200 || body != fmt.Sprintf(`{"rows":%d}`, size) {
			t.Fatalf("%d %q, want 200 with the daemon's answer after its long work", resp.StatusCode, body)
		}
		if e.continues != 1 {
			t.Fatalf("%d 100 Continue, want exactly one", e.continues)
		}
	})
}
