package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// fconn is one client connection on the fast path.
type fconn struct {
	f        *fastServer
	nc       net.Conn
	rr       *rawReader // c.br's source (through Read): the socket
	w        io.Writer  // c.bw's sink (through Write): the socket
	sent     int64      // bytes written to the client socket, ever
	send     sendBound  // the bound on a client that takes no byte (sendstall.go)
	br       *bufio.Reader
	bw       *bufio.Writer
	remote   string // RemoteAddr, as net/http's r.RemoteAddr
	peerHost string // its host, for X-Forwarded-For
	peerErr  error  // [auth].allowed_ips verdict for this peer

	req  reqHead
	resp respHead
	ri   shared.RequestInfo

	// per request
	wroteHeader bool
	relayed     bool        // the daemon's answer went to the client (else the gateway's own, or none)
	bodyDone    bool        // the client's body was read to its end
	linger      bool        // close gently: the client may still be sending
	aborted     atomic.Bool // client gone or request timeout: stop the upstream
	timedOut    atomic.Bool
	headBy      atomic.Int64  // monoNs by which the daemon must begin its answer; 0 none (the sweeper's)
	headLate    atomic.Bool   // the sweeper stopped a request whose daemon did not
	hwhy        lateWhy       // which bound headBy is (serve's goroutine only)
	hbound      time.Duration // and its length, for the error answer

	mu     sync.Mutex // guards state, up
	active bool
	closed bool
	up     *upConn // the upstream connection in use, for abort

	// client-socket watcher (see watchDelay)
	wmu       sync.Mutex
	wstate    int          // 0 off, 1 armed, 2 watching
	wsince    atomic.Int64 // armed: when the awaited request started (monoNs); else 0
	wstopping bool
	wdone     chan struct{}
	wbuf      [1]byte
	wn        int
	werr      error
	pending   int // 1 when wbuf holds a byte the watcher read (next request)

	ttimer   *time.Timer      // request timeout
	tarmed   bool             // ttimer runs for this request (serve's goroutine only)
	twg      sync.WaitGroup   // done when ttimer was stopped or its func returned
	lr       io.LimitedReader // relay's reader of a sized answer, reused
	trailers []byte           // relay's trailer fields of a chunked answer, reused
	rdl      atomic.Bool      // a header/idle read deadline may still be set
	rdlAt    time.Time        // that deadline, when rdl (serve's goroutine only)

	// the client-body bound (ADR-110), serve's goroutine only
	inBody      bool              // the request's body is being read: Read moves the deadline
	bodyBound   time.Duration     // shared.ClientBodyTimeout when the body began
	bodyPace    shared.StallPacer // paces the read deadline's moves
	bodyDl      time.Time         // that deadline
	bodyStalled bool              // a read of the body ran into it: 408

	unsent int64 // relayBody's last write to c.bw that failed: bytes of it c.bw did not take
}

// headBuffered reports whether a whole request head is already buffered.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return headIn(b)
}

// headIn reports whether b holds the end of a head (a blank line). A
// head that arrived alone is answered by its last bytes; the search of
// the whole buffer (~480 instructions a request) is for the rest.
func headIn(b []byte) bool {
	if n := len(b); n >= 2 && b[n-1] == '\n' && (b[n-2] == '\n' || n >= 4 && string(b[n-4:n-1]) == "\r\n\r") {
		return true
	}
	return bytes.Contains(b, crlf2) || bytes.Contains(b, lf2)
}

var crlf2, lf2 = []byte("\r\n\r\n"), []byte("\n\n")

func newFconn(f *fastServer, nc net.Conn) *fconn {
	c := &fconn{f: f, nc: nc, remote: nc.RemoteAddr().String(), send: sendBound{stall: f.sendStall}}
	c.peerHost, _, _ = net.SplitHostPort(c.remote)
	c.peerErr = f.hooks.CheckPeer(c.remote)
	c.req.max = f.maxHead
	c.br = brPool.Get().(*bufio.Reader)
	c.br.Reset(c)
	c.bw = bwPool.Get().(*bufio.Writer)
	c.w = newRawWriter(nc)
	c.bw.Reset(c)
	c.rr = newRawReader(nc)
	return c
}

// Write feeds the socket from c.bw and counts what reached it: relay
// tells by the count whether any byte of an answer left the gateway.
func (c *fconn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.sent += int64(n)
	if err != nil && c.send.on {
		return c.sendStalled(p, n, err)
	}
	return n, err
}

// Read feeds c.br: first a byte the watcher took, then the socket.
func (c *fconn) Read(p []byte) (int, error) {
	if c.pending > 0 && len(p) > 0 {
		c.pending = 0
		p[0] = c.wbuf[0]
		return 1, nil
	}
	if c.inBody {
		return c.readBody(p)
	}
	return c.rr.Read(p)
}

// startBody begins the bound on the client's body (shared.ClientBodyTimeout,
// nginx's client_body_timeout): from here to endBody each read of the
// socket starts with the read deadline at least the bound less a second
// ahead (readBody), so a client that stops sending its body mid-way is
// answered 408 once nothing came for the bound, while a body that keeps
// coming, however slowly, is never cut. Only requests with a body pay for
// it: a clock read per socket read, a deadline move per second.
func (c *fconn) startBody() {
	c.bodyBound = shared.ClientBodyTimeout
	c.bodyPace.Reset()
	c.bodyStalled = false
	c.inBody = c.bodyBound > 0
}

