package shared

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
)

// Serving is what Daemon.Serve returns: a server of the daemon's listener
// with http.Server's lifecycle (Serve returns http.ErrServerClosed after
// Shutdown or Close; Shutdown drains in-flight requests, bounded by ctx).
type Serving interface {
	Serve() error
	Shutdown(ctx context.Context) error
	Close() error
}

// httpServing is the default: the harness's net/http server.
type httpServing struct {
	srv *http.Server
	ln  net.Listener
}

func (h httpServing) Serve() error                       { return h.srv.Serve(h.ln) }
func (h httpServing) Shutdown(ctx context.Context) error { return h.srv.Shutdown(ctx) }
func (h httpServing) Close() error                       { return h.srv.Close() }

// AuthChallenge is the WWW-Authenticate value sent with a 401.
const AuthChallenge = `Bearer realm="lakehouse-go"`

// RequestHooks are the steps of the harness's middleware chain (router in
// run.go) as plain calls, for requests a daemon serves outside net/http
// (Daemon.Serve; the gateway's fast path, ADR-070). The net/http middleware
// calls the same functions, so both paths produce the same request ids,
// error bodies, access lines, metrics, Langfuse spans and observer events.
//
// A native request runs, in the chain's order: RequestID, Begin,
// CheckPeer (403), CheckAuth (401), CheckLength (413), the work, then
// End — or Panic instead of End when the work panicked.
type RequestHooks struct {
	Service string
	// MaxBody and Timeout are the section's max_body_bytes and
	// request_timeout (0 = none), applied after auth like limitsMW.
	MaxBody int64
	Timeout time.Duration

	log                *slog.Logger
	access             accessLog
	metrics            *Metrics
	langfuse           *Langfuse
	report             *reporter
	nets               []*net.IPNet
	primary, secondary []byte
}

func (s *Server) hooks(m *Metrics) *RequestHooks {
	cfg := s.Config
	sec := cfg.Section(s.Name)
	return &RequestHooks{
		Service: s.Name, MaxBody: sec.MaxBodyBytes, Timeout: sec.RequestTimeout.Duration,
		log:      s.Log,
		access:   accessLog{out: s.logw, svc: s.Name, json: cfg.Log.Format == "json", enabled: cfg.Log.Access && (cfg.Log.Level == "debug" || cfg.Log.Level == "info")},
		metrics:  m,
		langfuse: s.langfuse,
		report:   s.report,
		nets:     cfg.Auth.allowedNets,
		primary:  []byte(cfg.Auth.Token), secondary: []byte(cfg.Auth.SecondaryToken),
	}
}

// RequestID returns the client's X-Request-Id when it is sane, else a new one.
func (h *RequestHooks) RequestID(header string) string {
	if validRequestID(header) {
		return header
	}
	return NewRequestID()
}

// CheckPeer enforces [auth].allowed_ips on the TCP peer address (host:port).
func (h *RequestHooks) CheckPeer(remoteAddr string) error { return checkPeer(h.nets, remoteAddr) }

// CheckAuth checks an Authorization header value (nil when auth is off).
// On error, answer 401 with WWW-Authenticate: AuthChallenge.
func (h *RequestHooks) CheckAuth(authorization string) error {
	return checkAuth(authorization, h.primary, h.secondary)
}

// CheckLength refuses a declared body length over MaxBody.
func (h *RequestHooks) CheckLength(n int64) error { return checkLength(n, h.MaxBody) }

// Begin counts the request in flight.
func (h *RequestHooks) Begin() { h.metrics.inflight.Inc() }

// RequestInfo is a finished request, for End.
type RequestInfo struct {
	ReqID, Method, Path, Peer string
	// Route is the matched route pattern ("unmatched" when none, as for a 403).
	Route  string
	Status int
	Bytes  int64 // response body bytes written
	Start  time.Time
	// End is when the answer was complete: set by the caller when it has
	// read the clock anyway, else by End.
	End time.Time
	// Authed: the request passed allowed_ips and auth, so it reached the
	// Langfuse and observer steps.
	Authed bool
	// Cut says why the answer was cut short after its head went out (the
	// client took no byte for a send stall: CutMessage), "" when it was
	// not. Status stays what was sent; End writes Cut as the access
	// line's err and counts lakehouse_http_answers_cut_total.
	Cut string
}

