package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// proxy forwards requests unchanged to one daemon and streams both bodies,
// over an upstream pool used synchronously (see upstream.go).
type proxy struct {
	name string
	host string // host:port of the daemon
	up   *upstream
	log  *slog.Logger

	// headBound is how long the daemon may take to begin its answer once
	// it has the whole request; 0 = no bound (see headBound).
	headBound time.Duration
	// quietBound is the same wait for a daemon without a request_timeout
	// (headBound 0), for the requests boundFor names; 0 = none.
	quietBound time.Duration
	// workBounded: the daemon's work after it has the whole request is
	// bounded whatever the request (storaged, observerd), so quietBound
	// applies to requests with a body too (see boundFor).
	workBounded bool

	// maxFwd is the largest head the daemon reads: its max_header_bytes
	// plus net/http's slack (headbound.go); 0 = no check (tests).
	maxFwd int

	stats proxyStats // lakehouse_gateway_upstream_requests_total
}

// headBound is the wait for an answer's head allowed to a daemon whose
// own [<daemon>].request_timeout is rt: that deadline plus a grace of a
// quarter of it, at least headGrace (the daemon's 504 of its own, a query
// being interrupted). A daemon that has not begun its answer by then broke
// its own bound — it is hung — and the client gets 504 timeout instead of
// waiting for ever. rt = 0 (storaged, ingestd, observerd: long uploads,
// ingests and event streams) means no bound here; boundFor then gives
// quietBound to the requests whose answer is never long in coming. Only
// the head is bounded: a long stream or download after it is never cut.
// (ADR-096, ADR-109.)
func headBound(rt time.Duration) time.Duration {
	if rt <= 0 {
		return 0
	}
	return rt + max(rt/4, headGrace)
}

// headGrace is the least time added to a daemon's request_timeout.
var headGrace = 10 * time.Second

// quietHeadBound is the wait for an answer's head from a daemon without a
// request_timeout, for the requests boundFor names: nginx's default
// proxy_read_timeout (60 s without a byte from upstream is a 504). A
// constant: DESIGN.md names no [gateway] key for it. (ADR-109.)
var quietHeadBound = 60 * time.Second

// partialHeadBound is how long the rest of an answer's head may take once
// its first byte came, for a request with no other bound (an ingest): a
// daemon writes its head at once, so a head begun and not finished is a
// daemon that broke mid-write or hung. (ADR-109.)
var partialHeadBound = 10 * time.Second

// sendStallBound is the least time a write of the request to a daemon may
// move nothing before the request ends (nginx's proxy_send_timeout, 60 s);
// a daemon with a headBound above it gets that instead (it may take that
// long before it reads on). (ADR-109.)
var sendStallBound = 60 * time.Second

// stallAnswerWait is how long a daemon that stopped taking the request's
// body is given to show an early answer (a 413) before the client gets
// 504: one it sent is already in the socket.
var stallAnswerWait = time.Second

// workBoundedDaemons are the daemons without a request_timeout whose work
// after the whole request is bounded: storaged's fsync and rename, or S3
// calls each limited by [s3] header_timeout and stall_timeout (ADR-011);
// observerd's append of an event. Not ingestd: a conversion or a
// compaction takes minutes with nothing to send before its answer.
var workBoundedDaemons = map[string]bool{"storaged": true, "observerd": true}

// boundFor is the limit on the wait for the head of the answer to a
// request of method, with a body when body (a Content-Length above 0 or
// chunked): the daemon's headBound when it has one; else, for a
// daemon without a request_timeout, quietHeadBound for a GET, HEAD,
// DELETE or OPTIONS without a body (what they ask is never long work; an
// event stream answers its head at once), and for any request to a daemon
// whose work is bounded (workBounded), counted from the end of the body.
// 0: no bound (an ingest's conversion, a compaction: POST /v1/ingest...).
func (p *proxy) boundFor(method string, body bool) (time.Duration, lateWhy) {
	if p.headBound > 0 {
		return p.headBound, lateOwnBound
	}
	if p.quietBound > 0 && (p.workBounded || (!body && quickMethod(method))) {
		return p.quietBound, lateQuiet
	}
	return 0, lateNone
}