// readBody is Read while the body is read.
func (c *fconn) readBody(p []byte) (int, error) {
	now := time.Now()
	if c.bodyPace.Due(now, c.bodyBound) {
		c.bodyDl = now.Add(c.bodyBound)
		if whole := c.wholeDeadline(); !whole.IsZero() && whole.Before(c.bodyDl) {
			c.bodyDl = whole
		}
		c.nc.SetReadDeadline(c.bodyDl)
		if c.timedOut.Load() {
			// request_timeout stopped the read (timeUp): keep it stopped.
			c.nc.SetReadDeadline(shared.PastDeadline)
		}
	}
	n, err := c.rr.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.timedOut.Load() && !time.Now().Before(c.bodyDl) {
		if whole := c.wholeDeadline(); whole.IsZero() || c.bodyDl.Before(whole) {
			c.bodyStalled = true
		}
	}
	return n, err
}

// wholeDeadline is read_timeout's deadline for the request (zero: none).
func (c *fconn) wholeDeadline() time.Time {
	if c.f.readTimeout > 0 {
		return c.ri.Start.Add(c.f.readTimeout)
	}
	return time.Time{}
}

// endBody ends the body's bound: the read deadline goes back to what serve
// set for the request (read_timeout's, or none), unless request_timeout
// stopped the reads.
func (c *fconn) endBody() {
	if !c.inBody {
		return
	}
	c.inBody = false
	if c.bodyPace.Moved() && !c.timedOut.Load() {
		c.nc.SetReadDeadline(c.wholeDeadline())
	}
}

func (c *fconn) setActive(a bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || (a && c.f.shutting.Load()) {
		return false
	}
	c.active = a
	return true
}

func (c *fconn) closeIfIdle() {
	c.mu.Lock()
	if !c.active && !c.closed {
		c.closed = true
		c.nc.Close()
	}
	c.mu.Unlock()
}