// End runs the chain's after-steps, innermost first: observer report and
// Langfuse span (authed requests only), metrics, access line.
func (h *RequestHooks) End(ri *RequestInfo) {
	now := ri.End // one clock read for every step
	if now.IsZero() {
		now = time.Now()
		ri.End = now
	}
	if ri.Authed {
		h.report.record(ri.Method, ri.Route, ri.Path, ri.Status, ri.Start, now, ri.ReqID)
		h.langfuse.span(ri.ReqID, ri.Method, ri.Route, ri.Path, ri.Status, ri.Start, now, nil)
	}
	h.metrics.inflight.Dec()
	dur := now.Sub(ri.Start)
	h.metrics.observe(ri.Route, ri.Method, ri.Status, dur)
	if ri.Cut != "" {
		h.metrics.countCut(ri.Route)
	}
	h.access.write(ri.ReqID, ri.Method, ri.Path, ri.Status, ri.Bytes, dur, now, ri.Peer, ri.Cut)
}

// Panic logs a recovered panic the way the recoverer does. As with the
// net/http chain, a panicking request gets no End.
func (h *RequestHooks) Panic(reqID string, v any) { logPanic(h.log, reqID, v) }

func logPanic(log *slog.Logger, reqID string, v any) {
	log.Error("panic", "req_id", reqID, "err", fmt.Sprint(v), "stack", string(debug.Stack()))
}

func checkPeer(nets []*net.IPNet, remoteAddr string) error {
	if len(nets) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || !ipAllowed(nets, ip) {
		return errs.E("auth", errs.Forbidden, "peer address "+host+" is not in [auth].allowed_ips")
	}
	return nil
}

func checkAuth(authorization string, primary, secondary []byte) error {
	if len(primary) == 0 && len(secondary) == 0 {
		return nil
	}
	if !tokenOK(authorization, primary, secondary) {
		return errs.E("auth", errs.Unauthorized, "missing or wrong bearer token")
	}
	return nil
}

func checkLength(n, maxBody int64) error {
	if maxBody > 0 && n > maxBody {
		return errs.E("limits", errs.TooLarge, "request body of "+strconv.FormatInt(n, 10)+" bytes is over the limit of "+strconv.FormatInt(maxBody, 10))
	}
	return nil
}

// Bounds of an access line's method and path: far above any route's (a
// storage key is at most 1024 bytes, 3 times that percent-encoded on the
// gateway's fast path), far below a request head's 1 MiB.
const (
	maxLogMethod = 64
	maxLogPath   = 4096
)

// cutLogValue is s cut to n bytes on a character boundary, marked with
// its whole length; s itself when it fits.
func cutLogValue(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// accessLog writes the per-request access line (see accessLogMW).
type accessLog struct {
	out     io.Writer
	svc     string
	json    bool
	enabled bool
}

// write writes one access line; errMsg, when not "", is its err (an
// answer cut short), written through slog's handler (a rare line).
func (a *accessLog) write(reqID, method, path string, status int, bytes int64, dur time.Duration, now time.Time, peer, errMsg string) {
	if !a.enabled || path == "/health" || path == "/metrics" {
		return
	}
	// A request head may be 1 MiB: an unauthenticated client's path (or
	// extension method) written whole made each such request a 1 MiB line.
	method, path = cutLogValue(method, maxLogMethod), cutLogValue(path, maxLogPath)
	if lw, ok := a.out.(*lineWriter); ok && errMsg == "" && !lw.journal {
		// Appended in the writer's own buffer: no line buffer to take
		// and copy (the bytes are those Write would take).
		lw.mu.Lock()
		lw.buf = appendAccessLine(lw.buf, now, a.json, a.svc, reqID, method, path, status, bytes, dur.Milliseconds(), peer)
		lw.flushFullLocked()
		lw.mu.Unlock()
		return
	}
	bp := lineBufs.Get().(*[]byte)
	var b []byte
	if errMsg == "" {
		b = appendAccessLine((*bp)[:0], now, a.json, a.svc, reqID, method, path, status, bytes, dur.Milliseconds(), peer)
	} else {
		b = appendSlogLine((*bp)[:0], now, a.json, a.svc, reqID, method, path, status, bytes, dur.Milliseconds(), peer, errMsg)
	}
	_, _ = a.out.Write(b)
	*bp = b
	lineBufs.Put(bp)
}
