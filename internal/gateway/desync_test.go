package gateway

import (
	"bufio"
	"encoding/json"
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

// rawUpstream is a daemon stand-in on 127.0.0.1 that parses what reaches
// it with net/http's own request parser, records every request it sees
// (so a test can tell what the gateway really sent: a request smuggled in
// a body shows up here as a request of its own) and answers each with the
// raw bytes respond returns — framing a real daemon would never produce.
type rawUpstream struct {
	ln      net.Listener
	respond func(r *http.Request, body []byte) string

	mu       sync.Mutex
	accepted int      // connections
	reqs     []string // "METHOD URI body" ("!broken body: ..." when it did not end well)
	late     int      // answers whose lateMark part was written
}

func newRawUpstream(t *testing.T, respond func(r *http.Request, body []byte) string) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, respond: respond}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			u.mu.Lock()
			u.accepted++
			u.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, berr := io.ReadAll(req.Body)
					if berr != nil {
						body = []byte("!broken body: " + berr.Error())
					}
					u.mu.Lock()
					u.reqs = append(u.reqs, req.Method+" "+req.RequestURI+" "+string(body))
					u.mu.Unlock()
					answer, hangUp := strings.CutSuffix(u.respond(req, body), closeMark)
					answer, late, split := strings.Cut(answer, lateMark)
					if _, err := io.WriteString(c, answer); err != nil {
						return
					}
					if split {
						time.Sleep(100 * time.Millisecond)
						if _, err := io.WriteString(c, late); err != nil {
							return
						}
						u.mu.Lock()
						u.late++
						u.mu.Unlock()
					}
					if hangUp {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	return u
}

// lateMark in an answer: what follows it is written 100 ms later, after
// the gateway has taken the answer for complete.
const lateMark = "\x00late\x00"

// closeMark ending an answer: the connection is closed after it.
const closeMark = "\x00close\x00"

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

// seen is what the upstream has received so far.
func (u *rawUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.reqs...)
}

// waitLate waits until more than n answers had their lateMark part
// written (on loopback, written is in the gateway's socket buffer).
func (u *rawUpstream) waitLate(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		u.mu.Lock()
		done := u.late > n
		u.mu.Unlock()
		if done {
			return
		}
	}
	t.Fatal("the late bytes were not written")
}

func (u *rawUpstream) lateCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.late
}

// okAnswer is a well-framed answer naming the request it answers (a
// HEAD's without the body, whose length it names).
func okAnswer(r *http.Request) string {
	b := "answer to " + r.Method + " " + r.RequestURI
	if r.Method == http.MethodHead {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(b))
	}
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
}

// settle gives the gateway time to pool the upstream connection of the
// answer a client just read (it pools it after the answer is written), so
// that the next request takes that connection rather than a fresh one.
func settle() { time.Sleep(50 * time.Millisecond) }

// paths runs f for the fast path and the net/http path.
func paths(t *testing.T, f func(t *testing.T, fast bool)) {
	for _, fast := range []bool{true, false} {
		name := "fast"
		if !fast {
			name = "net-http"
		}
		t.Run(name, func(t *testing.T) { f(t, fast) })
	}
}

// exchange sends raw on a fresh connection to the gateway and reads n
// answers (fewer if the gateway closes first; the first is read as the
// answer to a HEAD when raw starts with one); it returns them with their
// bodies and, with checkClose, whether the connection was closed after them.
func exchange(t *testing.T, addr, raw string, n int, checkClose bool) (answers []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(4 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		var req *http.Request
		if i == 0 && strings.HasPrefix(raw, "HEAD ") {
			req = &http.Request{Method: "HEAD"}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return answers, bodies, true
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d: body: %v", i, err)
		}
		answers, bodies = append(answers, resp), append(bodies, string(b))
	}
	if !checkClose {
		return answers, bodies, false
	}
	// Closed: EOF within a short wait (a kept connection just times out).
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return answers, bodies, err == io.EOF
}