// quickMethod: GET, HEAD, DELETE and OPTIONS, whose answer a daemon without
// a request_timeout begins without long work.
func quickMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodDelete || m == http.MethodOptions
}

// lateWhy says which bound stopped a request whose daemon did not answer.
type lateWhy uint8

const (
	lateNone     lateWhy = iota
	lateOwnBound         // headBound: its request_timeout and a grace
	lateQuiet            // quietHeadBound
	latePartial          // partialHeadBound: the head began and stopped
	lateStalled          // the daemon stopped taking the request's body
)

// lateError is a request stopped by one of the bounds above.
type lateError struct {
	why   lateWhy
	bound time.Duration
}

func (e *lateError) Error() string {
	return "no answer within " + e.bound.String()
}

// errHeadLate is the answer when a daemon did not answer within the bound
// why of d.
func errHeadLate(p *proxy, why lateWhy, d time.Duration) error {
	switch why {
	case lateQuiet:
		return errs.Errorf("gateway", errs.Timeout, "daemon %s did not begin its answer within %s", p.name, d)
	case latePartial:
		return errs.Errorf("gateway", errs.Timeout, "daemon %s began its answer but did not finish its head within %s", p.name, d)
	case lateStalled:
		return errs.Errorf("gateway", errs.Timeout, "daemon %s stopped taking the request body: nothing was taken for %s", p.name, d)
	}
	return errs.Errorf("gateway", errs.Timeout, "daemon %s did not begin its answer within %s (its request_timeout and a grace)", p.name, d)
}

// newProxy proxies to the daemon at base. maxAge, when > 0, is how long an
// idle upstream connection may wait in the pool (below the daemon's own
// idle timeout, so the gateway never sends a request on a connection the
// daemon is closing).
func newProxy(name, base string, maxIdle int, maxAge time.Duration, log *slog.Logger) (*proxy, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, errs.Errorf("gateway", errs.Invalid, "daemon %s: bad url %q", name, base)
	}
	up := newUpstream(u.Host, maxIdle, maxAge)
	up.log, up.name = log, name
	up.sendStall = sendStallBound
	return &proxy{name: name, host: u.Host, up: up, log: log}, nil
}

// responseHopHeaders are not copied back to the client.
var responseHopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// errTimedOut is the answer when [gateway].request_timeout ends a request
// before its daemon answered (was an empty 200, net/http's default).
func errTimedOut(p *proxy) error {
	return errs.Errorf("gateway", errs.Timeout, "daemon %s did not answer within the gateway's request_timeout", p.name)
}

