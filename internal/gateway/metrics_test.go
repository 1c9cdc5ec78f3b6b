package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/metricstest"
)

// TestGatewayMetrics: the real gateway, on each path, in front of a real
// upstream test server on loopback (storaged) and a closed port (catalogd):
// an ok, a 404, a 500, a request the gateway's request_timeout ends (504), a
// daemon it cannot reach (502), a client that leaves while the daemon
// works (499), a body that ends short (400), then ok again move
// lakehouse_gateway_upstream_requests_total, _dials_total, _reuses_total and
// _dial_errors_total by exactly that, per daemon; every label set is served
// from the start at 0; lakehouse_gateway_daemon_up follows the daemon's
// /health at scrape time; what is served passes promlint.
func TestGatewayMetrics(t *testing.T) {
	paths(t, func(t *testing.T, fast bool) {
		var healthy atomic.Bool
		healthy.Store(true)
		release := make(chan struct{})
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			switch r.URL.Path {
			case "/health":
				st := "ok"
				if !healthy.Load() {
					st = "draining"
				}
				io.WriteString(w, `{"status":"`+st+`","service":"storaged","version":"t"}`)
			case "/v1/storage/missing":
				http.Error(w, `{"error":{"kind":"not_found","message":"no"}}`, http.StatusNotFound)
			case "/v1/storage/fail":
				http.Error(w, `{"error":{"kind":"internal","message":"broke"}}`, http.StatusInternalServerError)
			case "/v1/storage/hang":
				select {
				case <-r.Context().Done():
				case <-release:
				}
			default:
				io.WriteString(w, "ok")
			}
		}))
		t.Cleanup(up.Close)
		t.Cleanup(func() { close(release) })
		gw, _ := startGatewayWith(t, fast, up.URL, func(c *shared.Config) {
			c.Gateway.RequestTimeout = shared.Duration{Duration: 600 * time.Millisecond}
		})
		base := gw.URL()

		before := metricstest.Scrape(t, base)
		const req = "lakehouse_gateway_upstream_requests_total"
		for _, d := range Daemons() {
			for _, o := range outcomeNames {
				if v, ok := before.Value(req, "service", d, "outcome", o); !ok || v != 0 {
					t.Errorf("%s{service=%s,outcome=%s} before any request: %v (served %v), want 0", req, d, o, v, ok)
				}
			}
			for _, n := range []string{"lakehouse_gateway_upstream_dials_total", "lakehouse_gateway_upstream_dial_errors_total", "lakehouse_gateway_upstream_reuses_total", "lakehouse_gateway_upstream_idle_connections"} {
				if v, ok := before.Value(n, "service", d); !ok || v != 0 {
					t.Errorf("%s{service=%s} before any request: %v (served %v), want 0", n, d, v, ok)
				}
			}
			want := 0.0
			if d == "storaged" {
				want = 1
			}
			if v, ok := before.Value("lakehouse_gateway_daemon_up", "service", d); !ok || v != want {
				t.Errorf("daemon_up{service=%s}: %v (served %v), want %v", d, v, ok, want)
			}
		}

		get := func(path string, status int) {
			t.Helper()
			answers, bodies, _ := exchange(t, gw.Addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
			if len(answers) != 1 || answers[0].StatusCode != status {
				t.Fatalf("GET %s: %d answers %q, want %d", path, len(answers), bodies, status)
			}
			settle() // the upstream connection is pooled again
		}
		get("/v1/storage/ok", 200)       // dials
		get("/v1/storage/missing", 404)  // reuses
		get("/v1/storage/fail", 500)     // reuses
		get("/v1/storage/hang", 504)     // reuses; request_timeout; the connection is closed
		get("/v1/catalog/datasets", 502) // catalogd's port is closed: a dial error

		// A client that leaves while the daemon works (dials).
		c, err := net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /v1/storage/hang HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(100 * time.Millisecond)
		c.Close()
		for deadline := time.Now().Add(5 * time.Second); metricstest.Scrape(t, base).Get(req, "service", "storaged", "outcome", "client_gone") != 1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the client that left was never counted client_gone")
			}
		}

		// A body that ends before its Content-Length (dials).
		c, err = net.Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "POST /v1/storage/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort")
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
			t.Fatalf("short body: %.200q", b)
		}
		get("/v1/storage/ok", 200) // dials: the last connection was cut

		// Not counted: a request the gateway refuses before forwarding
		// (a bad escape), and its own routes.
		get("/v1/storage/p%ZZ", 400)
		get("/v1/health", 503)

		m := metricstest.Scrape(t, base)
		type sample struct {
			name   string
			labels []string
			want   float64
		}
		want := []sample{
			{req, []string{"service", "storaged", "outcome", "ok"}, 2},
			{req, []string{"service", "storaged", "outcome", "4xx"}, 1},
			{req, []string{"service", "storaged", "outcome", "5xx"}, 1},
			{req, []string{"service", "storaged", "outcome", "timeout"}, 1},
			{req, []string{"service", "storaged", "outcome", "client_gone"}, 1},
			{req, []string{"service", "storaged", "outcome", "client_error"}, 1},
			{req, []string{"service", "storaged", "outcome", "unreachable"}, 0},
			{req, []string{"service", "catalogd", "outcome", "unreachable"}, 1},
			{"lakehouse_gateway_upstream_dials_total", []string{"service", "storaged"}, 4},
			{"lakehouse_gateway_upstream_reuses_total", []string{"service", "storaged"}, 3},
			{"lakehouse_gateway_upstream_dial_errors_total", []string{"service", "storaged"}, 0},
			{"lakehouse_gateway_upstream_idle_connections", []string{"service", "storaged"}, 1},
			{"lakehouse_gateway_upstream_dials_total", []string{"service", "catalogd"}, 0},
			{"lakehouse_gateway_upstream_dial_errors_total", []string{"service", "catalogd"}, 1},
		}
		for _, s := range want {
			got, ok := m.Value(s.name, s.labels...)
			if !ok {
				t.Errorf("%s%v: not served", s.name, s.labels)
				continue
			}
			if d := got - before.Get(s.name, s.labels...); d != s.want {
				t.Errorf("%s%v: delta %v, want %v", s.name, s.labels, d, s.want)
			}
		}
		// Nothing else moved: 7 storaged requests and catalogd's one.
		if got := m.Sum(req) - before.Sum(req); got != 8 {
			t.Errorf("requests in all: %v, want 8", got)
		}
		if got := m.Sum("lakehouse_gateway_upstream_dials_total") + m.Sum("lakehouse_gateway_upstream_dial_errors_total"); got != 5 {
			t.Errorf("dials and dial errors in all: %v, want 5", got)
		}
		for _, name := range []string{req, "lakehouse_gateway_upstream_dials_total", "lakehouse_gateway_daemon_up"} {
			fam := m[name]
			if fam == nil {
				t.Fatalf("%s: not served", name)
			}
			for _, s := range fam.GetMetric() {
				for _, l := range s.GetLabel() {
					switch {
					case l.GetName() == "service" && !strings.Contains(" "+strings.Join(Daemons(), " ")+" ", " "+l.GetValue()+" "):
						t.Errorf("%s: service %q", name, l.GetValue())
					case l.GetName() != "service" && l.GetName() != "outcome":
						t.Errorf("%s: label %s=%q", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
		m.Lint(t, "lakehouse_gateway_")

		// The up gauge is the daemon's health at scrape time.
		healthy.Store(false)
		time.Sleep(healthReuse + 100*time.Millisecond)
		if v := metricstest.Scrape(t, base).Get("lakehouse_gateway_daemon_up", "service", "storaged"); v != 0 {
			t.Errorf("daemon_up{service=storaged} with storaged draining: %v, want 0", v)
		}
	})
}
