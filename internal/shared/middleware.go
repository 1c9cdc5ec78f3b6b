package shared

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
)

type ctxKey int

const (
	reqIDKey ctxKey = iota
)

// RequestID returns the request id carried by ctx ("" if none).
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(reqIDKey).(string)
	return s
}

// WithRequestID returns ctx carrying id; outbound Client calls forward it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, reqIDKey, id)
}

const hexdigits = "0123456789abcdef"

// hexPairs[x] is byte x's two hex digits, the low nibble's first.
var hexPairs = func() (t [256][2]byte) {
	for x := range t {
		t[x] = [2]byte{hexdigits[x&15], hexdigits[x>>4]}
	}
	return t
}()

// NewRequestID returns 32 random hex characters: a's nibbles from the
// lowest, then c's (a byte's two digits a step).
func NewRequestID() string { return requestIDOf(rand.Uint64(), rand.Uint64()) }

func requestIDOf(a, c uint64) string {
	var b [32]byte
	for i := 0; i < 16; i += 2 {
		p, q := hexPairs[byte(a)], hexPairs[byte(c)]
		b[i], b[i+1] = p[0], p[1]
		b[16+i], b[17+i] = q[0], q[1]
		a >>= 8
		c >>= 8
	}
	return string(b[:])
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// statusWriter records the status and size of a response. It keeps
// http.Flusher working (SSE streams through) and unwraps for
// http.ResponseController. One is allocated per request, by the outermost
// middleware, and shared by the others.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	start  time.Time
	route  string
	// stall is the request's body when it has one (bodyTimeoutMW): an
	// error answer after it stalled becomes its 408, and what the handler
	// writes after that is dropped (dropRest).
	stall    *stallBody
	dropRest bool
	// errWriter is the daemon's Daemon.ErrorWriter (errorWriterMW), for
	// the errors the harness answers (writeError).
	errWriter func(w http.ResponseWriter, r *http.Request, err error) bool
	req       *http.Request // with errWriter: the request, for a stall's 408
	// answerBound: the server has no WriteTimeout, so WriteJSON bounds
	// the answer's write by AnswerStall without progress (writeAnswer).
	answerBound bool
	// writeTimeout is the server's WriteTimeout ([<daemon>].write_timeout,
	// 0: none): a write it stops is a cut (wroteErr, endAnswer).
	writeTimeout time.Duration
	// flushed: the handler flushed, or wrote through ReadFrom (which
	// flushes): some of the answer may have left before the handler's end.
	flushed bool
	// cut says why the answer was cut short after its head went out (the
	// client took no byte for a send stall: AnswerCut; the write_timeout
	// passed: wroteErr), "" when it was not: the access line's err,
	// lakehouse_http_answers_cut_total.
	cut string
}

// wroteErr notes a write of the answer that failed with err: when the
// server's WriteTimeout stopped it (net/http's deadline for the whole
// answer, set when the request was read), the answer was cut and says so
// (WriteTimeoutMessage), as a send stall's cut does. Only a failed write
// pays for this.
func (w *statusWriter) wroteErr(err error) {
	if w.cut == "" && w.writeTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		w.cut = WriteTimeoutMessage(w.writeTimeout, w.bytes, contentLength(w.Header()))
	}
}

// endAnswer runs when the request's handler returned, before its metrics
// and access line: the daemon's AnswerEnd, then, when the server's
// WriteTimeout has passed since the request began, a flush of what
// net/http still holds. An answer that fits its buffers (a small JSON
// answer of a handler that ran past write_timeout) was written only in
// net/http's finish, after the access line, where the expired deadline
// failed it unseen: the flush fails now instead, and wroteErr marks the
// cut. An answer already out flushes nothing and stays a success.
func (w *statusWriter) endAnswer(end func(http.ResponseWriter, *http.Request), r *http.Request) {
	if w.cut != "" {
		return
	}
	if end != nil {
		end(w, r)
	}
	if w.writeTimeout > 0 && w.cut == "" && time.Since(w.start) >= w.writeTimeout {
		// Nothing left yet when the handler never flushed and its body
		// fits net/http's first buffer: then none of it reached the
		// client, and bytes says so (not what net/http was handed).
		held := !w.flushed && w.bytes <= netHTTPFirstBuffer
		if w.FlushError() != nil && held && w.cut != "" {
			w.bytes = 0
			w.cut = WriteTimeoutMessage(w.writeTimeout, 0, contentLength(w.Header()))
		}
	}
}