// errBodyTimedOut is the answer when request_timeout ends a request whose
// client had not sent all of its body (it waited for the rest forever).
var errBodyTimedOut = errs.E("gateway", errs.Timeout, "reading the request body: it did not arrive within the gateway's request_timeout")

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	xff, _, _ := net.SplitHostPort(r.RemoteAddr)
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + xff
	}
	if _, ok := ctx.Deadline(); ok && r.Body != nil && r.Body != http.NoBody {
		// request_timeout ends the read of a body the client stopped
		// sending mid-way, too: the handler waited for it forever.
		rc := http.NewResponseController(w)
		stop := context.AfterFunc(ctx, func() {
			if ctx.Err() == context.DeadlineExceeded {
				rc.SetReadDeadline(shared.PastDeadline)
			}
		})
		defer stop()
	}
	if p.maxFwd > 0 && fwdHeadLen(r, p.up.addr, xff) > p.maxFwd {
		p.headTooLarge(w)
		return
	}
	bound, why := p.boundFor(r.Method, r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody)
	resp, _, err := p.up.roundTrip(ctx, r, xff, bound, why)
	if err != nil {
		p.noAnswer(w, r, err)
		return
	}
	defer resp.Body.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	// The body's first bytes before the head: an answer whose body breaks
	// before any of it came (the daemon closed or reset after its head, a
	// bad first chunk, the request timeout) is the error answer of a
	// daemon that failed before its head — net/http sends nothing before
	// the first body bytes are written and flushed either way, so the
	// client waits no longer for the head. It was the head, then a cut.
	// Not for an event stream: its head goes to the client at once (an
	// EventSource is open, curl -N shows the head, before the first
	// event, which may be minutes away); a stream that breaks before its
	// first event is a cut, as nginx relays it.
	sse := isEventStream(resp.Header.Get("Content-Type"))
	var first int
	var firstErr error
	if !sse && r.Method != http.MethodHead && resp.Body != http.NoBody {
		for first == 0 && firstErr == nil {
			first, firstErr = resp.Body.Read(*bp)
		}
		if first == 0 && firstErr != io.EOF {
			p.noAnswer(w, r, firstErr)
			return
		}
	}
	h := w.Header()
	reqID := h.Get(errs.RequestIDHeader)
	var connTokens []string
	if v := resp.Header["Connection"]; len(v) > 0 {
		connTokens = connectionTokens(v)
	}
	for k, v := range resp.Header {
		if !contains(connTokens, k) {
			h[k] = v
		}
	}
	for _, k := range responseHopHeaders {
		delete(h, k)
	}
	if ambiguousFraming(r) || earlyAnswer(resp) {
		// closeAfterAmbiguousFraming's, deleted above; or the daemon
		// refused an Expect: 100-continue body the client may still send
		// (net/http's server closes then too): the close lingers (ADR-139).
		h.Set("Connection", "close")
	}
	if reqID != "" {
		h.Set(errs.RequestIDHeader, reqID)
	}
	// Trailers the daemon announced go on after the body (queryd's
	// X-Row-Count and X-Truncated), as on the fast path.
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		p.stats.count(relayedOutcome(resp.StatusCode))
		return
	}
	if sse {
		http.NewResponseController(w).Flush()
	}
	stream := resp.ContentLength < 0 || sse
	err = copyBody(w, resp.Body, *bp, first, firstErr, stream)
	if err == nil && !stream {
		// The answer's tail out now, not in net/http's finish after the
		// handler: a send stall that cuts it is then this request's. The
		// daemon's connection is pooled first, as before: a client's next
		// request, sent once it has this answer, finds it there.
		resp.Body.Close()
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		if cc, ok := ctx.Value(clConnKey{}).(*clConn); ok && cc.takeCut() {
			// The client took no byte for the send stall: the status
			// stays what was sent, the access line says why it was cut.
			shared.AnswerCut(w, cc.send.stall)
			p.stats.count(outClientStalled)
		} else if shared.IsCut(w) {
			// [gateway].write_timeout stopped the write (the harness's
			// writer marked it).
			p.stats.count(outClientStalled)
		} else {
			p.stats.count(relayedOutcome(resp.StatusCode))
		}
		if !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			p.log.Warn("response copy broke", "op", "proxy", "daemon", p.name, "req_id", shared.RequestID(ctx), "err", err.Error())
		}
		abortAnswer(w)
		return
	}
	p.stats.count(relayedOutcome(resp.StatusCode))
	for k, v := range resp.Trailer {
		h[k] = v
	}
}

// noAnswer answers a request that got no usable answer from its daemon,
// before anything was written to the client.
func (p *proxy) noAnswer(w http.ResponseWriter, r *http.Request, err error) {
	p.answerOwn(w, r, p.noAnswerError(r, err))
}

// answerOwn writes the gateway's own answer err to a forwarded request and
// counts its outcome.
func (p *proxy) answerOwn(w http.ResponseWriter, r *http.Request, err error) {
	p.stats.count(ownOutcome(errs.StatusOf(err)))
	writeError(w, r, err)
}

