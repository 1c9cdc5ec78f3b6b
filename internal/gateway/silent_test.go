package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// setVar sets *p to v for the test.
func setVar[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// silentDaemon is a raw daemon for storaged, ingestd and observerd (none
// has a request_timeout by default) that misbehaves by path: /hang takes
// the request and never answers, /half sends part of a head and stops,
// /interim sends 100 Continue and stops, /late answers after 400 ms,
// /stream and /sse answer their head at once and the rest after 400 ms,
// /deaf reads the head and never reads the body (no answer), /deaf413
// answers 413 at once without reading the body and keeps the connection.
type silentDaemon struct {
	ln   net.Listener
	hung chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []string // "METHOD PATH"
}

func newSilentDaemon(t *testing.T) *silentDaemon {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &silentDaemon{ln: ln, hung: make(chan struct{})}
	var cmu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		close(d.hung)
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		d.wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer c.Close()
				d.serve(c)
			}()
		}
	}()
	return d
}

func (d *silentDaemon) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/'):]
		d.mu.Lock()
		d.seen = append(d.seen, r.Method+" "+r.URL.Path)
		d.mu.Unlock()
		switch last {
		case "/deaf":
			<-d.hung
			return
		case "/deaf413":
			io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"error\":\"no\"}")
			<-d.hung
			return
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		switch last {
		case "/hang":
			<-d.hung
			return
		case "/half":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
			<-d.hung
			return
		case "/interim":
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			<-d.hung
			return
		case "/late":
			time.Sleep(400 * time.Millisecond)
			io.WriteString(c, okAnswer(r))
		case "/stream":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
			time.Sleep(400 * time.Millisecond)
			io.WriteString(c, "world")
		case "/sse":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 12\r\n\r\n")
			time.Sleep(400 * time.Millisecond)
			io.WriteString(c, "data: hi\n\n\n\n")
		default:
			io.WriteString(c, okAnswer(r))
		}
	}
}

func (d *silentDaemon) url() string { return "http://" + d.ln.Addr().String() }

func (d *silentDaemon) count(method, path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, s := range d.seen {
		if s == method+" "+path {
			n++
		}
	}
	return n
}

// startSilentGateway routes storaged, ingestd and observerd to d, with the
// defaults' request_timeout of 0 for each.
func startSilentGateway(t *testing.T, fast bool, d *silentDaemon) string {
	gw, _ := startGatewayWith(t, fast, d.url(), func(c *shared.Config) {
		c.Ingestd.URL = d.url()
		c.Observerd.URL = d.url()
		for _, s := range []*shared.ServerConfig{&c.Storaged.ServerConfig, &c.Ingestd.ServerConfig, &c.Observerd.ServerConfig} {
			if s.RequestTimeout.Duration != 0 {
				t.Fatalf("request_timeout %v: the test wants the defaults' 0", s.RequestTimeout)
			}
		}
	})
	return gw.Addr
}

