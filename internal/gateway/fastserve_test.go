package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/syncbuf"
)

// startGatewayWith runs the gateway with the fast path on or off and the
// given config tweaks; logs go to the returned buffer.
func startGatewayWith(t *testing.T, fast bool, upURL string, tweak func(*shared.Config)) (*shared.Server, *syncbuf.Buffer) {
	t.Helper()
	if fast {
		t.Setenv("LH_GATEWAY_FASTPATH", "1")
	} else {
		t.Setenv("LH_GATEWAY_FASTPATH", "0")
	}
	cfg := shared.Default(t.TempDir())
	for _, n := range shared.Daemons {
		cfg.Section(n).Bind = "127.0.0.1:0"
	}
	cfg.Storaged.URL = upURL
	cfg.Catalogd.URL = "http://127.0.0.1:1"
	cfg.Report.Enabled = false
	if tweak != nil {
		tweak(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	s, err := shared.Start(context.Background(), "gateway", cfg, New, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, logs
}

// rawExchange sends req on a fresh connection and returns what came back
// until the server closed it (or timeout).
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, req)
	b, _ := io.ReadAll(c)
	return string(b)
}

func okUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Seen-Id", r.Header.Get("X-Request-Id"))
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	return up
}

func TestFastRejectsMalformedHeads(t *testing.T) {
	gw, _ := startGatewayWith(t, true, okUpstream(t).URL, nil)
	long := strings.Repeat("a", 1<<20+8192)
	for name, c := range map[string]struct{ req, want string }{
		"CL and TE":        {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400"},
		"two CL":           {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "HTTP/1.1 400"},
		"bad CL":           {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 400"},
		"TE gzip":          {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501"},
		"CR in value":      {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", "HTTP/1.1 400"},
		"NUL in value":     {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", "HTTP/1.1 400"},
		"space in name":    {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", "HTTP/1.1 400"},
		"folded":           {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", "HTTP/1.1 400"},
		"no host":          {"GET /v1/storage/x HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		"two hosts":        {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400"},
		"long header":      {"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-Long: " + long + "\r\n\r\n", "HTTP/1.1 431"},
		"bad chunk size":   {"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "HTTP/1.1 400"},
		"NUL in URL (net)": {"GET /v1/storage/x\x00y HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
		"CR in URL (net)":  {"GET /v1/storage/x\ry HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
	} {
		t.Run(name, func(t *testing.T) {
			got := rawExchange(t, gw.Addr, c.req)
			if !strings.HasPrefix(got, c.want) {
				t.Fatalf("got %.200q, want %q", got, c.want)
			}
		})
	}
}

// The fast path and the net/http path answer the same, log the same line
// and count the same metrics.
func TestFastMatchesNetHTTP(t *testing.T) {
	lineRe := regexp.MustCompile(`time=\S+ (level=INFO msg=request svc=gateway req_id=\S+ op="[^"]+" status=\d+ bytes=\d+) dur_ms=\d+ peer=127\.0\.0\.1:\d+`)
	type answer struct {
		status               int
		body, reqID, wwwAuth string
		line                 string
	}
	run := func(fast bool) []answer {
		up := okUpstream(t)
		gw, logs := startGatewayWith(t, fast, up.URL, func(c *shared.Config) {
			c.Auth.Token = "tok"
			c.Log.Access = true
		})
		var out []answer
		for _, c := range []struct{ method, path, auth, reqID string }{
			{"GET", "/v1/storage/objects/a", "Bearer tok", "rid-1"},
			{"GET", "/v1/storage", "bearer tok", "rid-2"},
			{"GET", "/v1/storage/x", "Bearer nope", "rid-3"},
			{"GET", "/v1/storage/x", "", strings.Repeat("x", 200)},
			{"HEAD", "/v1/storage/x", "Bearer tok", "rid-5"},
			{"GET", "/v1/catalog/x", "Bearer tok", "rid-6"},
			{"GET", "/nope", "Bearer tok", "rid-7"},
		} {
			req, _ := http.NewRequest(c.method, gw.URL()+c.path, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			req.Header.Set("X-Request-Id", c.reqID)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a := answer{status: resp.StatusCode, body: string(b), reqID: resp.Header.Get("X-Request-Id"), wwwAuth: resp.Header.Get("WWW-Authenticate")}
			if len(c.reqID) > 128 {
				if len(a.reqID) != 32 || !strings.Contains(a.body, a.reqID) {
					t.Fatalf("generated id %q not echoed in %s", a.reqID, b)
				}
				a.body = strings.ReplaceAll(a.body, a.reqID, "GEN")
				a.reqID = "GEN"
			} else if a.reqID != c.reqID {
				t.Fatalf("request id %q, want %q", a.reqID, c.reqID)
			}
			if c.path == "/v1/storage/objects/a" && resp.Header.Get("X-Seen-Id") != c.reqID {
				t.Fatalf("upstream saw id %q", resp.Header.Get("X-Seen-Id"))
			}
			out = append(out, a)
		}
		resp, err := http.Get(gw.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The 401 is counted just after it left (a sized answer is
		// flushed before its metrics and access line, so that a cut of it
		// is seen: flushOwnAnswer): a moment for that.
		time.Sleep(100 * time.Millisecond)
		req, _ := http.NewRequest("GET", gw.URL()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var metrics []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "lakehouse_http_requests_total{") || strings.HasPrefix(l, "lakehouse_http_request_duration_seconds_count{") {
				metrics = append(metrics, l)
			}
		}
		out = append(out, answer{body: strings.Join(metrics, "\n")})
		gw.Shutdown(context.Background())
		var lines []string
		for _, m := range lineRe.FindAllStringSubmatch(logs.String(), -1) {
			lines = append(lines, regexp.MustCompile(`req_id=[0-9a-f]{32} `).ReplaceAllString(m[1], "req_id=GEN "))
		}
		out = append(out, answer{line: strings.Join(lines, "\n")})
		return out
	}
	fast, slow := run(true), run(false)
	if len(fast) != len(slow) {
		t.Fatalf("%d vs %d answers", len(fast), len(slow))
	}
	for i := range fast {
		if fast[i] != slow[i] {
			t.Errorf("answer %d differs:\nfast:     %+v\nnet/http: %+v", i, fast[i], slow[i])
		}
	}
	if !strings.Contains(fast[len(fast)-2].body, `route="/v1/storage/*"`) || !strings.Contains(fast[len(fast)-1].line, `op="GET /v1/storage/objects/a" status=200`) {
		t.Fatalf("metrics or access lines missing:\n%s\n%s", fast[len(fast)-2].body, fast[len(fast)-1].line)
	}
}

func TestFastAllowedIPs(t *testing.T) {
	gw, _ := startGatewayWith(t, true, okUpstream(t).URL, func(c *shared.Config) { c.Auth.AllowedIPs = []string{"10.0.0.0/8"} })
	resp, err := http.Get(gw.URL() + "/v1/storage/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "allowed_ips") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// Pipelined requests, a hand-off to net/http mid-connection, and Expect.
func TestFastPipelineHandoffExpect(t *testing.T) {
	gw, _ := startGatewayWith(t, true, okUpstream(t).URL, nil)
	c, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /v1/storage/a HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/storage/b HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	}
	io.WriteString(c, "PUT /v1/storage/c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "abc")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(err, resp)
	}
	io.ReadAll(resp.Body)
	io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/storage/d HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{`"service":"gateway"`, "ok"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	}
}

// Shutdown drains an in-flight request.
func TestFastGracefulShutdown(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "late")
	}))
	defer up.Close()
	gw, _ := startGatewayWith(t, true, up.URL, nil)
	res := make(chan string, 1)
	go func() {
		resp, err := http.Get(gw.URL() + "/v1/storage/x")
		if err != nil {
			res <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	if err := gw.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-res; got != "late" {
		t.Fatalf("in-flight request got %q", got)
	}
	if _, err := http.Get(gw.URL() + "/v1/storage/x"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// A request_timeout on the gateway ends a slow upstream exchange the same
// way on both paths.
func TestFastRequestTimeoutMatches(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	defer up.Close()
	var got [2]string
	for i, fast := range []bool{true, false} {
		gw, _ := startGatewayWith(t, fast, up.URL, func(c *shared.Config) { c.Gateway.RequestTimeout = shared.Duration{Duration: 100 * time.Millisecond} })
		start := time.Now()
		resp, err := http.Get(gw.URL() + "/v1/storage/slow")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if time.Since(start) > 2*time.Second {
			t.Fatalf("fast=%v: the timeout did not end the request", fast)
		}
		got[i] = resp.Status + " " + regexp.MustCompile(`"request_id":"[0-9a-f]+"`).ReplaceAllString(string(b), `"request_id":"-"`)
	}
	if got[0] != got[1] || !strings.HasPrefix(got[0], "504 ") || !strings.Contains(got[0], `"kind":"timeout"`) {
		t.Fatalf("fast %q vs net/http %q, want both 504 timeout", got[0], got[1])
	}
}

// A client that goes away stops the upstream exchange — on its first
// request, and on a slow request after many fast ones on the same
// connection (the watcher's timer runs on across requests instead of
// being reset per request; it must still fire).
func TestFastClientDisconnectStopsUpstream(t *testing.T) {
	for _, tc := range []struct {
		name string
		fast time.Duration // fast requests first, for this long
		idle time.Duration // then a pause, long enough for the sweeper to stop
	}{{"first request", 0, 0}, {"after fast requests", 300 * time.Millisecond, 0}, {"after a pause", 300 * time.Millisecond, 200 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			gone := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/storage/slow" {
					io.WriteString(w, "ok")
					return
				}
				select {
				case <-r.Context().Done():
					close(gone)
				case <-time.After(10 * time.Second):
				}
			}))
			defer up.Close()
			gw, _ := startGatewayWith(t, true, up.URL, nil)
			c, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for start, n := time.Now(), 0; time.Since(start) < tc.fast; n++ {
				io.WriteString(c, "GET /v1/storage/fast HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "ok" {
					t.Fatalf("fast request %d: %d %q", n, resp.StatusCode, b)
				}
			}
			if tc.idle > 0 {
				time.Sleep(tc.idle)
				if sweeperRuns() {
					t.Fatal("the sweeper runs on with no request awaited")
				}
			}
			io.WriteString(c, "GET /v1/storage/slow HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			c.Close()
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("upstream request was not cancelled")
			}
		})
	}
}

// sweeperRuns reports whether a fastServer.sweep goroutine exists.
func sweeperRuns() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*fastServer).sweep(")
}

// TestTruncatedBodyIs400: a body that ends (the client half-closes) before
// its Content-Length, or breaks mid-chunk, is the request's fault: 400
// invalid with the error body, on both the fast and the net/http path (it
// was a 500 internal).
func TestTruncatedBodyIs400(t *testing.T) {
	for _, fast := range []bool{true, false} {
		up := okUpstream(t)
		gw, _ := startGatewayWith(t, fast, up.URL, nil)
		for _, tc := range []struct{ name, head, body string }{
			{"short", "Content-Length: 100\r\n", strings.Repeat("x", 10)},
			{"broken chunk", "Transfer-Encoding: chunked\r\n", "5\r\nabc"},
		} {
			c, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "POST /v1/storage/objects/t HTTP/1.1\r\nHost: x\r\n"+tc.head+"\r\n"+tc.body)
			c.(*net.TCPConn).CloseWrite()
			b, _ := io.ReadAll(c)
			c.Close()
			got := string(b)
			if !strings.HasPrefix(got, "HTTP/1.1 400") || !strings.Contains(got, `"kind":"invalid"`) {
				t.Fatalf("fast %v, %s body: %.300q", fast, tc.name, got)
			}
		}
	}
}

// TestPostAfterDaemonIdleTimeout: a POST with a body after the daemon's
// idle timeout closed the pooled connection is answered, not a 502 (a body
// cannot be retried on a fresh connection, so the pool drops connections
// older than half the daemon's idle timeout).
func TestPostAfterDaemonIdleTimeout(t *testing.T) {
	for _, fast := range []bool{true, false} {
		up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, "got "+string(b))
		}))
		up.Config.IdleTimeout = 300 * time.Millisecond
		up.Start()
		t.Cleanup(up.Close)
		gw, _ := startGatewayWith(t, fast, up.URL, func(c *shared.Config) {
			c.Storaged.IdleTimeout = shared.Duration{Duration: 300 * time.Millisecond}
		})
		for i := range 3 {
			resp, err := http.Post(gw.URL()+"/v1/storage/objects/x", "text/plain", strings.NewReader(fmt.Sprint("body ", i)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != fmt.Sprint("got body ", i) {
				t.Fatalf("fast %v, POST %d after the daemon's idle timeout: %d %s", fast, i, resp.StatusCode, b)
			}
			time.Sleep(500 * time.Millisecond) // the daemon closes the idle connection
		}
	}
}

// A malformed %-escape in a routed path is answered with DESIGN.md's JSON
// error body (net/http answers such a target with its own plain-text 400
// before any handler runs); the connection stays usable, and a path with
// valid escapes still reaches its daemon unescaped-as-sent.
func TestFastBadEscapeJSON(t *testing.T) {
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.EscapedPath())
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	gw, _ := startGatewayWith(t, true, up.URL, nil)
	c, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, tc := range []struct{ path, status, body string }{
		{"/v1/storage/objects/p%ZZ", "400", `"kind":"invalid","message":"invalid URL escape \"%ZZ\" in the request path"`},
		{"/v1/storage/objects/a%2", "400", `invalid URL escape \"%2\"`},
		{"/v1/storage/objects/a%?x=1", "400", `invalid URL escape \"%\"`},
		{"/v1/storage/objects/a%2Fb%zz", "400", `invalid URL escape \"%zz\"`},
		{"/v1/storage/objects/a%2Fb", "200", "ok"},
	} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-1\r\n\r\n", tc.path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := fmt.Sprint(resp.StatusCode); got != tc.status || !strings.Contains(string(b), tc.body) {
			t.Fatalf("%s: %s %s, want %s with %s", tc.path, got, b, tc.status, tc.body)
		}
		if tc.status == "400" && (resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"request_id":"rid-1"`)) {
			t.Fatalf("%s: not the JSON error body: %v %s", tc.path, resp.Header, b)
		}
	}
	if len(seen) != 1 || seen[0] != "/v1/storage/objects/a%2Fb" {
		t.Fatalf("upstream saw %q, want only the valid escape", seen)
	}
}