func (c *fconn) serve() {
	handedOff := false
	defer func() {
		c.f.forget(c)
		if !handedOff {
			c.mu.Lock()
			c.closed = true
			c.mu.Unlock()
			if c.linger {
				closeGently(c.nc)
			}
			c.nc.Close()
		}
		c.br.Reset(nil)
		brPool.Put(c.br)
		c.bw.Reset(nil)
		bwPool.Put(c.bw)
	}()
	f := c.f
	route := func(p []byte) bool { rt, _ := f.route(p); return rt != nil }
	for first := true; ; first = false {
		if !c.setActive(false) {
			return
		}
		// Read deadlines: one per request in the common case (the whole
		// head arrives in one read); a deadline left in place is cleared
		// before the body is read or by the watcher before it blocks.
		if c.br.Buffered() == 0 && c.pending == 0 {
			var d time.Duration
			switch {
			case first && f.readHeaderTimeout > 0:
				d = f.readHeaderTimeout
			case !first && f.idleTimeout > 0:
				d = f.idleTimeout
			case !first && f.readHeaderTimeout > 0:
				d = f.readHeaderTimeout
			}
			if d > 0 {
				// The previous request's end is now, give or take the
				// microseconds since (no clock read per request).
				now := c.ri.End
				if now.IsZero() {
					now = time.Now()
				}
				c.readDeadline(now.Add(d))
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !c.setActive(true) {
			return
		}
		start := time.Now()
		if !c.send.on {
			c.send.arm(c.nc, start, c.sent)
		}
		if f.readHeaderTimeout > 0 && !headBuffered(c.br) {
			c.readDeadline(start.Add(f.readHeaderTimeout))
		}
		err := c.req.readHead(c.br, route)
		if err != nil {
			var he *headError
			if errors.As(err, &he) {
				writeBadRequest(c, he.status, he.reason, f.hooks.RequestID(string(c.req.reqID.of(c.req.raw))), f.maxHead)
				c.linger = true // the client may still be sending: no reset before it reads this
			}
			return
		}
		if c.req.handoff {
			handedOff = c.handOff()
			return
		}
		switch {
		case f.readTimeout > 0:
			c.nc.SetReadDeadline(start.Add(f.readTimeout))
			c.rdl.Store(false) // deliberate: the watcher leaves it
		case c.req.cl != 0 && c.rdl.Load():
			c.nc.SetReadDeadline(time.Time{})
			c.rdl.Store(false)
		}
		if f.writeTimeout > 0 {
			c.nc.SetWriteDeadline(start.Add(f.writeTimeout))
		}
		rt, pattern := f.route(c.req.path.of(c.req.raw))
		c.bodyDone = c.req.cl == 0
		if !c.serveProxy(rt, pattern, start) || c.f.shutting.Load() {
			c.linger = !c.bodyDone
			return
		}
	}
}

// readDeadline sets a header or idle read deadline of at, unless the one
// in place is at most a second earlier: those timeouts are seconds long,
// and moving the deadline on every request of a busy connection costs a
// runtime timer update each time for nothing.
func (c *fconn) readDeadline(at time.Time) {
	if c.rdl.Load() {
		if d := at.Sub(c.rdlAt); d >= 0 && d < time.Second {
			return
		}
	}
	c.nc.SetReadDeadline(at)
	c.rdlAt = at
	c.rdl.Store(true)
}

// handOff gives the connection, with the bytes already read, to net/http.
func (c *fconn) handOff() bool {
	buf := make([]byte, 0, len(c.req.raw)+c.br.Buffered()+1)
	buf = append(buf, c.req.raw...)
	b, _ := c.br.Peek(c.br.Buffered())
	buf = append(buf, b...)
	if c.pending > 0 {
		buf = append(buf, c.wbuf[0])
	}
	c.nc.SetDeadline(time.Time{})
	c.send.on = false
	c.f.forget(c)
	c.mu.Lock()
	c.closed = true // no longer ours to close
	c.mu.Unlock()
	return c.f.handoff.give(newClConn(&prefixConn{Conn: c.nc, buf: buf}, c.f.sendStall, c.f.maxHead, c.f.log))
}

// serveProxy runs the chain's steps around the proxying of one request.
// It reports whether the connection may serve another request.
func (c *fconn) serveProxy(rt *fastRoute, pattern string, start time.Time) (keep bool) {
	h := c.f.hooks
	req := &c.req
	c.wroteHeader = false
	c.aborted.Store(false)
	c.timedOut.Store(false)
	c.headLate.Store(false)
	ri := &c.ri
	*ri = shared.RequestInfo{
		ReqID:  h.RequestID(string(req.reqID.of(req.raw))),
		Method: req.method, Path: string(req.path.of(req.raw)), Peer: c.remote,
		Route: "unmatched", Start: start,
	}
	h.Begin()
	done := false
	defer func() {
		if done {
			return
		}
		v := recover()
		keep = false
		if v != http.ErrAbortHandler {
			h.Panic(ri.ReqID, v)
			if !c.wroteHeader {
				ri.Status = writeErrorBody(c, errs.E("recover", errs.Internal), ri.ReqID, nil)
			}
		}
		// Still one access line, counted, traced: the in-flight gauge
		// stayed one higher for good without it.
		if ri.Status == 0 {
			ri.Status = http.StatusInternalServerError
		}
		ri.End = time.Time{}
		h.End(ri)
	}()
	if testPanic != nil {
		testPanic(ri.Path)
	}
	keep = c.proxyChecked(rt, pattern, ri) && ri.Cut == ""
	done = true
	h.End(ri)
	return keep
}

// testPanic, when set (tests), runs before each proxied request.
var testPanic func(path string)

func (c *fconn) hasBody() bool { return c.req.cl != 0 }

func (c *fconn) proxyChecked(rt *fastRoute, pattern string, ri *shared.RequestInfo) bool {
	h := c.f.hooks
	req := &c.req
	if c.peerErr != nil {
		ri.Status = writeErrorBody(c, c.peerErr, ri.ReqID, nil)
		return !c.hasBody() && !req.close
	}
	if req.badEscape.ok() {
		err := errs.E("gateway", errs.Invalid, fmt.Sprintf("invalid URL escape %q in the request path", req.badEscape.of(req.raw)))
		ri.Status = writeErrorBody(c, err, ri.ReqID, nil)
		return !c.hasBody() && !req.close
	}
	ri.Route = pattern
	if err := h.CheckAuth(string(req.authz.of(req.raw))); err != nil {
		ri.Status = writeErrorBody(c, err, ri.ReqID, func(hd http.Header) { hd.Set("WWW-Authenticate", shared.AuthChallenge) })
		return !c.hasBody() && !req.close
	}
	ri.Authed = true
	if err := h.CheckLength(req.cl); err != nil {
		ri.Status = writeErrorBody(c, err, ri.ReqID, nil)
		return false
	}
	if c.fwdTooLarge(rt.p, ri.ReqID) {
		ri.Status = c.writeHeadTooLarge(rt.p, ri.ReqID)
		return false
	}
	if h.Timeout > 0 {
		c.twg.Add(1)
		c.tarmed = true
		if c.ttimer == nil {
			c.ttimer = time.AfterFunc(h.Timeout, c.timeUp)
		} else {
			c.ttimer.Reset(h.Timeout)
		}
		defer c.endTimer()
	}
	c.relayed = false
	keep := c.forward(rt.p, ri)
	if ri.Cut != "" && c.relayed {
		rt.p.stats.count(outClientStalled)
	} else {
		rt.p.stats.countAnswer(c.relayed, ri.Status)
	}
	if c.stopWatch() {
		keep = false
	}
	if c.tarmed {
		c.endTimer()
		if c.timedOut.Load() {
			keep = false // the client's read deadline is spent
		}
	}
	return keep && !req.close
}

// timeUp is the request timeout: it stops the upstream exchange and the
// read of a client body that stalls mid-way (the gateway waited for the
// rest of it forever, the daemon with it).
func (c *fconn) timeUp() {
	defer c.twg.Done()
	c.timedOut.Store(true)
	c.abort()
	c.nc.SetReadDeadline(shared.PastDeadline)
}

// endTimer stops the request timeout, or waits for its func to return
// when it has fired: a func that ran late set aborted on the next
// request of the connection (a 504 for a request that had just begun).
func (c *fconn) endTimer() {
	if !c.tarmed {
		return
	}
	c.tarmed = false
	if c.ttimer.Stop() {
		c.twg.Done()
	} else {
		c.twg.Wait()
	}
}

// abort stops the upstream exchange (client gone, or the request timeout).
func (c *fconn) abort() {
	c.aborted.Store(true)
	c.mu.Lock()
	if c.up != nil {
		c.up.poison()
	}
	c.mu.Unlock()
}

func (c *fconn) setUp(u *upConn) {
	c.mu.Lock()
	c.up = u
	c.mu.Unlock()
	if c.aborted.Load() {
		u.poison()
	}
}

// clearUp detaches the upstream connection; false if an abort poisoned it.
func (c *fconn) clearUp() bool {
	c.mu.Lock()
	c.up = nil
	c.mu.Unlock()
	return !c.aborted.Load()
}

// forward sends the request upstream and relays the answer.
func (c *fconn) forward(p *proxy, ri *shared.RequestInfo) bool {
	u := p.up
	req := &c.req
	replay := req.cl == 0 && replayable(req.method)
	bound, why := p.boundFor(req.method, req.cl != 0)
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.take(bgCtx, attempt, !replay, monoNs(ri.Start))
		if err != nil {
			return c.badGateway(p, err, ri)
		}
		c.setUp(uc)
		werr := c.writeUpstream(uc, p, ri.ReqID, bound)
		c.endBody()
		stalled := uc.stalled(werr)
		uc.sw.disarm()
		early := werr == errEarlyAnswer
		if early {
			// The daemon answered Expect: 100-continue with its final
			// answer (413, 401, 404...): relayed at once, the body never
			// sent; neither connection is kept (relay's bodyUnread).
			werr = nil
		} else if ce, ok := werr.(*continueError); ok {
			// No 100 and no answer: the daemon failed or was late.
			c.clearUp()
			uc.c.Close()
			if c.aborted.Load() {
				return c.noAnswer(p, ce.err, ri)
			}
			return c.badGateway(p, ce.err, ri)
		}
		if be, ok := werr.(*bodyError); ok {
			c.clearUp()
			uc.c.Close() // the daemon sees its body cut and discards it
			if c.timedOut.Load() {
				ri.Status = writeErrorBody(c, errBodyTimedOut, ri.ReqID, nil)
				return false
			}
			if c.aborted.Load() {
				return false
			}
			if c.bodyStalled {
				// The client stopped sending its body (ADR-110).
				ri.Status = writeErrorBody(c, shared.ErrBodyStalled(c.bodyBound), ri.ReqID, nil)
				return false
			}
			ri.Status = writeErrorBody(c, errs.E("gateway", be.kind(), "reading the request body: "+be.err.Error()), ri.ReqID, nil)
			return false
		}
		armed := true
		switch {
		case early:
			armed = false
		case werr == nil && bound > 0:
			from := ri.Start // a request without a body: no clock read
			if req.cl != 0 {
				from = time.Now() // after an upload, however long it took
			}
			c.armHead(from, bound, why, bound)
			c.armWatch(ri.Start)
		case werr == nil:
			c.armWatch(ri.Start)
			// No bound on the wait (an ingest): once the head has begun,
			// its rest comes at once or the daemon broke mid-write.
			if _, perr := uc.br.Peek(1); perr == nil {
				c.armHead(time.Now(), partialHeadBound, latePartial, partialHeadBound)
			} else {
				armed = false
			}
		case werr == errAnsweredEarly:
			// The daemon began an answer before the body's end (a 413): the
			// upload stops, the answer is relayed (relay's bodyUnread).
			c.armHead(time.Now(), partialHeadBound, latePartial, partialHeadBound)
		case stalled:
			// The daemon stopped taking the body: an early answer it sent
			// (a 413) is already here; without one the client gets 504.
			c.armHead(time.Now(), stallAnswerWait, lateStalled, p.up.sendStall)
		default:
			armed = false
		}
		got, rerr := early, error(nil)
		if !early {
			got, rerr = c.resp.read(uc.br)
		}
		if armed {
			c.headBy.Store(0)
		}
		if rerr == nil && reused && outOfStep(uc.br, c.bodyInBuffer(), replay) {
			rerr = errOutOfStep
		}
		if rerr == nil {
			return c.relay(p, uc, ri, werr != nil || early)
		}
		c.stopWatch()
		c.clearUp()
		uc.c.Close()
		if c.aborted.Load() {
			return c.noAnswer(p, rerr, ri)
		}
		if werr != nil {
			err = werr
		} else {
			err = rerr
		}
		// What a reused connection yielded may have been bytes the daemon
		// sent after its previous answer (garbage: a 502 for a GET that a
		// fresh connection answers; see outOfStep): a replayable
		// request goes again on a fresh one. Others were peeked before
		// they were sent (getFor) and are not sent twice (ADR-085).
		if reused {
			if !got {
				u.dropIdle()
			}
			if attempt == 0 && replay {
				if got {
					p.log.Warn("upstream answer out of step, sent again on a fresh connection", "op", "proxy", "daemon", p.name, "req_id", ri.ReqID, "err", err.Error())
				}
				continue
			}
		}
		return c.badGateway(p, err, ri)
	}
}

// bodyInBuffer is how many bytes of the answer's body (head in c.resp)
// follow its head on the connection by its framing, -1 when only its
// chunks or the close tell.
func (c *fconn) bodyInBuffer() int64 {
	resp := &c.resp
	switch {
	case c.req.method == http.MethodHead || resp.status == 204 || resp.status == 304:
		return 0
	case resp.chunked:
		return -1
	}
	return resp.cl
}

// noAnswer answers a request whose daemon gave no usable answer, when no
// byte of one has reached the client: the request's time ran out (504),
// the client went away (499, nothing to write), or the daemon failed
// (502) — each with DESIGN.md's error body, as on the net/http path.
func (c *fconn) noAnswer(p *proxy, err error, ri *shared.RequestInfo) bool {
	if c.aborted.Load() {
		if c.headLate.Load() {
			// The daemon did not begin its answer within its bound: it is
			// hung (ADR-096).
			p.log.Warn("upstream failed", "op", "proxy", "daemon", p.name, "req_id", ri.ReqID, "err", "no answer within "+c.hbound.String())
			ri.Status = writeErrorBody(c, errHeadLate(p, c.hwhy, c.hbound), ri.ReqID, nil)
			return !c.hasBody() && !c.timedOut.Load()
		}
		if c.timedOut.Load() {
			// The request's time ran out before the daemon answered: 504
			// with the error body (the net/http path answers the same).
			ri.Status = writeErrorBody(c, errTimedOut(p), ri.ReqID, nil)
			return false
		}
		// The client hung up before the answer: logged and counted as
		// 499, as on the net/http path (was status 0, "other").
		ri.Status = errs.StatusClientClosed
		return false
	}
	return c.badGateway(p, err, ri)
}

func (c *fconn) badGateway(p *proxy, err error, ri *shared.RequestInfo) bool {
	p.log.Warn("upstream failed", "op", "proxy", "daemon", p.name, "req_id", ri.ReqID, "err", err.Error())
	ri.Status = writeErrorBody(c, errs.E("gateway", errs.Unavailable, errs.StatusBadGateway, "daemon "+p.name+" is unreachable at "+p.host), ri.ReqID, nil)
	return !c.hasBody()
}

var bgCtx = context.Background()

var errBadChunk = errors.New("malformed chunked encoding")

// writeUpstream writes the request head and streams its body to uc. A
// request with a body sent with Expect: 100-continue goes with it: the
// body follows only the daemon's 100 Continue, which is relayed to the
// client (awaitContinue); errEarlyAnswer says the daemon answered instead
// (its head in c.resp), a *continueError that it gave neither.
// bound is the wait for the answer's head (proxy.boundFor).
func (c *fconn) writeUpstream(uc *upConn, p *proxy, reqID string, bound time.Duration) error {
	req := &c.req
	bw := uc.bw
	// The head is appended in bw's free space and written once (a
	// bufio call per piece cost ~1,500 instructions a request); a head
	// larger than that space grows a slice of its own, the bytes the same.
	h := appendFwdHead(bw.AvailableBuffer(), req, p.up.addr, reqID, c.peerHost)
	switch {
	case req.cl > 0:
		h = append(h, "Content-Length: "...)
		h = strconv.AppendInt(h, req.cl, 10)
		h = append(h, "\r\n"...)
		bw.Write(h)
		if err := c.endHead(uc, bound); err != nil {
			return err
		}
		c.startBody()
		uc.sw.arm(p.up.sendStall)
		if err := c.copyBody(bw, io.LimitReader(c.br, req.cl), req.cl, uc); err != nil {
			return err
		}
		c.bodyDone = true
	case req.cl < 0:
		h = append(h, "Transfer-Encoding: chunked\r\n"...)
		bw.Write(h)
		if err := c.endHead(uc, bound); err != nil {
			return err
		}
		c.startBody()
		uc.sw.arm(p.up.sendStall)
		var src io.Reader = &chunkErr{httputil.NewChunkedReader(c.br)}
		if m := c.f.hooks.MaxBody; m > 0 {
			src = &maxReader{r: src, left: m, limit: m}
		}
		cw := httputil.NewChunkedWriter(bw)
		if err := c.copyBody(cw, src, -1, uc); err != nil {
			return err
		}
		if _, err := readTrailers(c.br, nil, false); err != nil {
			return &bodyError{errBadChunk}
		}
		c.bodyDone = true
		cw.Close()
		bw.WriteString("\r\n")
	default:
		if req.method == http.MethodPost || req.method == http.MethodPut || req.method == http.MethodPatch {
			h = append(h, "Content-Length: 0\r\n"...)
		}
		h = append(h, "\r\n"...)
		if _, err := bw.Write(h); err == nil && bw.Buffered() == 0 {
			// A head larger than bw went out whole, in bufio's direct
			// write: its answer may come before the wait for it begins,
			// which a flush-first read would miss (it waits without
			// reading, and the runtime drops readiness seen before).
			return nil
		}
		uc.flushOnRead() // sent by the answer's first read
		return nil
	}
	return bw.Flush()
}

// appendFwdHead appends the head writeUpstream sends for req, up to its
// framing fields: the request line, Host (the daemon's addr), the fields
// forwarded, X-Request-Id and X-Forwarded-For (fwdHeadLenFast counts it).
func appendFwdHead(h []byte, req *reqHead, addr, reqID, peerHost string) []byte {
	raw := req.raw
	h = append(h, req.method...)
	h = append(h, ' ')
	h = append(h, req.target.of(raw)...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, addr...)
	h = append(h, "\r\n"...)
	for _, f := range req.fields {
		k := f.k.of(raw)
		if skipFwd(k) || (len(req.conn) > 0 && nominated(raw, req.conn, k)) {
			continue
		}
		h = append(h, k...)
		h = append(h, ": "...)
		h = append(h, f.v.of(raw)...)
		h = append(h, "\r\n"...)
	}
	h = append(h, "X-Request-Id: "...)
	h = append(h, reqID...)
	h = append(h, "\r\nX-Forwarded-For: "...)
	for _, x := range req.xff {
		h = append(h, x.of(raw)...)
		h = append(h, ", "...)
	}
	h = append(h, peerHost...)
	return append(h, "\r\n"...)
}

// errEarlyAnswer: the daemon gave its final answer to a request sent with
// Expect: 100-continue instead of a 100 Continue (its head is in c.resp);
// the body was not sent.
var errEarlyAnswer = errors.New("the daemon answered before the request body")

// continueError: the daemon gave neither a 100 Continue nor an answer
// (it closed, sent a malformed head, or the request was stopped: aborted).
type continueError struct{ err error }

func (e *continueError) Error() string { return e.err.Error() }

// endHead ends the head of a request with a body: at once, or with
// Expect: 100-continue once the daemon's 100 came (awaitContinue).
func (c *fconn) endHead(uc *upConn, bound time.Duration) error {
	if c.req.expect {
		return c.awaitContinue(uc, bound)
	}
	uc.bw.WriteString("\r\n")
	return nil
}

// awaitContinue ends the head of a request sent with Expect: 100-continue
// with that field, sends it, and waits for the daemon's first answer head,
// as a transparent proxy does (RFC 9110 10.1.1; Envoy, HAProxy): a 100
// Continue is relayed to the client, which then sends its body (nil); a
// final answer (413 over max_body_bytes, 401, 404...) is the answer, the
// body never sent (errEarlyAnswer). The gateway answered 100 itself and
// sent the whole body before it read the daemon's 413 — 256 MiB through
// ADR-139's drain. A Go daemon sends its 100 as its handler begins to read
// the body; one that sends nothing within the wait for an answer's head
// (bound, or quietHeadBound for a daemon that has none) gets the body as a
// client's own wait would send it: the gateway's 100 goes to the client.
func (c *fconn) awaitContinue(uc *upConn, bound time.Duration) error {
	uc.bw.WriteString("Expect: 100-continue\r\n\r\n")
	if err := uc.bw.Flush(); err != nil {
		return &continueError{err}
	}
	if bound <= 0 {
		bound = quietHeadBound
	}
	began, err := uc.awaitFirst(bound)
	if err != nil {
		return &continueError{err}
	}
	if began {
		_, err = c.resp.readContinue(uc.br)
		uc.endWait()
		if err != nil {
			return &continueError{err}
		}
		if c.resp.status != http.StatusContinue {
			return errEarlyAnswer
		}
	}
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	if err := c.bw.Flush(); err != nil {
		return &bodyError{err} // the client is gone
	}
	return nil
}

// copyBody copies the client's body upstream; a read failure is the
// client's (bodyError), a write failure the daemon's. Every
// earlyCheckEvery bytes it looks for an early answer from uc's daemon
// (errAnsweredEarly).
func (c *fconn) copyBody(dst io.Writer, src io.Reader, want int64, uc *upConn) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	next := earlyCheckEvery
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			n += int64(m)
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return werr
			}
			if n >= next {
				next = n + earlyCheckEvery
				if uc.answering() {
					return errAnsweredEarly
				}
			}
		}
		if rerr == io.EOF {
			if want >= 0 && n != want {
				return &bodyError{io.ErrUnexpectedEOF}
			}
			return nil
		}
		if rerr != nil {
			return &bodyError{rerr}
		}
	}
}