// wantJSONError checks DESIGN.md's error body and its status.
func wantJSONError(t *testing.T, resp *http.Response, body string, status int, kind string) {
	t.Helper()
	var eb struct {
		Error struct{ Kind, Message, Request_ID string }
	}
	if resp.StatusCode != status || json.Unmarshal([]byte(body), &eb) != nil || eb.Error.Kind != kind || eb.Error.Message == "" {
		t.Fatalf("got %d %q, want %d with a JSON %q error body", resp.StatusCode, body, status, kind)
	}
}

// A daemon's interim 1xx answers are dropped and the final answer relayed:
// on the net/http path the 100 was taken for the answer (the client got an
// empty 200) and the real answer stayed on the pooled connection, where the
// next request got it. A 101 the gateway never asked for is a 502.
func TestInterimAnswersSkipped(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			if strings.HasSuffix(r.RequestURI, "/switch") {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nnot http"
			}
			return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + okAnswer(r)
		})
		gw, _ := startGatewayWith(t, fast, up.url(), nil)
		for _, p := range []string{"/v1/storage/a", "/v1/storage/b", "/v1/storage/c"} {
			answers, bodies, _ := exchange(t, gw.Addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
			if len(answers) != 1 || answers[0].StatusCode != 200 || bodies[0] != "answer to GET "+p {
				t.Fatalf("GET %s: %d answers, bodies %q", p, len(answers), bodies)
			}
		}
		answers, bodies, _ := exchange(t, gw.Addr, "GET /v1/storage/switch HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
		if len(answers) != 1 {
			t.Fatal("no answer to a request the daemon answered with 101")
		}
		wantJSONError(t, answers[0], bodies[0], 502, "unavailable")
	})
}

// A connection on which the daemon sent more than its answer framed — a
// body on a HEAD or a 204, bytes past Content-Length — is not pooled: the
// next request on it read those bytes as its own answer (fast path: a 502
// for a request the daemon had run; net/http path: the request was then
// sent a second time on a fresh connection).
func TestExtraBytesNotPooled(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			switch {
			case r.Method == "HEAD":
				return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
			case strings.HasSuffix(r.RequestURI, "/nocontent"):
				return "HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nok"
			case strings.HasSuffix(r.RequestURI, "/extra"):
				return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
			}
			return okAnswer(r)
		})
		gw, _ := startGatewayWith(t, fast, up.url(), nil)
		var want []string
		for i, first := range []string{"HEAD /v1/storage/h", "GET /v1/storage/nocontent", "GET /v1/storage/extra"} {
			answers, _, _ := exchange(t, gw.Addr, first+" HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
			if len(answers) != 1 || answers[0].StatusCode/100 != 2 {
				t.Fatalf("%s: %d answers", first, len(answers))
			}
			settle()
			next := fmt.Sprintf("/v1/storage/next-%d", i)
			answers, bodies, _ := exchange(t, gw.Addr, "GET "+next+" HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
			settle()
			if len(answers) != 1 || answers[0].StatusCode != 200 || bodies[0] != "answer to GET "+next {
				st := 0
				if len(answers) == 1 {
					st = answers[0].StatusCode
				}
				t.Fatalf("after %s: GET %s answered %d %q", first, next, st, bodies)
			}
			want = append(want, first+" ")
			if i > 0 {
				// Bytes past an answer on a reused connection look like
				// bytes left from the previous answer followed by this
				// request's answer (TestStrayBytesOnIdleConnection): the GET
				// goes again on a fresh connection, whose answer is taken
				// and which is then closed. (The HEAD came on a fresh one.)
				want = append(want, first+" ")
			}
			want = append(want, "GET "+next+" ")
		}
		if got := up.seen(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("the daemon saw\n%q\nwant\n%q", got, want)
		}
	})
}