// A storaged, ingestd or observerd that takes a request and never begins
// its answer held the gateway's client for ever (they have no
// request_timeout, so ADR-096's bound did not apply). A GET, HEAD, DELETE
// or OPTIONS without a body to any of them, and any request to storaged
// or observerd (their work after the request is bounded), now gets 504
// timeout naming the daemon after quietHeadBound, on both paths, and is
// not sent again. An ingest (POST to ingestd, with or without a body) is
// not bounded: its conversion or compaction may take minutes. A prompt
// head followed by a slow body, an event stream's first event and a slow
// upload are never cut. (ADR-109.)
func TestSilentDaemonIs504(t *testing.T) {
	setVar(t, &quietHeadBound, 150*time.Millisecond)
	paths(t, func(t *testing.T, fast bool) {
		d := newSilentDaemon(t)
		gw := startSilentGateway(t, fast, d)
		for _, tc := range []struct{ raw, daemon, method, path string }{
			{"GET /v1/storage/objects/hang HTTP/1.1\r\nHost: x\r\n\r\n", "storaged", "GET", "/v1/storage/objects/hang"},
			{"HEAD /v1/storage/objects/hang HTTP/1.1\r\nHost: x\r\n\r\n", "storaged", "HEAD", "/v1/storage/objects/hang"},
			{"DELETE /v1/storage/objects/hang HTTP/1.1\r\nHost: x\r\n\r\n", "storaged", "DELETE", "/v1/storage/objects/hang"},
			{"OPTIONS /v1/storage/objects/hang HTTP/1.1\r\nHost: x\r\n\r\n", "storaged", "OPTIONS", "/v1/storage/objects/hang"},
			{"PUT /v1/storage/objects/hang HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "storaged", "PUT", "/v1/storage/objects/hang"},
			{"GET /v1/observer/hang HTTP/1.1\r\nHost: x\r\n\r\n", "observerd", "GET", "/v1/observer/hang"},
			{"POST /v1/observer/hang HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", "observerd", "POST", "/v1/observer/hang"},
			{"GET /v1/ingest/hang HTTP/1.1\r\nHost: x\r\n\r\n", "ingestd", "GET", "/v1/ingest/hang"},
		} {
			start := time.Now()
			answers, bodies, _ := exchange(t, gw, tc.raw, 1, false)
			if len(answers) != 1 {
				t.Fatalf("%q: no answer after %v", tc.raw, time.Since(start))
			}
			if tc.method == "HEAD" {
				if answers[0].StatusCode != 504 {
					t.Fatalf("HEAD: %d", answers[0].StatusCode)
				}
			} else {
				wantJSONError(t, answers[0], bodies[0], 504, "timeout")
				if !strings.Contains(bodies[0], tc.daemon) {
					t.Fatalf("%q: the error does not name %s: %s", tc.raw, tc.daemon, bodies[0])
				}
			}
			if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
				t.Fatalf("%q: answered after %v", tc.raw, el)
			}
			if n := d.count(tc.method, tc.path); n != 1 {
				t.Fatalf("%q: the daemon saw it %d times", tc.raw, n)
			}
		}
		// Not bounded, or not cut: each answers 200 after 400 ms.
		for _, raw := range []string{
			"POST /v1/ingest/late HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
			"POST /v1/ingest/compact/late HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			"GET /v1/storage/objects/stream HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /v1/observer/stream/sse HTTP/1.1\r\nHost: x\r\n\r\n",
		} {
			answers, bodies, _ := exchange(t, gw, raw, 1, false)
			if len(answers) != 1 || answers[0].StatusCode != 200 {
				t.Fatalf("%q: %d answers %q", raw, len(answers), bodies)
			}
			if strings.Contains(raw, "stream") && bodies[0] != "helloworld" && bodies[0] != "data: hi\n\n\n\n" {
				t.Fatalf("%q: body %q", raw, bodies[0])
			}
		}
		// An upload slower than the bound: counted from its end.
		c, err := net.Dial("tcp", gw)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(4 * time.Second))
		io.WriteString(c, "PUT /v1/storage/objects/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
		time.Sleep(400 * time.Millisecond)
		io.WriteString(c, "world")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("slow upload: %v %v", resp, err)
		}
	})
}

// A daemon that sent the start of its head and stopped held the client
// for ever when no bound applied (an ingest): the rest of a head now has
// partialHeadBound once its first byte came; a 100 Continue the gateway
// never asked for (it does not forward Expect) followed by silence too.
// A daemon with a bound (storaged) is cut by it as before. (ADR-109.)
func TestPartialHeadIs504(t *testing.T) {
	setVar(t, &partialHeadBound, 150*time.Millisecond)
	setVar(t, &quietHeadBound, 300*time.Millisecond)
	paths(t, func(t *testing.T, fast bool) {
		d := newSilentDaemon(t)
		gw := startSilentGateway(t, fast, d)
		for _, tc := range []struct{ raw, want string }{
			{"POST /v1/ingest/half HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", "did not finish its head"},
			{"POST /v1/ingest/interim HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", "did not finish its head"},
			{"POST /v1/ingest/compact/half HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "did not finish its head"},
			{"GET /v1/storage/objects/half HTTP/1.1\r\nHost: x\r\n\r\n", "did not begin its answer"},
		} {
			start := time.Now()
			answers, bodies, _ := exchange(t, gw, tc.raw, 1, false)
			if len(answers) != 1 {
				t.Fatalf("%q: no answer after %v", tc.raw, time.Since(start))
			}
			wantJSONError(t, answers[0], bodies[0], 504, "timeout")
			if !strings.Contains(bodies[0], tc.want) {
				t.Fatalf("%q: %s", tc.raw, bodies[0])
			}
			if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
				t.Fatalf("%q: answered after %v", tc.raw, el)
			}
		}
	})
}