type chunkErr struct{ r io.Reader }

func (c *chunkErr) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return n, err
		}
		if err != io.ErrUnexpectedEOF {
			err = errBadChunk
		}
	}
	return n, err
}

// maxReader is http.MaxBytesReader's verdict without a ResponseWriter.
type maxReader struct {
	r           io.Reader
	left, limit int64
}

func (m *maxReader) Read(p []byte) (int, error) {
	if m.left <= 0 {
		var one [1]byte
		if n, _ := m.r.Read(one[:]); n > 0 {
			return 0, &http.MaxBytesError{Limit: m.limit}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > m.left {
		p = p[:m.left]
	}
	n, err := m.r.Read(p)
	m.left -= int64(n)
	return n, err
}

// relay writes the upstream answer (head in c.resp) to the client.
// bodyUnread: the client's body was not all sent (an early answer).
func (c *fconn) relay(p *proxy, uc *upConn, ri *shared.RequestInfo, bodyUnread bool) bool {
	req, resp := &c.req, &c.resp
	raw := resp.raw
	ri.Status = resp.status
	c.relayed = true
	sent := c.sent // c.bw is empty here: every answer before was flushed
	noBody := req.method == http.MethodHead || resp.status == 204 || resp.status == 304 || resp.status < 200
	keepClient := !bodyUnread && !req.close && !c.f.shutting.Load()
	// framing towards the client
	const (
		modeNone = iota
		modeLength
		modeChunked
	)
	mode := modeNone
	if !noBody {
		if resp.cl >= 0 {
			mode = modeLength
		} else {
			mode = modeChunked
		}
	}
	bw := c.bw
	// The head is appended in bw's free space and written once (as
	// writeUpstream's).
	h := bw.AvailableBuffer()
	h = append(h, "HTTP/1.1 "...)
	h = append(h, statusLine(resp.status)...)
	hasDate := false
	// A chunked answer's trailers go on to a chunked client, announced as
	// the daemon announced them.
	trailers := mode == modeChunked && resp.chunked
	for _, f := range resp.fields {
		k := f.k.of(raw)
		if len(k) == 14 && eqFold(k, "content-length") {
			if mode == modeChunked {
				continue
			}
		} else if trailers && len(k) == 7 && eqFold(k, "trailer") {
			// kept
		} else if skipBack(k) || (len(resp.conn) > 0 && nominated(raw, resp.conn, k)) {
			continue
		}
		if len(k) == 4 && eqFold(k, "date") {
			hasDate = true
		}
		h = append(h, k...)
		h = append(h, ": "...)
		h = append(h, f.v.of(raw)...)
		h = append(h, "\r\n"...)
	}
	h = append(h, "X-Request-Id: "...)
	h = append(h, ri.ReqID...)
	h = append(h, "\r\n"...)
	if !hasDate {
		h = append(h, "Date: "...)
		h = append(h, httpDate(time.Now())...)
		h = append(h, "\r\n"...)
	}
	if mode == modeChunked {
		h = append(h, "Transfer-Encoding: chunked\r\n"...)
	}
	if !keepClient {
		h = append(h, "Connection: close\r\n"...)
	}
	h = append(h, "\r\n"...)
	bw.Write(h)
	c.wroteHeader = true

	upReuse := !resp.close && !req.close && !bodyUnread
	var err error
	var clientErr bool
	if resp.sse && !noBody {
		// An event stream's head goes to the client at once (an
		// EventSource is open before the first event, which may be
		// minutes away); one that breaks before its first event is then a
		// cut, not the error answer.
		if err = bw.Flush(); err != nil {
			clientErr = true
		}
	}
	switch {
	case err != nil:
		// the client is gone
	case noBody:
		// no body either way
	case resp.cl >= 0 && !resp.chunked:
		c.lr = io.LimitedReader{R: uc.br, N: resp.cl}
		err, clientErr = c.relayBody(&c.lr, resp.cl, mode == modeChunked, resp.sse)
		c.lr.R = nil
	case resp.chunked:
		err, clientErr = c.relayBody(httputil.NewChunkedReader(uc.br), -1, true, true)
		if err == nil {
			c.trailers, err = readTrailers(uc.br, c.trailers[:0], trailers)
		}
	default: // until the daemon closes
		upReuse = false
		err, clientErr = c.relayBody(uc.br, -1, true, true)
	}
	if err == nil {
		if mode == modeChunked {
			bw.WriteString("0\r\n")
			if trailers {
				bw.Write(c.trailers)
			}
			bw.WriteString("\r\n")
		}
		if werr := bw.Flush(); werr != nil {
			err, clientErr = werr, true
		}
	}
	if !c.clearUp() {
		upReuse = false
	}
	if err != nil {
		uc.c.Close()
		if !clientErr && c.sent == sent {
			// The answer broke (the daemon closed, reset, stalled past the
			// request timeout, or sent a bad chunk) while all of it was
			// still in c.bw: the client gets the error answer the net/http
			// path gives a daemon that fails before its head, not a
			// connection closed without a byte.
			c.bw.Reset(c)
			c.wroteHeader = false
			c.relayed = false
			ri.Bytes = 0
			return c.noAnswer(p, err, ri) && keepClient
		}
		if !clientErr && !c.aborted.Load() {
			p.log.Warn("response copy broke", "op", "proxy", "daemon", p.name, "req_id", ri.ReqID, "err", err.Error())
		}
		if clientErr && c.cutBy(err) {
			c.cutAnswer(ri, mode == modeLength, resp.cl)
		}
		return false
	}
	if upReuse && uc.br.Buffered() > 0 {
		// The daemon sent more than its answer framed (a body on a HEAD,
		// 204 or 304, bytes past Content-Length): pooled, the connection
		// gave them to the next request as its answer (a 502 for a request
		// the daemon had run).
		upReuse = false
	}
	if upReuse {
		// The answer is complete: the one clock read of the request's end,
		// shared with End (access line, metrics) and the pool's stamp.
		ri.End = time.Now()
		p.up.put(uc, monoNs(ri.End))
	} else {
		uc.c.Close()
	}
	return keepClient
}

// relayBody copies an upstream body to the client, chunk-encoding it when
// chunked, flushing per read when stream (SSE, unknown length).
func (c *fconn) relayBody(src io.Reader, want int64, chunked, stream bool) (err error, clientErr bool) {
	if stream {
		c.watchNow()
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	bw := c.bw
	var n int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			n += int64(m)
			if chunked {
				bw.WriteString(strconv.FormatInt(int64(m), 16))
				bw.WriteString("\r\n")
			}
			nw, werr := bw.Write(buf[:m])
			if chunked {
				bw.WriteString("\r\n")
			}
			if werr == nil && stream {
				werr = bw.Flush()
			}
			if werr != nil {
				c.ri.Bytes = n
				c.unsent = int64(m - nw) // not taken by c.bw (cutAnswer)
				return werr, true
			}
		}
		if rerr == io.EOF {
			c.ri.Bytes = n
			if want >= 0 && n != want {
				return io.ErrUnexpectedEOF, false
			}
			return nil, false
		}
		if rerr != nil {
			c.ri.Bytes = n
			return rerr, false
		}
	}
}

// writeSimple writes a complete small response.
func (c *fconn) writeSimple(status int, h http.Header, body []byte) {
	bw := c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(statusLine(status))
	// Fields in name order, as net/http writes them: in map order the same
	// error answer came with its header lines in a different order from
	// call to call.
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("Date: ")
	bw.Write(httpDate(time.Now()))
	bw.WriteString("\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	bw.WriteString("\r\n")
	if c.hasBody() || c.req.close || c.f.shutting.Load() {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	if c.req.method != http.MethodHead {
		bw.Write(body)
	}
	err := bw.Flush()
	c.wroteHeader = true
	c.ri.Bytes = int64(len(body))
	if err != nil && c.cutBy(err) {
		// The gateway's own answer, cut as a relayed one is (its access
		// line's err, answers_cut); serveProxy ends the connection.
		c.cutAnswer(&c.ri, true, c.ri.Bytes)
	}
}

var statusLines sync.Map // int -> string, codes outside statusLineTab

// statusLineTab holds the status lines of 100-599, made once: an indexed
// load per answer instead of a sync.Map look-up (~150 instructions).
var statusLineTab = func() (t [600]string) {
	for code := 100; code < len(t); code++ {
		t[code] = makeStatusLine(code)
	}
	return t
}()

// statusLine is "200 OK\r\n" (net/http's text; "status code N" if none).
func statusLine(code int) string {
	if code >= 100 && code < len(statusLineTab) {
		return statusLineTab[code]
	}
	if v, ok := statusLines.Load(code); ok {
		return v.(string)
	}
	s := makeStatusLine(code)
	statusLines.Store(code, s)
	return s
}

func makeStatusLine(code int) string {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + text + "\r\n"
}

// --- the bound on the wait for an answer's head (ADR-096) ---

// armHead gives the daemon until bound after from to send its answer's
// head (why and shown name the bound in the error answer). The server's
// sweeper stops the request when that passes (headDue); forward clears
// it when the head came. (ADR-096, ADR-109.)
func (c *fconn) armHead(from time.Time, bound time.Duration, why lateWhy, shown time.Duration) {
	c.hwhy, c.hbound = why, shown
	c.headBy.Store(monoNs(from) + int64(bound))
	c.f.wakeSweeper()
}

// headDue stops the request that armed hb if its head has still not come
// (the sweeper's view may be a request older: it then finds headBy moved
// on and does nothing).
func (c *fconn) headDue(hb int64) {
	c.mu.Lock()
	if c.headBy.CompareAndSwap(hb, 0) {
		c.headLate.Store(true)
		c.aborted.Store(true)
		if c.up != nil {
			c.up.poison()
		}
	}
	c.mu.Unlock()
}

// --- the client-socket watcher ---

// armWatch marks the request that started at since as awaiting its
// answer; the server's sweeper (fastServer.sweep) starts the watcher once
// it has waited watchDelay. Per request that is a lock and two atomics —
// no runtime timer, no goroutine per connection and tick (ADR-072).
func (c *fconn) armWatch(since time.Time) {
	if c.br.Buffered() > 0 || c.pending > 0 {
		return // pipelined bytes: nothing to learn from the socket
	}
	c.wmu.Lock()
	c.wstate = 1
	c.wsince.Store(monoNs(since))
	c.wmu.Unlock()
	c.f.wakeSweeper()
}

// watchDue starts the watcher if the armed request has been awaited for
// watchDelay at now (the sweeper's view may be a request older).
func (c *fconn) watchDue(now int64) {
	c.wmu.Lock()
	s := c.wsince.Load()
	if c.wstate != 1 || s == 0 || now-s < int64(watchDelay) {
		c.wmu.Unlock()
		return
	}
	c.wsince.Store(0) // the sweeper's work here is done
	c.wmu.Unlock()
	go c.watchFire()
}

// watchNow starts the watcher at once (a streamed answer).
func (c *fconn) watchNow() {
	if c.br.Buffered() > 0 || c.pending > 0 {
		return
	}
	c.wmu.Lock()
	st := c.wstate
	if st != 2 {
		c.wstate = 1
	}
	c.wmu.Unlock()
	if st != 2 {
		go c.watchFire()
	}
}

func (c *fconn) watchFire() {
	c.wmu.Lock()
	if c.wstate != 1 {
		c.wmu.Unlock()
		return
	}
	if c.rdl.Load() { // a stale header/idle deadline would end the watch early
		c.nc.SetReadDeadline(time.Time{})
		c.rdl.Store(false)
	}
	c.wstate = 2
	c.wstopping = false
	c.wn, c.werr = 0, nil
	done := make(chan struct{})
	c.wdone = done
	c.wmu.Unlock()
	n, err := c.nc.Read(c.wbuf[:])
	c.wmu.Lock()
	c.wn, c.werr = n, err
	stopping := c.wstopping
	c.wmu.Unlock()
	if n == 0 && err != nil && !stopping {
		c.abort() // the client went away
	}
	close(done)
}

// stopWatch ends the watcher; true if the client connection is unusable.
func (c *fconn) stopWatch() bool {
	c.wmu.Lock()
	st := c.wstate
	c.wstate = 0
	c.wsince.Store(0)
	if st != 2 {
		c.wmu.Unlock()
		return false
	}
	c.wstopping = true
	done := c.wdone
	c.wmu.Unlock()
	c.nc.SetReadDeadline(shared.PastDeadline)
	<-done
	c.nc.SetReadDeadline(time.Time{})
	c.rdl.Store(false)
	if c.wn > 0 {
		c.pending = 1
		return false
	}
	if ne, ok := c.werr.(net.Error); ok && ne.Timeout() {
		return false
	}
	return c.werr != nil
}

// closeGently is net/http's closeWriteAndWait: send FIN, then read and
// drop what the client still sends for a moment, so that closing does not
// reset the connection before it has read the answer (an early 413).
func closeGently(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		if _, err := nc.Read(*bp); err != nil {
			return
		}
	}
}