// noAnswerError is the answer to a request that got no usable answer
// from its daemon (failed with err).
func (p *proxy) noAnswerError(r *http.Request, err error) error {
	ctx := r.Context()
	// Always answer: returning without a write makes net/http send an
	// empty 200. A client that half-closed after a short body still
	// reads the 400; one that is gone never sees what is written.
	var be *bodyError
	if errors.As(err, &be) {
		if ctx.Err() == context.DeadlineExceeded {
			return errBodyTimedOut
		}
		if errs.StatusOf(be.err) == http.StatusRequestTimeout {
			// The client stopped sending its body (the harness's
			// shared.ClientBodyTimeout, ADR-110): its 408 as it is.
			return be.err
		}
		return errs.E("gateway", be.kind(), "reading the request body: "+be.err.Error())
	}
	var le *lateError
	if errors.As(err, &le) {
		p.log.Warn("upstream failed", "op", "proxy", "daemon", p.name, "req_id", shared.RequestID(ctx), "err", err.Error())
		return errHeadLate(p, le.why, le.bound)
	}
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return errTimedOut(p)
	case context.Canceled:
		return errs.E("gateway", errs.Invalid, errs.StatusClientClosed, "the client closed the connection before the answer")
	}
	p.log.Warn("upstream failed", "op", "proxy", "daemon", p.name, "req_id", shared.RequestID(ctx), "err", err.Error())
	return errs.E("gateway", errs.Unavailable, errs.StatusBadGateway, "daemon "+p.name+" is unreachable at "+p.host)
}

// abortAnswer ends the client's connection in the middle of an answer
// whose copy broke, so the client sees it cut short. Returning normally
// let net/http finish it: a chunked answer got its last chunk, and a
// daemon that died mid-stream (queryd's ndjson rows) looked like a
// complete, shorter answer. Hijacking rather than panicking
// (http.ErrAbortHandler, as httputil.ReverseProxy does) keeps the chain's
// after-steps — metrics, access line — running.
func abortAnswer(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// copyBody copies src to w, after the first bytes already read into buf
// (and the error that read returned);
// when stream is set it flushes after every read so SSE events and
// chunked answers reach the client as they are produced.
// isEventStream: a Content-Type of text/event-stream (any case, any
// parameters).
func isEventStream(ct string) bool {
	return len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream")
}

func copyBody(w http.ResponseWriter, src io.Reader, buf []byte, first int, firstErr error, stream bool) error {
	var flusher http.Flusher
	if stream {
		flusher, _ = w.(http.Flusher)
	}
	for {
		n, rerr := first, firstErr
		if first > 0 {
			first, firstErr = 0, nil
		} else {
			n, rerr = src.Read(buf)
		}
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// setBounds sets p's limits on a silent daemon from its request_timeout
// rt (ADR-096, ADR-109).
func (p *proxy) setBounds(rt time.Duration) {
	p.headBound = headBound(rt)
	if p.headBound == 0 {
		p.quietBound = quietHeadBound
		p.workBounded = workBoundedDaemons[p.name]
	}
	p.up.sendStall = max(sendStallBound, p.headBound)
}

// chatPrefix is where chatd's clients (OpenAI's and Ollama's libraries)
// read errors in their own shapes (ADR-125).
const chatPrefix = "/v1/chat/"

// chatErrorWriter is the gateway's shared.Daemon.ErrorWriter: the errors
// the harness answers itself on chatd's routes (the gateway's 401, 403,
// 413, 404/405, 500) in the shapes chatd answers there — a client of the
// suite talks to the gateway, so chatd's shapes alone left openai-node's
// err.code undefined on a bad token and ollama-js showing "[object
// Object]" (ADR-125).
func chatErrorWriter(w http.ResponseWriter, r *http.Request, err error) bool {
	return strings.HasPrefix(r.URL.Path, chatPrefix) && chat.ErrorWriter(w, r, err)
}

// writeError answers err, the gateway's own error for r (its 502, 504,
// 408, 400 on the proxy path), in DESIGN.md's body — or, on chatd's
// routes, in the shape chatd's clients read there.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if !chatErrorWriter(w, r, err) {
		errs.WriteHTTP(w, r, nil, err)
	}
}
