package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// upstream is a keep-alive pool of HTTP/1.1 connections to one daemon,
// used synchronously by the handler goroutine: the request is written and
// the response read on the caller's goroutine, with no per-connection
// reader/writer goroutines to hand off to (which is where most of
// net/http.Transport's proxying overhead goes). See ADR-008.
type upstream struct {
	addr    string
	maxIdle int
	maxAge  int64 // ns an idle connection may stay pooled (0 = no limit)
	dialer  net.Dialer
	log     *slog.Logger // nil: no log line for an answer out of step
	name    string       // the daemon's, for that line
	// sendStall: a write of a request body that moves nothing this long
	// ends the request (the daemon stopped reading it); 0 none.
	sendStall time.Duration

	mu   sync.Mutex
	idle []*upConn // LIFO: the warmest connection first

	stats upStats // lakehouse_gateway_upstream_{dials,dial_errors,reuses}_total
}

type upConn struct {
	c  net.Conn
	rr *rawReader // under br: flushes bw inside the wait for the answer
	br *bufio.Reader
	bw *bufio.Writer
	sw *stallWriter // under bw: the socket, with a limit on a stalled write

	flush func() error // bw.Flush, bound once
	since int64        // monoNs when it was pooled

	// alive's peek: its callback (bound once) and state
	peekFn  func(uintptr) bool
	peekBuf [1]byte
	peekOK  bool
}

// poison stops every read and write on the connection now, for good (the
// client left, a bound ran out): a body write's stall limit never moves
// the deadline back.
func (c *upConn) poison() {
	c.sw.poisoned.Store(true)
	c.c.SetDeadline(shared.PastDeadline)
}

// stallWriter writes to the daemon's socket. While a request body is
// written (arm), each write moves the socket's write deadline to limit
// from now — at most once a second, a runtime timer update each — so a
// daemon that stops reading the body (its socket buffer full) ends the
// write after 7/8 of limit to limit without progress (limits under 8 s
// move it every eighth), instead of holding the client and the gateway
// for ever; a slow daemon that keeps reading is never cut.
// Off, a write costs one compare (a body-less request's flush).
type stallWriter struct {
	w        io.Writer // the socket (rawWriter)
	nc       net.Conn
	limit    time.Duration     // 0: off
	pace     shared.StallPacer // paces the write deadline's moves
	poisoned atomic.Bool
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if s.limit > 0 {
		now := time.Now()
		if s.pace.Due(now, s.limit) {
			s.nc.SetWriteDeadline(now.Add(s.limit))
			if s.poisoned.Load() {
				s.nc.SetWriteDeadline(shared.PastDeadline)
			}
		}
	}
	return s.w.Write(p)
}

// arm starts the stall limit for a request body's writes.
func (s *stallWriter) arm(limit time.Duration) { s.limit = limit }

// disarm ends it and clears the deadline it set (unless poisoned).
func (s *stallWriter) disarm() {
	s.limit = 0
	if s.pace.Moved() {
		s.pace.Reset()
		s.nc.SetWriteDeadline(time.Time{})
		if s.poisoned.Load() {
			s.nc.SetWriteDeadline(shared.PastDeadline)
		}
	}
}

// stalled reports whether err, from writing a request to c, is the stall
// limit running out (not a poisoned connection).
func (c *upConn) stalled(err error) bool {
	return err != nil && c.sw.limit > 0 && !c.sw.poisoned.Load() && errors.Is(err, os.ErrDeadlineExceeded)
}

// flushOnRead leaves the request in bw for the answer's first read to
// send (rawReader): the wait for the answer then needs no empty read.
// Only for a request that is whole in bw — a daemon cannot answer before
// it has the request, so nothing can arrive before the flush.
func (c *upConn) flushOnRead() { c.rr.pre = c.flush }