// netHTTPFirstBuffer is the size of net/http's buffer in front of an
// answer's head (bufferBeforeChunkingSize): an answer whose body fits it
// is written to the connection only when flushed.
const netHTTPFirstBuffer = 2048

// answerEndMW runs endAnswer after the handler (not after a panic: the
// recoverer answers that one).
func answerEndMW(end func(http.ResponseWriter, *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if s := sw(w); s != nil && (end != nil || s.writeTimeout > 0) {
				s.endAnswer(end, r)
			}
		})
	}
}

// contentLength is h's Content-Length, -1 when it has none.
func contentLength(h http.Header) int64 {
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return -1
}

// errorWriterMW hands the daemon's error writer to the request's
// statusWriter, so every error the harness answers goes through it.
func errorWriterMW(ew func(w http.ResponseWriter, r *http.Request, err error) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if ew == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s := sw(w); s != nil {
				s.errWriter, s.req = ew, r
			}
			next.ServeHTTP(w, r)
		})
	}
}

// writeError answers an error of the harness's own: through the daemon's
// error writer when it takes it, else as DESIGN.md's body.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if s := sw(w); s != nil && s.errWriter != nil && s.errWriter(w, r, err) {
		return
	}
	errs.WriteHTTP(w, r, nil, err)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.stall != nil && w.status == 0 && code >= 400 && w.stall.stalled.Load() {
		w.answerStall()
		return
	}
	if w.dropRest {
		return
	}
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.dropRest {
		return len(p), nil
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	if err != nil {
		w.wroteErr(err)
	}
	return n, err
}

