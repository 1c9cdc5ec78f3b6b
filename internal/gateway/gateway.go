// Package gateway is the front door on :3110: it forwards each /v1 prefix
// of DESIGN.md unchanged to its daemon (streaming both ways), serves
// GET /v1/health (every daemon's health in one document) and a console
// page at /. Called by operators, analysts and agents; it calls every
// daemon.
//
// The proxied prefixes are served on the gateway's own HTTP/1.1 loop
// (fastserve.go, ADR-070) with the harness's chain steps; every other
// connection is handed to the harness's net/http server, where the same
// prefixes are served by proxy.go. LH_GATEWAY_FASTPATH=0 turns the loop off.
package gateway

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Routes maps each /v1 prefix to the daemon that owns it (DESIGN.md).
var Routes = []struct{ Prefix, Daemon string }{
	{"/v1/storage", "storaged"},
	{"/v1/catalog", "catalogd"},
	{"/v1/ingest", "ingestd"},
	{"/v1/sql", "queryd"},
	{"/v1/vectors", "vectord"},
	{"/v1/embed", "embedd"},
	{"/v1/pathway", "pathwayd"},
	{"/v1/matrix", "matrixd"},
	{"/v1/observer", "observerd"},
	{"/v1/chat", "chatd"},
}

// DaemonHealth is one daemon's entry in GET /v1/health.
type DaemonHealth struct {
	Status    string  `json:"status"` // ok | degraded | draining | down
	Version   string  `json:"version,omitempty"`
	URL       string  `json:"url"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// HealthReport is GET /v1/health.
type HealthReport struct {
	Status    string                  `json:"status"` // ok only if every daemon is
	Service   string                  `json:"service"`
	Daemons   map[string]DaemonHealth `json:"daemons"`
	CheckedAt time.Time               `json:"checked_at"`
}

//go:embed console.html
var consoleHTML []byte

// Procs is the GOMAXPROCS the gateway runs with (ADR-072): the configured
// [gateway].procs, or with 0 one per four CPUs (at least one) — the
// gateway shares the box with ten daemons, and each extra P it owns costs
// scheduler work (spinning Ms, futex wake-ups) on every proxied request,
// like nginx's worker_processes. set is false when the operator's
// GOMAXPROCS environment variable decides.
func Procs(configured int, getenv func(string) string, cpus int) (n int, set bool) {
	if getenv("GOMAXPROCS") != "" {
		return 0, false
	}
	if configured > 0 {
		return configured, true
	}
	return max(1, (cpus+3)/4), true
}

// New is the gateway's constructor for shared.Run.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	cfg := env.Config
	if n, set := Procs(cfg.Gateway.Procs, os.Getenv, runtime.NumCPU()); set && env.OwnsProcess {
		runtime.GOMAXPROCS(n)
		env.Log.Info("procs", "gomaxprocs", n, "from", "[gateway].procs")
	}
	g := &gateway{env: env, healthClient: &http.Client{Timeout: max(cfg.Gateway.HealthTimeout.Duration, 100*time.Millisecond), Transport: shared.NewTransport(4)}}
	proxies := map[string]*proxy{}
	for _, rt := range Routes {
		// Half the daemon's idle timeout (same config file), so a pooled
		// connection is dropped well before the daemon closes it.
		maxAge := cfg.Section(rt.Daemon).IdleTimeout.Duration / 2
		p, err := newProxy(rt.Daemon, cfg.URL(rt.Daemon), max(cfg.Gateway.MaxIdleConnsPerUpstream, 16), maxAge, env.Log)
		if err != nil {
			return nil, err
		}
		p.setBounds(cfg.Section(rt.Daemon).RequestTimeout.Duration)
		p.maxFwd = cfg.Section(rt.Daemon).HeaderBytes() + shared.HeaderSlack
		proxies[rt.Prefix] = p
	}
	byDaemon := make([]*proxy, 0, len(Routes))
	for _, rt := range Routes {
		byDaemon = append(byDaemon, proxies[rt.Prefix])
	}
	if err := newCollector(g, byDaemon).register(env.Metrics); err != nil {
		return nil, err
	}
	var routes []fastRoute
	if FastPath(os.Getenv) {
		routes = make([]fastRoute, 0, len(Routes))
		for _, rt := range Routes {
			routes = append(routes, fastRoute{prefix: rt.Prefix, star: rt.Prefix + "/*", p: proxies[rt.Prefix]})
		}
	}
	serve := func(ln net.Listener, srv *http.Server, hooks *shared.RequestHooks) shared.Serving {
		// Every request net/http serves (all of them with the fast path
		// off; with it on, those of handed-off connections) passes here
		// first, before the harness's chain answers anything.
		srv.Handler = closeAfterAmbiguousFraming(srv.Handler)
		srv.ConnContext = withCLConn
		// The gateway faces the clients: a head over max_header_bytes is
		// refused here, on both paths (net/http reads HeaderSlack past its
		// MaxHeaderBytes; on a kept-alive connection up to 4 KiB more,
		// what it had buffered). A daemon behind it reads HeaderSlack more
		// than its own max_header_bytes, room for the fields the gateway
		// adds; a head that still would not fit is refused here too
		// (headbound.go, ADR-198).
		maxHead := cfg.Gateway.HeaderBytes()
		srv.MaxHeaderBytes = maxHead - shared.HeaderSlack
		if routes == nil {
			return netServing{srv, clListener{ln, sendStallFor(srv.WriteTimeout), maxHead, env.Log}}
		}
		return newFastServer(ln, srv, hooks, routes, maxHead, env.Log)
	}
	return &shared.Daemon{
		Serve: serve,
		// Its own connections (clConn, the fast path's) answer what
		// net/http cannot parse in DESIGN.md's body.
		BareListener: true,
		ErrorWriter:  chatErrorWriter,
		AnswerEnd:    flushOwnAnswer,
		// The console page holds no data: its script calls /v1 with the
		// token given in the page's #token= fragment (which browsers never
		// send), so the page itself cannot sit behind auth.
		Public: func(r chi.Router) {
			// HEAD answers as GET without the body (RFC 9110 9.3.2; a
			// load balancer's or uptime monitor's probe, curl -I): net/http
			// drops the body of a HEAD and keeps its Content-Length.
			r.Get("/", serveConsole)
			r.Head("/", serveConsole)
		},
		Routes: func(r chi.Router) {
			r.Get("/v1/health", env.Handle(g.health))
			r.Head("/v1/health", env.Handle(g.health))
			for _, rt := range Routes {
				p := proxies[rt.Prefix]
				r.Handle(rt.Prefix, p)
				r.Handle(rt.Prefix+"/*", p)
			}
		},
		Close: func(context.Context) error {
			for _, p := range proxies {
				p.up.closeIdle()
			}
			return nil
		},
	}, nil
}

// flushOwnAnswer is the net/http path's AnswerEnd: a sized answer's tail
// (the gateway's own: /v1/health, the console, an error body, a 502 or
// 504; a relayed one is flushed already) goes out before the request's
// access line, so a send stall that cuts it is this request's and says so
// (shared.AnswerCut); net/http flushed it only after the line, where the
// cut read as a success. An answer without a Content-Length is left to
// net/http, which sizes a small one when the handler is done (a flush
// here would make it chunked).
func flushOwnAnswer(w http.ResponseWriter, r *http.Request) {
	cc, _ := r.Context().Value(clConnKey{}).(*clConn)
	if cc == nil || cc.send.stall <= 0 || w.Header().Get("Content-Length") == "" {
		return
	}
	if http.NewResponseController(w).Flush() != nil && cc.takeCut() {
		shared.AnswerCut(w, cc.send.stall)
	}
}

// serveConsole serves the console page (GET and HEAD /).
func serveConsole(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(consoleHTML)))
	h.Set("Cache-Control", "no-cache")
	// Only the gateway's own origin may frame the console (a <meta> CSP
	// cannot say frame-ancestors; this one combines with the page's), no
	// MIME sniffing, no Referer (ADR-120).
	h.Set("Content-Security-Policy", "frame-ancestors 'self'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(consoleHTML)
}

// ambiguousFraming reports a request whose framing net/http decided on
// without a trace in the request: a chunked body (Go drops a
// Content-Length sent with it and reads the chunks), or an HTTP/1.0 body
// (Go ignores Transfer-Encoding on HTTP/1.0 and reads Content-Length).
// Either may have come with both headers, which RFC 9112 6.1 and 6.3
// count as a smuggling attempt: the connection must close after the
// answer, or the bytes a front proxy framed differently are read as the
// next request. net/http (Go 1.26, seen in TestAmbiguousFramingCloses)
// keeps it open. A chunked HTTP/1.1 request is not ambiguous when no
// Content-Length field has ever been read on its connection (clConn): a
// keep-alive client's chunked uploads kept their connection then.
func ambiguousFraming(r *http.Request) bool {
	if r.ContentLength > 0 && !r.ProtoAtLeast(1, 1) {
		return true
	}
	if r.ContentLength >= 0 {
		return false
	}
	cc, _ := r.Context().Value(clConnKey{}).(*clConn)
	return cc == nil || !r.ProtoAtLeast(1, 1) || cc.sawCL.Load()
}

// clConn is a client connection served by net/http whose every byte read
// is scanned for a Content-Length field line: a line break, then
// "content-length:" in any case. net/http refuses a field name with
// anything before the colon but token bytes (a space, a tab), so a head
// that carried a Content-Length field always shows this way — the request
// being served included, as its head was read before its handler runs.
// Once seen, the connection closes after every chunked request; bytes in a
// body that happen to match only cost a closed connection, which is safe.
type clConn struct {
	net.Conn
	state  int // bytes of clField matched at the end of the last read
	sawCL  atomic.Bool
	linger atomic.Bool // Close lingers (a malformed answer, or the body left unread)

	// the send stall (sendstall.go); net/http writes from one goroutine
	// at a time
	send sendBound
	sent int64        // bytes written, ever
	own  bool         // a handler set its own write deadline (ResponseController)
	log  *slog.Logger // for a cut
	// maxHead is [gateway].max_header_bytes, which a 431 names.
	maxHead int
	// cutSeen: the send stall cut a write since the proxy last asked
	// (takeCut), so the request's answer was cut short.
	cutSeen bool
}

// takeCut reports whether the send stall cut the connection's writes
// since the last call.
func (c *clConn) takeCut() bool {
	cut := c.cutSeen
	c.cutSeen = false
	return cut
}

// newClConn is nc served by net/http, its writes bounded by stall without
// progress (0: none; the server's WriteTimeout bounds them); maxHead is
// [gateway].max_header_bytes, which a 431 names.
func newClConn(nc net.Conn, stall time.Duration, maxHead int, log *slog.Logger) *clConn {
	c := &clConn{Conn: nc, send: sendBound{stall: stall}, log: log, maxHead: maxHead}
	c.send.arm(nc, time.Now(), 0)
	return c
}

const clField = "\ncontent-length:"

func (c *clConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.sawCL.Load() {
		c.scan(p[:n])
	}
	return n, err
}

// scan advances the match of clField over b ('\n' occurs in clField only
// first, so a mismatch restarts the match at the byte that broke it).
func (c *clConn) scan(b []byte) {
	st := c.state
	for i := 0; i < len(b); {
		if st == 0 {
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				break
			}
			i += j + 1
			st = 1
			continue
		}
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != clField[st] {
			st = 0
			continue
		}
		i++
		if st++; st == len(clField) {
			c.sawCL.Store(true)
			return
		}
	}
	c.state = st
}

// Write passes p on, but for net/http's own answers to a request it could
// not parse (a garbled request line, no or two Host fields, HTTP/9.9, an
// unknown transfer coding or Expect, a head over its limit): those are
// text/plain ("400 Bad Request") and written before any handler runs, so
// the JSON error body of DESIGN.md is sent in their place, with the same
// status — the harness's recognizer, which every daemon's connections use
// (shared.MalformedAnswer).
func (c *clConn) Write(p []byte) (int, error) {
	if b, ok := shared.MalformedAnswer(p, c.maxHead); ok {
		c.linger.Store(true)
		_, err := c.write(b)
		return len(p), err
	}
	return c.write(p)
}

// write writes p, going on past an expired send-stall deadline while the
// client takes bytes (sendBound).
func (c *clConn) write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent += int64(n)
	for err != nil && !c.own && c.send.again(c.Conn, err, c.sent) {
		var m int
		m, err = c.Conn.Write(p[n:])
		n += m
		c.sent += int64(m)
	}
	if c.send.cut {
		c.send.cut = false
		c.cutSeen = true
		c.send.logCut(c.log, c.Conn.RemoteAddr().String(), "")
	}
	return n, err
}

// SetWriteDeadline keeps the send stall's deadline in place of net/http's
// clearing after each request (so a connection pays no deadline move per
// request), and steps aside while a handler sets its own
// (ResponseController), until net/http clears that one.
func (c *clConn) SetWriteDeadline(t time.Time) error {
	if c.send.on {
		if !t.IsZero() {
			c.own = true
			return c.Conn.SetWriteDeadline(t)
		}
		if !c.own {
			return nil
		}
		c.own = false
		c.send.at, c.send.inWrite = c.sent, false
		return c.Conn.SetWriteDeadline(time.Now().Add(c.send.stall))
	}
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite keeps net/http's gentle close (half-close, then a pause
// before the full close) working through the wrapper. net/http calls it
// when it closes with the request body unread (a 405 on the console page,
// a 417, a 431); Close then lingers, as the harness's connections do
// (ADR-139).
func (c *clConn) CloseWrite() error {
	c.linger.Store(true)
	if cw, ok := c.raw().(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close lingers (shared.LingerClose) after a malformed request's answer or
// one sent with the body unread: a plain close then sent a reset, and a
// client still writing its body got "broken pipe" instead of the answer.
func (c *clConn) Close() error {
	if c.linger.CompareAndSwap(true, false) {
		return shared.LingerClose(c.raw(), shared.LingerTime, shared.LingerBytes)
	}
	return c.Conn.Close()
}

// raw is the client's connection under the handed-off prefix.
func (c *clConn) raw() net.Conn {
	if p, ok := c.Conn.(*prefixConn); ok {
		return p.Conn
	}
	return c.Conn
}

type clConnKey struct{}

// withCLConn is the server's ConnContext: it makes the connection's
// clConn known to ambiguousFraming.
func withCLConn(ctx context.Context, nc net.Conn) context.Context {
	if cc, ok := nc.(*clConn); ok {
		return context.WithValue(ctx, clConnKey{}, cc)
	}
	return ctx
}

// clListener wraps each accepted connection in a clConn.
type clListener struct {
	net.Listener
	stall   time.Duration // the send stall (sendStallFor)
	maxHead int           // [gateway].max_header_bytes
	log     *slog.Logger
}

func (l clListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newClConn(nc, l.stall, l.maxHead, l.log), nil
}

// closeAfterAmbiguousFraming makes net/http close the connection after
// answering a request of ambiguous framing (a plain chunked upload on the
// net/http path pays a new connection; the fast path serves it natively
// and rejects Content-Length with Transfer-Encoding outright).
func closeAfterAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ambiguousFraming(r) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
		// A body on a connection that ends after this answer: net/http
		// reads no more of it and calls no CloseWrite before closing, so
		// clConn's Close lingers (Python's urllib sends Connection: close).
		if r.ContentLength != 0 && (r.Close || w.Header().Get("Connection") == "close") {
			if cc, ok := r.Context().Value(clConnKey{}).(*clConn); ok {
				cc.linger.Store(true)
			}
		}
	})
}

// netServing is the harness's default serving (net/http alone), used with
// the fast path off.
type netServing struct {
	srv *http.Server
	ln  net.Listener
}

func (n netServing) Serve() error                       { return n.srv.Serve(n.ln) }
func (n netServing) Shutdown(ctx context.Context) error { return n.srv.Shutdown(ctx) }
func (n netServing) Close() error                       { return n.srv.Close() }

// FastPath reports whether the gateway serves its proxied routes on its
// own HTTP/1.1 loop (ADR-070) rather than through net/http:
// LH_GATEWAY_FASTPATH=1 or 0 decides, else defaultFastPath.
func FastPath(getenv func(string) string) bool {
	switch getenv("LH_GATEWAY_FASTPATH") {
	case "1":
		return true
	case "0":
		return false
	}
	return defaultFastPath
}

const defaultFastPath = true

type gateway struct {
	env          *shared.Env
	healthClient *http.Client
}

// Daemons are the daemons behind the gateway, sorted.
func Daemons() []string {
	var names []string
	for _, d := range shared.Daemons {
		if d != "gateway" {
			names = append(names, d)
		}
	}
	sort.Strings(names)
	return names
}

func (g *gateway) health(w http.ResponseWriter, r *http.Request) error {
	// It takes no parameter: one it does not take is a 400, as on every
	// daemon route (ADR-097), not silently ignored.
	if _, err := shared.QueryParams("gateway.health", r.URL.RawQuery, nil); err != nil {
		return err
	}
	// The probes are not cut short with the request's context: net/http
	// cancels it when the client half-closes its side after the request
	// (nc -N, a health checker that shuts down its write side), and every
	// daemon was then answered "down: unreachable" within a millisecond.
	// Each probe is bounded by [gateway].health_timeout all the same.
	rep := g.probeAll(context.WithoutCancel(r.Context()))
	status := http.StatusOK
	if rep.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	return shared.WriteJSON(w, status, rep)
}

// probeAll asks every daemon's /health at once (GET /v1/health, and the
// lakehouse_gateway_daemon_up gauge at scrape time).
func (g *gateway) probeAll(ctx context.Context) HealthReport {
	rep := HealthReport{Status: "ok", Service: "gateway", Daemons: map[string]DaemonHealth{}, CheckedAt: time.Now().UTC()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range Daemons() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := g.probe(ctx, name)
			mu.Lock()
			rep.Daemons[name] = h
			if h.Status != "ok" {
				rep.Status = "degraded"
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rep
}

func (g *gateway) probe(ctx context.Context, name string) (h DaemonHealth) {
	base := g.env.Config.URL(name)
	h = DaemonHealth{URL: base, Status: "down"}
	start := time.Now()
	// h is the named result: the deferred assignment is what the caller gets.
	defer func() { h.LatencyMS = float64(time.Since(start).Microseconds()) / 1000 }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	req.Header.Set(errs.RequestIDHeader, shared.RequestID(ctx))
	if tok := g.env.Config.Auth.Token; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok) // a degraded daemon says why only to the token
	}
	resp, err := g.healthClient.Do(req)
	if err != nil {
		h.Error = name + " unreachable"
		return h
	}
	defer resp.Body.Close()
	var body shared.Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || body.Service != name {
		h.Error = fmt.Sprintf("unexpected /health answer (HTTP %d)", resp.StatusCode)
		return h
	}
	h.Status, h.Version, h.Error = body.Status, body.Version, body.Error
	return h
}