func newUpstream(addr string, maxIdle int, maxAge time.Duration) *upstream {
	return &upstream{addr: addr, maxIdle: maxIdle, maxAge: int64(maxAge), dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
}

// get takes the warmest pooled connection, or dials. A connection pooled
// longer than maxAge may be closing at the daemon's end (its idle timeout):
// a request with a body sent on it cannot be retried, so it and every
// older one below it in the stack are closed instead (a POST after two
// idle minutes was a 502).
// now is the caller's monotonic clock reading (monoNs); a request's
// start will do — a clock read per call cost as much as the pool itself.
func (u *upstream) get(ctx context.Context, now int64) (*upConn, bool, error) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		c := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		if u.maxAge == 0 || now-c.since < u.maxAge {
			u.mu.Unlock()
			return c, true, nil
		}
		stale := append(u.idle, c)
		u.idle = nil
		u.mu.Unlock()
		for _, s := range stale {
			s.c.Close()
		}
	} else {
		u.mu.Unlock()
	}
	c, err := u.dial(ctx)
	return c, false, err
}

// getFor is get for a request that may not be sent twice (once): one
// with a body (it cannot be sent again once its body was read from the
// client) or whose method is not safe to repeat (replayable). A pooled
// connection is first checked for a close from the daemon's side (a
// restarted daemon closed every connection of the pool: after a restart
// every upload failed with a 502 until the pool had drained) and for
// bytes nobody asked for (see idlePeek).
//
// A replayable request skips the check on a connection pooled for less
// than idlePeek: that is every request of a busy gateway, and the check is
// a system call. Such a request is retried instead when its connection
// yields no answer, a malformed one, or one followed by more bytes than
// it frames (forward, roundTrip; outOfStep).
func (u *upstream) getFor(ctx context.Context, once bool, now int64) (*upConn, bool, error) {
	for {
		c, reused, err := u.get(ctx, now)
		if err != nil || !reused || (!once && now-c.since < int64(idlePeek)) || c.alive() {
			return c, reused, err
		}
		c.c.Close()
	}
}

// take is getFor for a request's first attempt and a fresh connection
// for its retry: the retry follows a reused connection that failed, and
// another pooled one may fail the same way.
func (u *upstream) take(ctx context.Context, attempt int, once bool, now int64) (*upConn, bool, error) {
	if attempt == 0 {
		c, reused, err := u.getFor(ctx, once, now)
		if reused {
			u.stats.reuses.Add(1)
		}
		return c, reused, err
	}
	c, err := u.dial(ctx)
	return c, false, err
}

// idlePeek: a pooled connection idle this long is peeked before any
// request is sent on it. A daemon that writes after its answer is
// complete (a second answer, garbage) leaves those bytes on the pooled
// connection, where the next request read them as its own answer: another
// client's forged answer, or a 502 for a GET that a fresh connection would
// have answered. net/http's Transport notices them with its per-connection
// reader goroutine and nginx with its event loop; here a non-blocking peek
// finds them, and a connection reused sooner than this (a busy gateway: no
// system call added per request) is checked on its answer instead.
var idlePeek = time.Millisecond

// errOutOfStep: an answer on a connection that had served a request
// before came with more bytes behind it than its framing holds — the answer
// read may be bytes the daemon sent after its previous answer, and this
// request's answer what follows.
var errOutOfStep = errors.New("the daemon's answer on a reused connection was followed by more bytes (left from an earlier answer?)")

// outOfStep reports, for an answer just read on a reused connection, that
// br already holds bytes past its body of n bytes (-1: not known from the
// head) — for a request that may not be sent twice (!replay), only when
// they are the start of another answer ("HTTP/1."). A request sent on a
// connection holding stray bytes gets its answer as the stray's successor
// in the same read: the wait for the answer wakes only on new bytes
// (rawReader), so the stray and the start of the real answer come
// together, and the real answer is what is left over. A replayable
// request is then sent again on a fresh connection; another is answered
// 502 (it was peeked before it was sent, getFor, so this is a stray that
// raced it). Costs a length compare when nothing is left over.
func outOfStep(br *bufio.Reader, n int64, replay bool) bool {
	b := br.Buffered()
	if n < 0 || int64(b) <= n {
		return false
	}
	if replay {
		return true
	}
	rest, _ := br.Peek(b)
	rest = rest[n:]
	if len(rest) > len(statusPrefix) {
		rest = rest[:len(statusPrefix)]
	}
	return string(rest) == statusPrefix[:len(rest)]
}