// A request is not sent again once its connection answered: bytes a
// daemon sent after its answer was complete (too late for the check
// before pooling) made the next request on that connection fail to parse,
// and the net/http path then ran that request a second time on a fresh
// connection — its daemon had already run it. Now it is a 502, as on the
// fast path; a stale connection that yields nothing is still retried.
func TestNoResendAfterAnswer(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			if strings.HasSuffix(r.RequestURI, "/late") {
				return okAnswer(r) + lateMark + "garbage"
			}
			return okAnswer(r)
		})
		gw, _ := startGatewayWith(t, fast, up.url(), nil)
		if answers, _, _ := exchange(t, gw.Addr, "GET /v1/storage/late HTTP/1.1\r\nHost: x\r\n\r\n", 1, false); len(answers) != 1 || answers[0].StatusCode != 200 {
			t.Fatal("no answer to the first request")
		}
		time.Sleep(300 * time.Millisecond) // the late bytes are in by now (they come first regardless)
		answers, bodies, _ := exchange(t, gw.Addr, "DELETE /v1/storage/once HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
		if len(answers) != 1 {
			t.Fatal("no answer to the second request")
		}
		if answers[0].StatusCode != 200 {
			wantJSONError(t, answers[0], bodies[0], 502, "unavailable")
		}
		n := 0
		for _, s := range up.seen() {
			if strings.HasPrefix(s, "DELETE /v1/storage/once") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the daemon ran DELETE %d times: %q", n, up.seen())
		}
	})
}

// A request whose framing net/http settled without a trace — Content-Length
// with chunked (Go reads the chunks), Content-Length and Transfer-Encoding
// on HTTP/1.0 (Go reads the length) — closes the connection after its
// answer (RFC 9112 6.1): the bytes after it, a request a front proxy
// framed as part of the body, never reach a daemon. net/http kept the
// connection, and the daemon ran the hidden request. The fast path
// answers the same request 400 and closes; an escaped path is served by
// net/http even with the fast path on.
func TestAmbiguousFramingCloses(t *testing.T) {
	const hidden = "GET /v1/storage/hidden HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n"
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string { return okAnswer(r) })
		gw, _ := startGatewayWith(t, fast, up.url(), func(c *shared.Config) { c.Auth.Token = "tok" })
		for name, raw := range map[string]string{
			"CL+TE":           "POST /v1/storage/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"CL+TE escaped":   "POST /v1/storage/%61 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"TE+CL no auth":   "POST /v1/storage/%61 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
			"HTTP/1.0 CL+TE":  "POST /v1/storage/a HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: Bearer tok\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"HTTP/1.0 TE+CL2": "PUT /v1/storage/a HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: Bearer tok\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n",
		} {
			t.Run(name, func(t *testing.T) {
				answers, _, closed := exchange(t, gw.Addr, raw+hidden, 2, true)
				if len(answers) != 1 || !closed {
					t.Fatalf("%d answers, closed %v: want one answer and the connection closed", len(answers), closed)
				}
				for _, s := range up.seen() {
					if strings.Contains(s, "hidden") {
						t.Fatalf("the daemon ran the hidden request: %q", up.seen())
					}
				}
			})
		}
	})
}

// A daemon's header field whose name is not a token — whitespace before
// the colon, a NUL — never reaches the client: the fast path relayed
// "Content-Length : 5" as it came, next to its own framing, which a
// lenient client may take for the length (response splitting). It is a
// 502 now; net/http drops or refuses such a field.
func TestBadResponseFieldNames(t *testing.T) {
	bad := map[string]string{
		"space-before-colon": "Content-Length : 5",
		"tab-before-colon":   "Transfer-Encoding\t: chunked",
		"nul":                "X-Bad\x00: 1",
		"not-a-token":        "X(y): 1",
	}
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			field := bad[strings.TrimPrefix(r.URL.Path, "/v1/storage/")]
			return "HTTP/1.1 200 OK\r\n" + field + "\r\nContent-Length: 2\r\n\r\nok"
		})
		gw, _ := startGatewayWith(t, fast, up.url(), nil)
		for name, field := range bad {
			t.Run(name, func(t *testing.T) {
				got := rawExchange(t, gw.Addr, "GET /v1/storage/"+name+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				if strings.Contains(got, field[:strings.IndexByte(field, ':')]) || !strings.HasPrefix(got, "HTTP/1.1 ") {
					t.Fatalf("relayed: %q", got)
				}
			})
		}
	})
}

