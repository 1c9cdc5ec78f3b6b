package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// The gateway's fast serving path (ADR-070): a small HTTP/1.1 server loop
// on the gateway's listener that serves the proxied /v1 prefixes itself —
// one goroutine per connection, the request head parsed into a reused
// buffer, forwarded byte-for-byte (minus hop-by-hop headers) over the
// upstream pool, the answer streamed back — and hands every connection
// whose request it does not serve natively (other routes, HTTP/1.0,
// Upgrade, unusual Expect, escaped paths, non-standard methods) to the
// harness's net/http server, bytes already read included, for the rest of
// that connection's life. The chain's per-request steps are the harness's
// own (shared.RequestHooks), in the chain's order.

const (
	// maxHeadBytes bounds a daemon's answer head and a trailer section,
	// and a request head read without a fastServer (tests): net/http's
	// DefaultMaxHeaderBytes plus its slack. A client's request head is
	// bounded by [gateway].max_header_bytes (fastServer.maxHead, ADR-198).
	maxHeadBytes = shared.MaxHeadBytes
	// watchDelay: a request whose answer has not started by then gets a
	// goroutine watching the client socket, so a client that goes away
	// stops the upstream read (net/http starts one for every request).
	watchDelay = 20 * time.Millisecond
)

type fastRoute struct {
	prefix, star string // "/v1/storage" and "/v1/storage/*": chi's patterns
	p            *proxy
}

type fastServer struct {
	ln      net.Listener
	srv     *http.Server // the harness's server: everything not served natively
	hooks   *shared.RequestHooks
	routes  []fastRoute
	log     *slog.Logger
	handoff *chanListener

	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	sendStall                                                 time.Duration // sendBound's, per connection
	maxHead                                                   int           // [gateway].max_header_bytes: a request head's bound

	mu       sync.Mutex
	conns    map[*fconn]struct{}
	shutting atomic.Bool
	sweeping atomic.Bool // the sweeper goroutine runs
}

// monoEpoch anchors monoNs: monotonic nanoseconds that fit an atomic.
var monoEpoch = time.Now()

// monoNs is t on the monotonic clock, in ns since monoEpoch, never 0.
func monoNs(t time.Time) int64 { return int64(t.Sub(monoEpoch)) | 1 }

// wakeSweeper starts the sweeper unless it runs (one atomic load per
// request when it does).
func (f *fastServer) wakeSweeper() {
	if !f.sweeping.Load() && f.sweeping.CompareAndSwap(false, true) {
		go f.sweep()
	}
}

// sweep is the one goroutine that starts the client watcher of requests
// awaited for watchDelay: every watchDelay it looks at each connection's
// armed request. With none armed it stops; armWatch wakes it again. The
// second look after clearing sweeping closes the race with an armWatch
// that saw it still set (both sides are sequentially consistent atomics).
func (f *fastServer) sweep() {
	t := time.NewTicker(watchDelay)
	defer t.Stop()
	var s sweepScratch // this goroutine's own
	for range t.C {
		if f.sweepOnce(&s) > 0 {
			continue
		}
		f.sweeping.Store(false)
		if f.sweepOnce(&s) == 0 || !f.sweeping.CompareAndSwap(false, true) {
			return
		}
	}
}

type sweepScratch struct {
	due  []*fconn
	late []lateHead
}

type lateHead struct {
	c  *fconn
	hb int64
}

// sweepOnce starts the watchers that are due, stops the requests whose
// daemon is past its bound for the answer's head (armHead), and reports
// how many requests are armed.
func (f *fastServer) sweepOnce(s *sweepScratch) int {
	now := monoNs(time.Now())
	armed := 0
	due, late := s.due[:0], s.late[:0]
	f.mu.Lock()
	for c := range f.conns {
		if w := c.wsince.Load(); w != 0 {
			armed++
			if now-w >= int64(watchDelay) {
				due = append(due, c)
			}
		}
		if hb := c.headBy.Load(); hb != 0 {
			armed++
			if now >= hb {
				late = append(late, lateHead{c, hb})
			}
		}
	}
	f.mu.Unlock()
	for i, c := range due {
		c.watchDue(now)
		due[i] = nil
	}
	for i, l := range late {
		l.c.headDue(l.hb)
		late[i] = lateHead{}
	}
	s.due, s.late = due[:0], late[:0]
	return armed
}