const statusPrefix = "HTTP/1."

// alive reports whether a pooled connection is still open at the daemon's
// end and has nothing unread: a non-blocking peek answers "would block".
//
// The peek is recvfrom(2) with MSG_DONTWAIT through syscall.RawSyscall6, as
// the proxied path's reads and writes are (ADR-071): it cannot sleep, so
// the runtime's syscall bookkeeping is not needed. With it (Syscall6) the
// runtime's monitor thread kept waking to hand the goroutine's P to another
// thread while the peek ran — on a busy gateway a fifth to a third of the
// requests peek (connections deeper in the LIFO pool idle over idlePeek),
// and that cost thread wake-ups and context switches on every one (ADR-144).
// The callback is bound once per connection: no allocation per peek.
func (c *upConn) alive() bool {
	rc := c.rr.rc
	if rc == nil {
		return true
	}
	if c.peekFn == nil {
		c.peekFn = c.peekStep
	}
	c.peekOK = false
	rc.Read(c.peekFn)
	return c.peekOK
}

// peekStep is alive's RawConn callback: a one-byte non-blocking peek.
func (c *upConn) peekStep(fd uintptr) bool {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.peekOK = errno == syscall.EAGAIN
	return true
}

// dropIdle closes every pooled connection: called when a reused one turned
// out closed by the daemon, which then has most likely closed them all
// (a restart); the retry and the requests after it dial afresh.
func (u *upstream) dropIdle() { u.closeIdle() }

func (u *upstream) dial(ctx context.Context) (*upConn, error) {
	nc, err := u.dialer.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		u.stats.dialErrs.Add(1)
		return nil, err
	}
	u.stats.dials.Add(1)
	rr := newRawReader(nc)
	sw := &stallWriter{w: newRawWriter(nc), nc: nc}
	c := &upConn{c: nc, rr: rr, br: bufio.NewReaderSize(rr, 16<<10), bw: bufio.NewWriterSize(sw, 16<<10), sw: sw}
	c.flush = c.bw.Flush
	return c, nil
}

// put pools c; now (monoNs) is when it went idle, or earlier: an earlier
// stamp only retires it sooner.
func (u *upstream) put(c *upConn, now int64) {
	c.since = now
	u.mu.Lock()
	if len(u.idle) < u.maxIdle {
		u.idle = append(u.idle, c)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	c.c.Close()
}

func (u *upstream) closeIdle() {
	u.mu.Lock()
	idle := u.idle
	u.idle = nil
	u.mu.Unlock()
	for _, c := range idle {
		c.c.Close()
	}
}

// skipHeader reports headers not forwarded upstream: hop-by-hop ones
// (RFC 9110 7.6.1), Expect (writeRequest forwards a 100-continue itself),
// and those written separately (Host, Content-Length).
func skipHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Expect", "Host", "Content-Length", "X-Forwarded-For", internalHeader:
		return true
	}
	return false
}

// internalHeader is storaged's X-Lakehouse-Redirect: a same-host client
// offers to read S3 itself through a presigned URL (ADR-015). The
// gateway's clients are not on storaged's host: the URL would name a
// loopback S3 endpoint and storaged's access key id, so the offer is never
// forwarded from them.
const internalHeader = "X-Lakehouse-Redirect"

// expectsContinue reports a request with a body sent with Expect:
// 100-continue (net/http's server answers any other Expect 417 itself).
func expectsContinue(r *http.Request) bool {
	v := r.Header["Expect"]
	return len(v) == 1 && r.ProtoAtLeast(1, 1) && strings.EqualFold(trimSpace(v[0]), "100-continue")
}