// A chunked request's trailer section holds field lines only: the fast
// path discarded whatever lines followed the last chunk up to an empty
// one, so a request line after a "0" chunk whose final CRLF was left out
// was swallowed as a trailer (a front proxy that reads the body as
// net/http does frames that request differently). It is now a 400 with
// the JSON error body, as on the net/http path, and the daemon's request
// never completes. Real trailers still pass.
func TestRequestTrailersAreFields(t *testing.T) {
	head := "POST /v1/storage/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n"
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string { return okAnswer(r) })
		gw, _ := startGatewayWith(t, fast, up.url(), nil)
		for name, trailer := range map[string]string{
			"request line": "GET /v1/storage/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			"no colon":     "X-T\r\n\r\n",
			"NUL":          "X-T: a\x00b\r\n\r\n",
			"space":        "X-T : 1\r\n\r\n",      // net/http reads it (and drops it)
			"folded":       "X-T: 1\r\n 2\r\n\r\n", // net/http reads it (and drops it)
		} {
			t.Run(name, func(t *testing.T) {
				if !fast && (name == "space" || name == "folded") {
					t.Skip("net/http's trailer reader is lenient here; the trailer is not forwarded")
				}
				answers, bodies, _ := exchange(t, gw.Addr, head+trailer, 1, false)
				if len(answers) != 1 {
					t.Fatal("no answer")
				}
				wantJSONError(t, answers[0], bodies[0], 400, "invalid")
			})
		}
		answers, bodies, _ := exchange(t, gw.Addr, head+"X-T: 1\r\nX-U:\r\n\r\n", 1, false)
		if len(answers) != 1 || answers[0].StatusCode != 200 || bodies[0] != "answer to POST /v1/storage/up" {
			t.Fatalf("well-formed trailers: %d answers %q", len(answers), bodies)
		}
		for _, s := range up.seen() {
			if s != "POST /v1/storage/up ab" && !strings.HasPrefix(s, "POST /v1/storage/up !broken body") {
				t.Fatalf("the daemon saw %q", up.seen())
			}
		}
	})
}

// An answer the daemon cuts short reaches the client cut short: the
// net/http path finished a chunked answer with its last chunk when the
// daemon's stream broke, so a daemon dying mid-stream looked like a
// complete, shorter answer. An answer framed by the close is complete.
func TestCutAnswerStaysCut(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			switch strings.TrimPrefix(r.URL.Path, "/v1/storage/") {
			case "chunked":
				return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" + closeMark
			case "length":
				return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello" + closeMark
			}
			return "HTTP/1.1 200 OK\r\n\r\nhello" + closeMark // ends with the close: complete
		})
		gw, _ := startGatewayWith(t, fast, up.url(), nil)
		for _, name := range []string{"chunked", "length", "close"} {
			c, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(4 * time.Second))
			io.WriteString(c, "GET /v1/storage/"+name+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			var b []byte
			if err == nil {
				b, err = io.ReadAll(resp.Body)
			}
			c.Close()
			if name == "close" {
				if err != nil || string(b) != "hello" {
					t.Fatalf("%s: %q %v, want the whole answer", name, b, err)
				}
			} else if err == nil && (!fast || name != "length") {
				t.Fatalf("%s: the cut answer %q read as complete", name, b)
			} else if err == nil {
				// The fast path still held the whole of it (head and
				// "hello") in its buffer: nothing was sent, so the client
				// gets the 502 of a daemon that failed before answering.
				wantJSONError(t, resp, string(b), 502, "unavailable")
			}
		}
	})
}