func newFastServer(ln net.Listener, srv *http.Server, hooks *shared.RequestHooks, routes []fastRoute, maxHead int, log *slog.Logger) *fastServer {
	return &fastServer{
		ln: ln, srv: srv, hooks: hooks, routes: routes, log: log, maxHead: maxHead,
		handoff:           &chanListener{addr: ln.Addr(), ch: make(chan net.Conn), closed: make(chan struct{})},
		readHeaderTimeout: srv.ReadHeaderTimeout, readTimeout: srv.ReadTimeout,
		writeTimeout: srv.WriteTimeout, idleTimeout: srv.IdleTimeout,
		sendStall: sendStallFor(srv.WriteTimeout),
		conns:     map[*fconn]struct{}{},
	}
}

// Serve accepts until Shutdown or Close (then http.ErrServerClosed).
func (f *fastServer) Serve() error {
	go f.srv.Serve(f.handoff)
	var delay time.Duration
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			if f.shutting.Load() {
				return http.ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.log.Warn("accept failed; retrying", "err", err.Error(), "delay", delay.String())
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := newFconn(f, nc)
		f.mu.Lock()
		if f.shutting.Load() {
			f.mu.Unlock()
			nc.Close()
			return http.ErrServerClosed
		}
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		go c.serve()
	}
}

func (f *fastServer) forget(c *fconn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits for the
// in-flight requests (its own and the net/http server's) until ctx ends.
func (f *fastServer) Shutdown(ctx context.Context) error {
	f.shutting.Store(true)
	f.ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- f.srv.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		n := len(f.conns)
		for c := range f.conns {
			c.closeIfIdle()
		}
		f.mu.Unlock()
		if n == 0 {
			return <-errc
		}
		select {
		case <-ctx.Done():
			<-errc
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listener and every connection.
func (f *fastServer) Close() error {
	f.shutting.Store(true)
	err := f.ln.Close()
	f.srv.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.nc.Close()
	}
	f.mu.Unlock()
	return err
}

func (f *fastServer) route(path []byte) (*fastRoute, string) {
	for i := range f.routes {
		rt := &f.routes[i]
		n := len(rt.prefix)
		if len(path) < n || string(path[:n]) != rt.prefix {
			continue
		}
		if len(path) == n {
			return rt, rt.prefix
		}
		if path[n] == '/' {
			return rt, rt.star
		}
	}
	return nil, ""
}

// chanListener feeds handed-off connections to the net/http server.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

func (l *chanListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

// prefixConn replays the bytes the fast path already read.
type prefixConn struct {
	net.Conn
	buf []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// errRecorder captures an error body written by errs (the same bytes the
// net/http chain would send).
type errRecorder struct {
	h      http.Header
	status int
	body   []byte
}

func (e *errRecorder) Header() http.Header { return e.h }
func (e *errRecorder) WriteHeader(s int) {
	if e.status == 0 {
		e.status = s
	}
}
func (e *errRecorder) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	e.body = append(e.body, b...)
	return len(b), nil
}

// dates caches the Date header value per second.
type dateEntry struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[dateEntry]

// httpDate is now as a Date header value; the bytes are shared: do not
// modify them.
func httpDate(now time.Time) []byte {
	sec := now.Unix()
	d := dateCache.Load()
	if d == nil || d.sec != sec {
		d = &dateEntry{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
		dateCache.Store(d)
	}
	return d.b
}

var errClientGone = errors.New("client went away")

// bufioPools for client connections.
var (
	brPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	bwPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// writeBadRequest answers a request head the fast path refuses (400,
// 431, 501; the connection closes after it) with DESIGN.md's JSON error
// body under a new request id, as the harness answers one net/http
// refuses (shared.AppendMalformed; a 431 names maxHead).
func writeBadRequest(w io.Writer, status int, reason string, reqID string, maxHead int) {
	_, _ = w.Write(shared.AppendMalformed(make([]byte, 0, 512), status, reason, reqID, maxHead))
}

func writeErrorBody(c *fconn, err error, reqID string, extra func(http.Header)) int {
	rec := &errRecorder{h: http.Header{errs.RequestIDHeader: {reqID}}}
	if extra != nil {
		extra(rec.h)
	}
	if path := c.req.path.of(c.req.raw); !bytes.HasPrefix(path, []byte(chatPrefix)) ||
		!chatErrorWriter(rec, &http.Request{Method: c.req.method, URL: &url.URL{Path: string(path)}, Header: http.Header{errs.RequestIDHeader: {reqID}}}, err) {
		errs.WriteHTTP(rec, nil, nil, err)
	}
	delete(rec.h, "Content-Length") // writeSimple writes it
	c.writeSimple(rec.status, rec.h, rec.body)
	return rec.status
}