// writeRequest writes r's line, headers and body to c. xff is the
// X-Forwarded-For value to send. A request with a body and Expect:
// 100-continue (expect) goes with that field, and its body only after the
// daemon's 100 Continue (awaitContinue: net/http's server sends the client
// its 100 as the body is first read); a final answer instead is returned
// as early, the body not sent.
func writeRequest(c *upConn, r *http.Request, host, xff string, stall time.Duration, expect *continueWait) (early *http.Response, err error) {
	bw := c.bw
	uri := r.URL.RequestURI()
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	var connTokens []string
	if v := r.Header["Connection"]; len(v) > 0 {
		connTokens = connectionTokens(v)
	}
	for k, vv := range r.Header {
		if skipHeader(k) || contains(connTokens, k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if xff != "" {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(xff)
		bw.WriteString("\r\n")
	}
	switch {
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n")
		if early, err := expect.endHead(c, r); early != nil || err != nil {
			return early, err
		}
		c.sw.arm(stall)
		src := &trackReader{r: r.Body, c: c, next: earlyCheckEvery}
		n, err := io.Copy(bw, src)
		if src.err != nil {
			return nil, &bodyError{src.err}
		}
		if err != nil {
			return nil, err
		}
		if n != r.ContentLength {
			return nil, &bodyError{fmt.Errorf("request body: %d of %d bytes", n, r.ContentLength)}
		}
	case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if early, err := expect.endHead(c, r); early != nil || err != nil {
			return early, err
		}
		c.sw.arm(stall)
		cw := httputil.NewChunkedWriter(bw)
		src := &trackReader{r: r.Body, c: c, next: earlyCheckEvery}
		if _, err := io.Copy(cw, src); err != nil {
			if src.err != nil {
				return nil, &bodyError{src.err}
			}
			return nil, err
		}
		cw.Close()
		bw.WriteString("\r\n")
	default:
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
		bw.WriteString("\r\n")
		c.flushOnRead() // sent by the answer's first read
		return nil, nil
	}
	return nil, bw.Flush()
}

// continueWait is the wait for a daemon's first answer to a request sent
// with Expect: 100-continue: roundTrip's bound, or quietHeadBound for a
// daemon that has none.
type continueWait struct{ bound time.Duration }

// continueFailed wraps a failure while waiting for the daemon's 100
// Continue: the daemon has seen the request; it is not sent again.
type continueFailed struct{ err error }

func (e *continueFailed) Error() string { return e.err.Error() }
func (e *continueFailed) Unwrap() error { return e.err }

// endHead ends the head of a request with a body: at once when w is nil
// (no Expect), else as await does.
func (w *continueWait) endHead(c *upConn, r *http.Request) (*http.Response, error) {
	if w != nil {
		return w.await(c, r)
	}
	c.bw.WriteString("\r\n")
	return nil, nil
}

// await ends the request's head with Expect: 100-continue, sends it and
// reads the daemon's first answer head, as a transparent proxy does (RFC
// 9110 10.1.1): nil, nil on a 100 Continue (the body follows; reading it
// makes net/http's server send the client its own 100, so the client sees
// exactly one); the final answer when the daemon refused the body (413
// over max_body_bytes, 401, 404...). The gateway's server used to answer
// 100 itself and the whole body went to the daemon before its 413 was
// read — 256 MiB through ADR-139's drain. Other interim answers (103) are
// skipped, as readFinalResponse skips them. A daemon that sends nothing
// within the wait gets the body as a client's own wait would send it.
func (w *continueWait) await(c *upConn, r *http.Request) (*http.Response, error) {
	c.bw.WriteString("Expect: 100-continue\r\n\r\n")
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	began, err := c.awaitFirst(w.bound)
	if err != nil {
		return nil, &continueFailed{err}
	}
	if !began {
		return nil, nil
	}
	resp, err := readFirstResponse(c, r)
	c.endWait()
	if err != nil {
		return nil, &continueFailed{err}
	}
	if resp.StatusCode == http.StatusContinue {
		return nil, nil
	}
	return resp, nil
}

// awaitFirst waits up to d for the first byte of the daemon's answer to a
// head sent with Expect: 100-continue. False: none came (the daemon
// ignores Expect; the body goes as a client's would, RFC 9110 10.1.1),
// the read deadline cleared. True: the head began, its rest due within
// the same deadline, which endWait clears. Only such requests pay for the
// deadline (a runtime timer).
func (c *upConn) awaitFirst(d time.Duration) (began bool, err error) {
	c.c.SetReadDeadline(time.Now().Add(d))
	if _, err = c.br.Peek(1); err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.sw.poisoned.Load() {
		c.endWait()
		return false, nil
	}
	return false, err
}

// endWait clears awaitFirst's read deadline, unless the connection was
// poisoned meanwhile (the client left, the request's time ran out).
func (c *upConn) endWait() {
	c.c.SetReadDeadline(time.Time{})
	if c.sw.poisoned.Load() {
		c.c.SetDeadline(shared.PastDeadline)
	}
}

// earlyCheckEvery is how many bytes of a request body go to a daemon
// between two looks for an early answer (answering): a daemon that answers
// before the body's end (413 over max_body_bytes after the head of a
// request without Expect) keeps reading for ADR-139's lingering drain (up
// to 256 MiB or 2 s), and the gateway saw its answer only once the body
// ended or the drain did; now the upload stops within this many bytes and
// the answer is relayed, as nginx does with proxy_request_buffering off.
// A body below it pays nothing; a bigger one one non-blocking peek per
// this many bytes.
const earlyCheckEvery int64 = 1 << 20

// errAnsweredEarly: the daemon began its answer (or closed) before the
// request's body was all sent; the rest is not sent.
var errAnsweredEarly = errors.New("the daemon answered before the request body's end")

// answering reports that the daemon's side has bytes to read (the start of
// an early answer) or closed: a non-blocking peek (alive).
func (c *upConn) answering() bool {
	return c.br.Buffered() > 0 || !c.alive()
}

// trackReader remembers a read error so that a failed copy can be blamed
// on the right side: the client's body, or the daemon's socket. With c, it
// looks for c's daemon's early answer every earlyCheckEvery bytes
// (errAnsweredEarly, not the body's error).
type trackReader struct {
	r    io.Reader
	err  error
	c    *upConn
	n    int64
	next int64
}

func (t *trackReader) Read(p []byte) (int, error) {
	if t.c != nil && t.n >= t.next {
		t.next = t.n + earlyCheckEvery
		if t.c.answering() {
			return 0, errAnsweredEarly
		}
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// bodyError is a failure reading the client's request body (not the upstream's fault).
type bodyError struct{ err error }

// kind is the error kind to answer: the cause's own (too_large from the
// body limit, timeout for a stalled body), else invalid — a body that ends
// before its Content-Length, breaks mid-chunk or whose connection fails is
// the request's fault, not the gateway's (it was a 500).
func (e *bodyError) kind() errs.Kind {
	if k := errs.KindOf(e.err); k != errs.Internal {
		return k
	}
	return errs.Invalid
}

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func connectionTokens(vals []string) []string {
	var out []string
	for _, v := range vals {
		start := 0
		for i := 0; i <= len(v); i++ {
			if i == len(v) || v[i] == ',' {
				t := trimSpace(v[start:i])
				if t != "" {
					out = append(out, http.CanonicalHeaderKey(t))
				}
				start = i + 1
			}
		}
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func contains(list []string, k string) bool {
	for _, s := range list {
		if s == k {
			return true
		}
	}
	return false
}

// replayable reports a method whose request (without a body) may be sent
// again when a reused connection closed before any byte of its answer:
// the daemon may have run it before it closed, so only methods that
// change nothing qualify (net/http's Transport retries the same ones). A
// DELETE or a bodiless POST was sent again and ran twice.
func replayable(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// roundTrip sends r upstream and returns the response and the connection
// it came on (the caller returns it with release once the body is read).
// A replayable request that fails on a reused connection before any byte
// of an answer (the daemon closed an idle connection) is retried once on a
// fresh one.
//
// bound > 0 limits the wait for the answer's head once the request is
// sent (proxy.boundFor; why says which bound it is): past it the read is
// stopped and the error is a *lateError, never retried. With no bound,
// the rest of a head whose first byte came is bounded by partialHeadBound;
// a body write that moves nothing for u.sendStall leaves the daemon
// stallAnswerWait to show an early answer. (ADR-096, ADR-109.)
func (u *upstream) roundTrip(ctx context.Context, r *http.Request, xff string, bound time.Duration, why lateWhy) (*http.Response, *upConn, error) {
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	replay := !hasBody && replayable(r.Method)
	var expect *continueWait
	if hasBody && expectsContinue(r) {
		expect = &continueWait{bound}
		if bound <= 0 {
			expect.bound = quietHeadBound
		}
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := u.take(ctx, attempt, !replay, monoNs(time.Now()))
		if err != nil {
			return nil, nil, err
		}
		stop := context.AfterFunc(ctx, c.poison)
		early, werr := writeRequest(c, r, u.addr, xff, u.sendStall, expect)
		stalled := c.stalled(werr)
		c.sw.disarm()
		var resp *http.Response
		var rerr error
		got := false // the daemon sent something: it has seen the request
		var cf *continueFailed
		switch {
		case early != nil:
			// The daemon's final answer to Expect: 100-continue: the body
			// was never sent, so the connection is not kept (the daemon may
			// still wait for it; Go's server closes it anyway).
			resp, got = early, true
			resp.Close = true
		case errors.As(werr, &cf):
			got = true
			rerr, werr = cf.err, nil
		case werr == nil || !errors.As(werr, new(*bodyError)):
			var late *time.Timer
			var lateErr *lateError
			switch {
			case bound > 0 && werr == nil:
				lateErr = &lateError{why, bound}
				late = time.AfterFunc(bound, c.poison)
			case werr == errAnsweredEarly:
				// The answer began: its head comes at once.
				lateErr = &lateError{latePartial, partialHeadBound}
				late = time.AfterFunc(partialHeadBound, c.poison)
			case stalled:
				lateErr = &lateError{lateStalled, u.sendStall}
				late = time.AfterFunc(stallAnswerWait, c.poison)
			}
			// Even when writing failed, the daemon may have answered early (413).
			if _, rerr = c.br.Peek(1); rerr == nil {
				got = true
				if late == nil && werr == nil {
					// The head began: its rest comes at once or not at all.
					lateErr = &lateError{latePartial, partialHeadBound}
					late = time.AfterFunc(partialHeadBound, c.poison)
				}
				resp, rerr = readFinalResponse(c, r)
			}
			if late != nil && !late.Stop() {
				// The bound ran out: the socket's deadline is spent, whatever
				// was read.
				resp, rerr = nil, lateErr
			}
		}
		if rerr == nil && resp != nil && reused && outOfStep(c.br, bodyInBuffer(resp), replay) {
			resp, rerr = nil, errOutOfStep
		}
		if rerr == nil && resp != nil {
			if werr != nil {
				resp.Close = true
			}
			resp.Body = &upBody{ReadCloser: resp.Body, u: u, c: c, stop: stop, reuse: !resp.Close && !r.Close, eof: resp.Body == http.NoBody, early: early != nil}
			return resp, c, nil
		}
		stop()
		c.c.Close()
		err = werr
		if err == nil || errors.As(rerr, new(*lateError)) {
			err = rerr
		}
		// Only a connection that yielded nothing was stale: one that
		// answered badly carried the request to the daemon, and sending it
		// again ran it twice — unless running it twice is safe: what a
		// reused connection yielded may have been bytes the daemon sent
		// after its previous answer (a 502 for a GET a fresh connection
		// answers).
		if reused && ctx.Err() == nil && !errors.As(err, new(*bodyError)) && !errors.As(err, new(*lateError)) {
			if !got {
				u.dropIdle()
			}
			if attempt == 0 && replay {
				if got && u.log != nil {
					u.log.Warn("upstream answer out of step, sent again on a fresh connection", "op", "proxy", "daemon", u.name, "req_id", shared.RequestID(ctx), "err", err.Error())
				}
				continue
			}
		}
		return nil, nil, err
	}
}

// maxInterim bounds the 1xx answers skipped before the final one (as
// net/http's Transport does): a daemon cannot keep a request waiting on
// an endless stream of them.
const maxInterim = 8

// readFinalResponse reads the daemon's final answer to r. Interim 1xx
// answers (100 Continue, 103 Early Hints) are read and dropped: each is a
// complete message of its own on the connection, and taking one for the
// answer left the real answer unread on a pooled connection, where the
// next request — another client's — got it (the client of this one got an
// empty 200). A 101 is malformed here: the gateway never forwards Upgrade,
// and what follows a 101 is not HTTP.
//
// Each head is limited to maxHeadBytes, as on the fast path (respHead):
// http.ReadResponse reads a head of any size, and a daemon's 2 MiB header
// was read into memory and relayed. The limit is counted below the
// bufio.Reader, as net/http's Transport counts it (a buffer's worth more
// may be read), and the head's own size is checked after it is parsed.
func readFinalResponse(c *upConn, r *http.Request) (*http.Response, error) {
	return readResponseUntil(c, r, false)
}

// readFirstResponse is readFinalResponse that stops at a 100 Continue.
func readFirstResponse(c *upConn, r *http.Request) (*http.Response, error) {
	return readResponseUntil(c, r, true)
}

func readResponseUntil(c *upConn, r *http.Request, stop100 bool) (*http.Response, error) {
	defer c.rr.unlimit()
	for i := 0; ; i++ {
		had, lim := int64(c.br.Buffered()), maxHeadBytes+int64(c.br.Size())
		c.rr.limit(lim)
		resp, err := http.ReadResponse(c.br, r)
		// The head's own size: what was buffered, plus what was read,
		// minus what is left in the buffer (the body's first bytes).
		if head := had + lim - c.rr.left - int64(c.br.Buffered()); head > maxHeadBytes || (err != nil && c.rr.left <= 0) {
			return nil, errRespHeadTooLarge
		}
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusContinue && stop100:
			return resp, nil
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errBadResponse
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			if i == maxInterim {
				return nil, errBadResponse
			}
			continue
		}
		return resp, nil
	}
}

// bodyInBuffer is how many bytes of resp's body follow its head on the
// connection by its framing, -1 when only its chunks or the close tell.
func bodyInBuffer(resp *http.Response) int64 {
	switch {
	case resp.Body == http.NoBody:
		return 0
	case len(resp.TransferEncoding) > 0 || resp.ContentLength < 0:
		return -1
	}
	return resp.ContentLength
}

// upBody returns the connection to the pool when the body was read to EOF
// and both sides allow keep-alive; otherwise it closes it.
type upBody struct {
	io.ReadCloser
	u     *upstream
	c     *upConn
	stop  func() bool
	reuse bool
	eof   bool
	done  bool
	early bool // the answer to Expect: 100-continue, the body not sent
}

// earlyAnswer reports an answer the daemon gave to Expect: 100-continue
// instead of its 100: the client's body was never asked for.
func earlyAnswer(resp *http.Response) bool {
	b, ok := resp.Body.(*upBody)
	return ok && b.early
}

func (b *upBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *upBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.stop() { // the context fired: the deadline is poisoned
		b.reuse = false
	}
	if b.reuse && b.eof {
		if err := b.ReadCloser.Close(); err != nil {
			b.c.c.Close()
			return err
		}
		if b.c.br.Buffered() > 0 {
			// The daemon sent more than its answer framed (a body on a
			// HEAD, 204 or 304, bytes past Content-Length): the next
			// request on this connection would read them as its answer.
			b.c.c.Close()
			return nil
		}
		b.u.put(b.c, monoNs(time.Now()))
		return nil
	}
	// Close the socket first: closing an unfinished body would otherwise
	// drain the rest of it from the daemon.
	b.c.c.Close()
	return b.ReadCloser.Close()
}