// A daemon that stopped reading a request's body held the client for ever
// (the gateway's write to it never returned, with or without a bound on
// its answer): a write of the body that moves nothing for sendStallBound
// now ends the request, 504 naming the daemon — or the early answer the
// daemon sent (a 413), relayed. A daemon that reads slowly is not cut.
// (ADR-109.)
func TestDaemonStopsReadingBody(t *testing.T) {
	setVar(t, &sendStallBound, 300*time.Millisecond)
	setVar(t, &stallAnswerWait, 100*time.Millisecond)
	paths(t, func(t *testing.T, fast bool) {
		d := newSilentDaemon(t)
		gw := startSilentGateway(t, fast, d)
		for _, tc := range []struct {
			path    string
			chunked bool
			status  int
		}{
			{"/v1/ingest/deaf", false, 504},
			{"/v1/ingest/deaf", true, 504},
			{"/v1/storage/objects/deaf", false, 504},
			{"/v1/ingest/deaf413", false, 413},
		} {
			name := fmt.Sprintf("%s chunked=%v", tc.path, tc.chunked)
			c, err := net.Dial("tcp", gw)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			const size = 256 << 20 // far beyond the sockets' buffers
			go func() {
				if tc.chunked {
					fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", tc.path)
					chunk := strings.Repeat("x", 64<<10)
					for i := 0; i < size/len(chunk); i++ {
						if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
							return
						}
					}
					io.WriteString(c, "0\r\n\r\n")
					return
				}
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", tc.path, size)
				io.Copy(c, &patternReader{n: size})
			}()
			start := time.Now()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				c.Close()
				t.Fatalf("%s: no answer after %v: %v", name, time.Since(start), err)
			}
			b, _ := io.ReadAll(resp.Body)
			c.Close()
			if tc.status == 504 {
				wantJSONError(t, resp, string(b), 504, "timeout")
				if !strings.Contains(string(b), "stopped taking the request body") {
					t.Fatalf("%s: %s", name, b)
				}
			} else if resp.StatusCode != tc.status || string(b) != `{"error":"no"}` {
				t.Fatalf("%s: %d %q", name, resp.StatusCode, b)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("%s: answered after %v", name, el)
			}
		}
	})
}

// A daemon that reads a body slowly, with pauses shorter than the stall
// bound, gets all of it and its answer reaches the client. (ADR-109.)
func TestSlowBodyReaderNotCut(t *testing.T) {
	setVar(t, &sendStallBound, 400*time.Millisecond)
	paths(t, func(t *testing.T, fast bool) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		const size = 24 << 20
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			var n int64
			buf := make([]byte, 1<<20)
			for {
				time.Sleep(25 * time.Millisecond) // ~40 MiB/s: the buffers fill, writes wait
				m, err := io.ReadFull(r.Body, buf)
				n += int64(m)
				if err != nil {
					break
				}
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d", len(fmt.Sprint(n)), n)
		}()
		gw, _ := startGatewayWith(t, fast, "http://"+ln.Addr().String(), nil)
		c, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			fmt.Fprintf(c, "PUT /v1/storage/objects/slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
			io.Copy(c, &patternReader{n: size})
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != fmt.Sprint(size) {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	})
}

// A client that sends Expect: 100-continue and waits for the 100 before
// its body is not held: a daemon that ignores the forwarded Expect (this
// raw one sends no 100) gets the body after the wait for an answer's head,
// the gateway's 100 going to the client, and the answer follows — a hung
// storaged's 504 after the body (ADR-109), a 200; an ingest's early 413 is
// relayed at once, without a 100 (TestExpectContinueEndToEnd). Audit
// coverage: a 100 that never came would hold such a client for ever.
func TestExpectContinueNotHeld(t *testing.T) {
	setVar(t, &quietHeadBound, 150*time.Millisecond)
	setVar(t, &sendStallBound, 300*time.Millisecond)
	setVar(t, &stallAnswerWait, 100*time.Millisecond)
	paths(t, func(t *testing.T, fast bool) {
		d := newSilentDaemon(t)
		gw := startSilentGateway(t, fast, d)
		for _, tc := range []struct {
			path   string
			status int
		}{{"/v1/storage/objects/hang", 504}, {"/v1/ingest/deaf413", 413}, {"/v1/storage/objects/ok", 200}} {
			early := tc.status == 413
			c, err := net.Dial("tcp", gw)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(4 * time.Second))
			fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", tc.path)
			br := bufio.NewReader(c)
			if !early {
				line, err := br.ReadString('\n')
				if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
					c.Close()
					t.Fatalf("%s: %q %v, want the 100 first", tc.path, line, err)
				}
				if l, _ := br.ReadString('\n'); l != "\r\n" {
					c.Close()
					t.Fatalf("%s: %q after the 100", tc.path, l)
				}
				io.WriteString(c, "hello")
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				c.Close()
				t.Fatalf("%s: %v", tc.path, err)
			}
			io.Copy(io.Discard, resp.Body)
			c.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %d, want %d", tc.path, resp.StatusCode, tc.status)
			}
		}
	})
}
