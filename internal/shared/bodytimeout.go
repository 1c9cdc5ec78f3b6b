package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
)

// ClientBodyTimeout bounds the time between two reads of a request body:
// a client that sent its head and then stops sending its body mid-way
// (slowloris) is answered 408 and its connection closed once nothing of
// the body came for this long, instead of holding a connection, a
// goroutine and the daemon's temp or spool file for ever while
// request_timeout is 0 (storaged, ingestd, observerd, the gateway).
// nginx's client_body_timeout, 60 s. Only silence counts: a body that
// keeps arriving, however slowly and however long in all, is never cut,
// and the time before the handler's first read (a client waiting for its
// 100 Continue, which net/http sends at that read) is not counted. The harness
// applies it to every daemon's net/http server, the gateway's fast path
// to its own reads. DESIGN.md names no key for it: a documented constant,
// a variable only so that tests can shorten it. (ADR-110.)
var ClientBodyTimeout = 60 * time.Second

// ErrBodyStalled is the answer to a request whose client sent nothing of
// its body for d: 408 with kind timeout (the nearest of DESIGN.md's
// kinds; the status says whose the delay was). (ADR-110.)
func ErrBodyStalled(d time.Duration) error {
	return errs.E("request", errs.Timeout, http.StatusRequestTimeout,
		fmt.Sprintf("the request body stalled: nothing of it came for %s", d))
}

// bodyTimeoutMW applies ClientBodyTimeout to a request's body (none to a
// request without one: no cost there). readTimeout is the section's
// read_timeout (net/http's whole-request bound, 0 none), which the moving
// deadline never goes past.
func bodyTimeoutMW(readTimeout time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bound := ClientBodyTimeout
			if r.Body == nil || r.Body == http.NoBody || bound <= 0 {
				next.ServeHTTP(w, r)
				return
			}
			b := &stallBody{rc: r.Body, ctl: http.NewResponseController(w), bound: bound}
			s := sw(w)
			if s != nil {
				s.stall = b
				if readTimeout > 0 {
					b.whole = s.start.Add(readTimeout)
				}
			}
			r.Body = b
			next.ServeHTTP(w, r)
			b.finish(s)
		})
	}
}

// stallBody is a request body whose reads move the connection's read
// deadline to ClientBodyTimeout from now — at most once a second (a
// runtime timer update each), so a read never starts with less than the
// bound less a second ahead of it — and tell a read that timed out there
// (a stall: 408) from one stopped by another bound.
type stallBody struct {
	rc    io.ReadCloser
	ctl   *http.ResponseController
	bound time.Duration
	whole time.Time       // read_timeout's deadline; zero none
	ctx   context.Context // request_timeout's, set by limitsMW; nil none

	pace    StallPacer // paces the read deadline's moves
	dl      time.Time  // the deadline set then
	eof     bool       // the body was read to its end
	stalled atomic.Bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	now := time.Now()
	if b.pace.Due(now, b.bound) {
		b.move(now)
	}
	n, err := b.rc.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		b.release()
	case errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(b.dl) &&
		(b.ctx == nil || b.ctx.Err() != context.DeadlineExceeded) && (b.whole.IsZero() || b.dl.Before(b.whole)):
		// Our deadline ran out, not request_timeout's poison (the
		// gateway's) nor read_timeout's. (net/http cancels the request's
		// context on the failed read itself: a context canceled so is
		// still a stall — it was, for every daemon with a request_timeout,
		// a 400 "i/o timeout" from the handler. ADR-125.)
		b.stalled.Store(true)
		return n, ErrBodyStalled(b.bound)
	}
	return n, err
}

// move sets the read deadline to the bound from now (within read_timeout).
// A request_timeout that ran out stays in force: the gateway's proxy stops
// a stalled body read with a deadline in the past when it does, and this
// move must not undo that.
func (b *stallBody) move(now time.Time) {
	b.dl = now.Add(b.bound)
	if !b.whole.IsZero() && b.whole.Before(b.dl) {
		b.dl = b.whole
	}
	b.ctl.SetReadDeadline(b.dl)
	if b.ctx != nil && b.ctx.Err() == context.DeadlineExceeded {
		b.ctl.SetReadDeadline(PastDeadline)
	}
}

// release marks the body read to its end. The deadline stays: net/http
// clears it itself when it starts its read behind a finished body (to see
// the client leave), and a deadline running out there would cancel the
// request's context in the middle of the work that follows (an ingest's
// conversion).
func (b *stallBody) release() { b.eof = true }

func (b *stallBody) Close() error { return b.rc.Close() }

// finish runs after the handler: a stalled request whose handler wrote
// nothing gets its 408 here. A body the handler left unread is read by
// net/http after the handler, before it sends the answer's head (up to
// 256 KiB, to keep the connection): that read gets the bound too, or a
// client that stopped sending held it there for ever, its answer unsent
// (a PUT refused with 401 before its body was read).
func (b *stallBody) finish(s *statusWriter) {
	if b.stalled.Load() {
		if s != nil && s.status == 0 {
			s.answerStall()
		}
		return
	}
	if !b.eof && (b.ctx == nil || b.ctx.Err() != context.DeadlineExceeded) {
		// (request_timeout's deadline in the past, the gateway's, stays.)
		b.dl = time.Now().Add(b.bound)
		if !b.whole.IsZero() && b.whole.Before(b.dl) {
			b.dl = b.whole
		}
		b.ctl.SetReadDeadline(b.dl) // an error: hijacked, nothing to bound
	}
}

// answerStall writes the 408 of a stalled body in place of the answer the
// handler was about to write (whatever error its read of the body became:
// storaged's 400 "reading the object body failed", ingestd's "reading the
// upload", a 499), and drops what the handler writes after it. The
// connection closes after it: the rest of the body is not coming.
func (w *statusWriter) answerStall() {
	b := w.stall
	w.stall = nil
	h := w.Header()
	h.Set("Connection", "close")
	if w.errWriter == nil || w.req == nil || !w.errWriter(w, w.req, ErrBodyStalled(b.bound)) {
		errs.WriteBody(w, http.StatusRequestTimeout, errs.Timeout, errs.Message(ErrBodyStalled(b.bound)), h.Get(errs.RequestIDHeader))
	}
	w.dropRest = true
}