// The fast path refuses a malformed request head with DESIGN.md's JSON
// error body (it was net/http's plain text), the status that says why,
// the client's request id when it sent a sane one, and a closed
// connection: nothing reaches a daemon.
func TestFastHeadErrorsAreJSON(t *testing.T) {
	up := newRawUpstream(t, func(r *http.Request, _ []byte) string { return okAnswer(r) })
	gw, _ := startGatewayWith(t, true, up.url(), nil)
	for name, c := range map[string]struct {
		head   string
		status int
		kind   string
	}{
		"CL and TE":     {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "invalid"},
		"two CL":        {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400, "invalid"},
		"CL sign":       {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nContent-Length: +2\r\n\r\nab", 400, "invalid"},
		"TE list":       {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "not_implemented"},
		"space in name": {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nTransfer-Encoding : chunked\r\n\r\n", 400, "invalid"},
		"obs-fold":      {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nX-A: 1\r\n 2\r\n\r\n", 400, "invalid"},
		"no Host":       {"GET /v1/storage/x HTTP/1.1\r\nX-Request-Id: rid-1\r\n\r\n", 400, "invalid"},
		// net/http's Host bytes (httpguts.ValidHostHeader): no "@", no "/".
		"Host userinfo": {"GET /v1/storage/x HTTP/1.1\r\nX-Request-Id: rid-1\r\nHost: u@a\r\n\r\n", 400, "invalid"},
		"Host path":     {"GET /v1/storage/x HTTP/1.1\r\nX-Request-Id: rid-1\r\nHost: a/b\r\n\r\n", 400, "invalid"},
		"too large":     {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\nX-Long: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n", 431, "too_large"},
	} {
		t.Run(name, func(t *testing.T) {
			answers, bodies, closed := exchange(t, gw.Addr, c.head+"GET /v1/storage/after HTTP/1.1\r\nHost: a\r\n\r\n", 2, true)
			if len(answers) != 1 || !closed {
				t.Fatalf("%d answers, closed %v", len(answers), closed)
			}
			wantJSONError(t, answers[0], bodies[0], c.status, c.kind)
			if id := answers[0].Header.Get("X-Request-Id"); id != "rid-1" || !strings.Contains(bodies[0], `"request_id":"rid-1"`) {
				t.Fatalf("request id %q in %s", id, bodies[0])
			}
		})
	}
	if s := up.seen(); len(s) != 0 {
		t.Fatalf("the daemon saw %q", s)
	}
}

// An answer with both Content-Length and Transfer-Encoding is relayed by
// its chunks without the length (RFC 9112 6.3), and its connection is not
// pooled: the daemon may have framed it by the length, and the bytes
// after the chunks would be the next request's answer. The fast path
// pooled it. (net/http's reader drops the length without a trace; the
// net/http path still pools such a connection.)
func TestBothFramingsNotPooled(t *testing.T) {
	up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
		if strings.HasSuffix(r.RequestURI, "/both") {
			return "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
		}
		return okAnswer(r)
	})
	gw, _ := startGatewayWith(t, true, up.url(), nil)
	answers, bodies, _ := exchange(t, gw.Addr, "GET /v1/storage/both HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
	if len(answers) != 1 || bodies[0] != "ok" || answers[0].ContentLength != -1 {
		t.Fatalf("%d answers %q", len(answers), bodies)
	}
	if answers, _, _ = exchange(t, gw.Addr, "GET /v1/storage/next HTTP/1.1\r\nHost: x\r\n\r\n", 1, false); len(answers) != 1 {
		t.Fatal("no answer")
	}
	up.mu.Lock()
	n := up.accepted
	up.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d upstream connections for two requests: the one that carried both framings was reused", n)
	}
}

// Bytes a daemon sends after its answer, once the connection is back in
// the pool — garbage, a complete forged answer, or a head that would take
// the next answer for its body — never reach the next request on that
// connection: the next client got a 502 (garbage), or the forged answer
// as its own (another client's bytes). Every request after it gets its
// own answer, and the daemon sees it once. "peek": the connection was idle
// long enough to be peeked before use (getFor); "answer": it is reused
// sooner, as on a busy gateway, and a GET or HEAD learns it from its
// answer (outOfStep) and goes again on a fresh connection — the daemon
// then sees it twice (it had it on the poisoned connection too).
func TestStrayBytesOnIdleConnection(t *testing.T) {
	strays := map[string]string{
		"garbage": "garbage\r\n",
		"forged":  "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
		"head":    "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n",
	}
	for _, check := range []string{"peek", "answer"} {
		t.Run(check, func(t *testing.T) {
			if check == "answer" {
				old := idlePeek
				idlePeek = time.Hour
				t.Cleanup(func() { idlePeek = old })
			}
			strayBytes(t, strays, check == "peek")
		})
	}
}

func strayBytes(t *testing.T, strays map[string]string, peek bool) {
	paths(t, func(t *testing.T, fast bool) {
		up := newRawUpstream(t, func(r *http.Request, _ []byte) string {
			if s, ok := strays[strings.TrimPrefix(r.URL.Path, "/v1/storage/first-")]; ok {
				return okAnswer(r) + lateMark + s
			}
			return okAnswer(r)
		})
		gw, logs := startGatewayWith(t, fast, up.url(), nil)
		defer func() {
			// A daemon out of step is named in the log when a request had
			// to go again.
			if !peek && !t.Failed() && !strings.Contains(logs.String(), "out of step") {
				t.Errorf("no log line names the answer out of step:\n%s", logs.String())
			}
		}()
		for kind := range strays {
			for _, method := range []string{"GET", "HEAD", "DELETE", "POST"} {
				t.Run(kind+"/"+method, func(t *testing.T) {
					first := "/v1/storage/first-" + kind
					late := up.lateCount()
					answers, bodies, _ := exchange(t, gw.Addr, "GET "+first+" HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
					if len(answers) != 1 || answers[0].StatusCode != 200 || bodies[0] != "answer to GET "+first {
						t.Fatalf("GET %s: %d answers %q", first, len(answers), bodies)
					}
					up.waitLate(t, late) // the stray bytes are in the pooled connection
					time.Sleep(10 * time.Millisecond)
					next := "/v1/storage/next-" + kind + "-" + method
					raw := method + " " + next + " HTTP/1.1\r\nHost: x\r\n\r\n"
					if method == "POST" {
						raw = method + " " + next + " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
					}
					answers, bodies, _ = exchange(t, gw.Addr, raw, 1, false)
					settle()
					want := "answer to " + method + " " + next
					if method == "HEAD" {
						want = ""
					}
					// A HEAD's answer names the length of the GET's body: the
					// forged answer's is 6.
					if len(answers) != 1 || answers[0].StatusCode != 200 || bodies[0] != want || answers[0].ContentLength != int64(len("answer to "+method+" "+next)) {
						st := 0
						if len(answers) == 1 {
							st = answers[0].StatusCode
						}
						t.Fatalf("%s %s after a stray %s: answered %d %q, want 200 %q", method, next, kind, st, bodies, want)
					}
					n := 0
					for _, s := range up.seen() {
						if strings.HasPrefix(s, method+" "+next+" ") {
							n++
						}
					}
					times := 1
					if !peek && (method == "GET" || method == "HEAD") {
						times = 2 // sent on the poisoned connection, then on a fresh one
					}
					if n != times {
						t.Fatalf("the daemon saw %s %s %d times, want %d", method, next, n, times)
					}
				})
			}
		}
	})
}