// ReadFrom keeps the sendfile/splice fast path of the underlying writer.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.dropRest {
		return io.Copy(io.Discard, r)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.flushed = true
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	if err != nil {
		w.wroteErr(err)
	}
	return n, err
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.flushed = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FlushError is Flush with the error of the write it made: a
// ResponseController's Flush (WriteAnswer's last flush, the gateway's)
// sees a connection that failed or was cut, which Flush hides.
func (w *statusWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.flushed = true
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err != nil {
		w.wroteErr(err)
	}
	return err
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, fmt.Errorf("hijack not supported")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status is the response status (200 if the handler wrote nothing).
func (w *statusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// panicStatus is the status of a request whose handler panicked: what it
// wrote, or the recoverer's 500 (an aborted one, http.ErrAbortHandler, has
// its connection closed: 500 too, as nothing reached the client).
func panicStatus(s *statusWriter) int {
	if s.status != 0 {
		return s.status
	}
	return http.StatusInternalServerError
}

func sw(w http.ResponseWriter) *statusWriter {
	s, _ := w.(*statusWriter)
	return s
}

// harnessWriter is the statusWriter under w and the wrappers a daemon put
// around it (each with an Unwrap, as http.ResponseController asks); nil
// when w is not the harness's.
func harnessWriter(w http.ResponseWriter) *statusWriter {
	for {
		switch x := w.(type) {
		case *statusWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// routePattern is chi's matched pattern for metrics and traces.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// requestIDMW accepts a sane X-Request-Id or makes one, echoes it, puts it in
// the context, and allocates the shared statusWriter.
func requestIDMW(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(errs.RequestIDHeader)
		if !validRequestID(id) {
			id = NewRequestID()
			r.Header.Set(errs.RequestIDHeader, id)
		}
		w.Header().Set(errs.RequestIDHeader, id)
		wt := writeTimeout(r)
		s := &statusWriter{ResponseWriter: w, start: time.Now(), answerBound: wt == 0, writeTimeout: wt}
		next.ServeHTTP(s, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

// recovererMW turns a panic into a 500 error body and a log line with the stack.
func recovererMW(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					logPanic(log, RequestID(r.Context()), v)
					if s := sw(w); s == nil || s.status == 0 {
						writeError(w, r, errs.E("recover", errs.Internal))
					}
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// accessLogMW writes one line per request after it finishes, formatted by
// hand in slog's text or JSON layout (same keys as every other log line:
// svc req_id op status bytes dur_ms peer) — slog's generic path cost a
// measurable share of the gateway's per-request CPU.
func accessLogMW(a accessLog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if !a.enabled {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			done := false
			defer func() {
				if !done { // a panic on its way to the recoverer: still one line
					if s := sw(w); s != nil {
						now := time.Now()
						a.write(RequestID(r.Context()), r.Method, r.URL.Path, panicStatus(s), s.bytes, now.Sub(s.start), now, r.RemoteAddr, s.cut)
					}
				}
			}()
			next.ServeHTTP(w, r)
			done = true
			s := sw(w)
			if s == nil {
				return
			}
			now := time.Now()
			a.write(RequestID(r.Context()), r.Method, r.URL.Path, s.Status(), s.bytes, now.Sub(s.start), now, r.RemoteAddr, s.cut)
		})
	}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func appendAccessLine(b []byte, now time.Time, json bool, svc, reqID, method, path string, status int, bytes, durMS int64, peer string) []byte {
	if !plainValue(svc) || !plainValue(reqID) || !plainValue(method) || !plainValue(path) || !plainValue(peer) {
		return appendSlogLine(b, now, json, svc, reqID, method, path, status, bytes, durMS, peer, "")
	}
	// Every value is printable ASCII that neither format escapes: the text
	// handler quotes only the empty value and op (it has a space).
	if json {
		b = append(b, `{"time":"`...)
		b = appendLogTime(b, now, true)
		b = append(b, `","level":"INFO","msg":"request","svc":"`...)
		b = append(b, svc...)
		b = append(b, `","req_id":"`...)
		b = append(b, reqID...)
		b = append(b, `","op":"`...)
		b = append(b, method...)
		b = append(b, ' ')
		b = append(b, path...)
		b = append(b, `","status":`...)
		b = appendInt(b, int64(status))
		b = append(b, `,"bytes":`...)
		b = appendInt(b, bytes)
		b = append(b, `,"dur_ms":`...)
		b = appendInt(b, durMS)
		b = append(b, `,"peer":"`...)
		b = append(b, peer...)
		return append(b, "\"}\n"...)
	}
	b = append(b, "time="...)
	b = appendLogTime(b, now, false)
	b = append(b, " level=INFO msg=request svc="...)
	b = appendPlainText(b, svc)
	b = append(b, " req_id="...)
	b = appendPlainText(b, reqID)
	b = append(b, ` op="`...)
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, `" status=`...)
	b = appendInt(b, int64(status))
	b = append(b, " bytes="...)
	b = appendInt(b, bytes)
	b = append(b, " dur_ms="...)
	b = appendInt(b, durMS)
	b = append(b, " peer="...)
	b = appendPlainText(b, peer)
	return append(b, '\n')
}

// appendInt is strconv.AppendInt(b, v, 10), with the access line's
// common values (a status, a small body, a few milliseconds: 0-9999)
// written digit by digit.
func appendInt(b []byte, v int64) []byte {
	switch {
	case v < 0 || v > 9999:
		return strconv.AppendInt(b, v, 10)
	case v < 10:
		return append(b, byte('0'+v))
	case v < 100:
		return append(b, byte('0'+v/10), byte('0'+v%10))
	case v < 1000:
		return append(b, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
	}
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// plainValue: printable ASCII without a space, quote, backslash or '=' —
// written verbatim by both slog handlers.
func plainValue(s string) bool {
	n := len(s)
	if n < 8 {
		for i := 0; i < n; i++ {
			if !plainByte[s[i]] {
				return false
			}
		}
		return true
	}
	// Eight bytes at a time (every access line checks ~80 bytes), the
	// last word overlapping the one before it: a word is plain when no
	// byte is below '!' or above '~' and none is '"', '\\' or '='. Each
	// test is exact for bytes below 0x80, and a byte at or above 0x80
	// fails the range test itself. The tests' high bits are gathered and
	// looked at once.
	var bad uint64
	for i := 0; i < n; i += 8 {
		x := le64(s[min(i, n-8):])
		bad |= (x-lo*0x21)&^x | // a byte < 0x21
			(x + lo*(0x7f-0x7e) | x) | // a byte > 0x7e
			zeroBytes(x^(lo*'"')) | zeroBytes(x^(lo*'\\')) | zeroBytes(x^(lo*'='))
	}
	return bad&hi == 0
}

const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// zeroBytes: its high bits (& hi) are all clear exactly when no byte of x
// is 0.
func zeroBytes(x uint64) uint64 { return (x - lo) &^ x }

var plainByte = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = c != '"' && c != '\\' && c != '='
	}
	return t
}()

func appendPlainText(b []byte, v string) []byte {
	if v == "" {
		return append(b, `""`...)
	}
	return append(b, v...)
}

// appendSlogLine formats the rare line with a value that needs escaping,
// or with an err (an answer cut short: errMsg, "" for none), through
// slog's own handler, so the escaping is exactly slog's.
func appendSlogLine(b []byte, now time.Time, json bool, svc, reqID, method, path string, status int, bytes, durMS int64, peer, errMsg string) []byte {
	w := &appendWriter{b: b}
	var h slog.Handler = slog.NewTextHandler(w, nil)
	if json {
		h = slog.NewJSONHandler(w, nil)
	}
	r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("svc", svc), slog.String("req_id", reqID), slog.String("op", method+" "+path),
		slog.Int("status", status), slog.Int64("bytes", bytes), slog.Int64("dur_ms", durMS), slog.String("peer", peer))
	if errMsg != "" {
		r.AddAttrs(slog.String("err", errMsg))
	}
	_ = h.Handle(context.Background(), r)
	return w.b
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// logSecond caches the formatted part of a log timestamp that changes once
// a second ("2006-01-02T15:04:05") and its zone ("Z", "+01:00"), so an
// access line formats only the fraction.
type logSecond struct {
	sec        int64
	loc        *time.Location
	date, zone []byte
}

var logSecondCache atomic.Pointer[logSecond]

// appendLogTime appends now as slog's text handler ("...05.000Z07:00") or,
// nano, as time.RFC3339Nano (slog's JSON handler) — the bytes AppendFormat
// gives, without its per-call parse of the layout.
func appendLogTime(b []byte, now time.Time, nano bool) []byte {
	sec := now.Unix()
	c := logSecondCache.Load()
	if c == nil || c.sec != sec || c.loc != now.Location() {
		c = &logSecond{sec: sec, loc: now.Location(), date: now.AppendFormat(nil, "2006-01-02T15:04:05"), zone: now.AppendFormat(nil, "Z07:00")}
		if y := now.Year(); y < 1000 || y > 9999 {
			c.sec = -1 << 63 // odd years: no caching
		}
		logSecondCache.Store(c)
	}
	b = append(b, c.date...)
	ns := now.Nanosecond()
	if nano {
		if ns != 0 {
			var d [10]byte
			d[0] = '.'
			for i, v := 9, ns; i >= 1; i-- {
				d[i] = byte('0' + v%10)
				v /= 10
			}
			n := 10
			for d[n-1] == '0' {
				n--
			}
			b = append(b, d[:n]...)
		}
	} else {
		ms := ns / 1e6
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	}
	return append(b, c.zone...)
}

// allowedIPsMW checks the TCP peer address (never a forwarded header).
func allowedIPsMW(nets []*net.IPNet) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(nets) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := checkPeer(nets, r.RemoteAddr); err != nil {
				writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func ipAllowed(nets []*net.IPNet, ip net.IP) bool {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// authMW checks "Authorization: Bearer T" against the primary and secondary
// tokens in constant time. No token configured = no auth.
func authMW(primary, secondary string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if primary == "" && secondary == "" {
			return next
		}
		p, s := []byte(primary), []byte(secondary)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := checkAuth(r.Header.Get("Authorization"), p, s); err != nil {
				w.Header().Set("WWW-Authenticate", AuthChallenge)
				writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func tokenOK(h string, primary, secondary []byte) bool {
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !equalFoldASCII(h[:len(prefix)], prefix) {
		return false
	}
	t := h[len(prefix):]
	ok1 := len(primary) > 0 && constantTimeEqual(t, primary)
	ok2 := len(secondary) > 0 && constantTimeEqual(t, secondary)
	return ok1 || ok2
}

// constantTimeEqual is subtle.ConstantTimeCompare(t, b) == 1 without
// copying t into a []byte, eight bytes a step: its time depends on the
// lengths only (the differences are OR-ed, never branched on).
func constantTimeEqual(t string, b []byte) bool {
	if len(t) != len(b) {
		return false
	}
	var d uint64
	if n := len(b); n < 8 {
		for i := 0; i < n; i++ {
			d |= uint64(t[i] ^ b[i])
		}
	} else {
		for i := 0; i < n; i += 8 {
			j := min(i, n-8) // the last word overlaps the one before it
			d |= le64(t[j:]) ^ binary.LittleEndian.Uint64(b[j:])
		}
	}
	return d == 0
}

// le64 is s's first eight bytes as a little-endian word.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// limitsMW gives each request a deadline and caps its body.
func limitsMW(timeout time.Duration, maxBody int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if timeout <= 0 && maxBody <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stall, _ := r.Body.(*stallBody)
			if maxBody > 0 {
				if err := checkLength(r.ContentLength, maxBody); err != nil {
					writeError(w, r, err)
					return
				}
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
			if timeout > 0 {
				ctx, cancel := context.WithTimeout(r.Context(), timeout)
				defer cancel()
				r = r.WithContext(ctx)
				if stall != nil {
					stall.ctx = ctx // its deadline's poison is not a stall
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
