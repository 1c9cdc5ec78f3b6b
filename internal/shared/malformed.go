package shared

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
)

// Requests net/http rejects before any handler runs (ADR-126, ADR-132): a
// garbled request line, no or two Host fields, HTTP/9.9, an unknown
// Transfer-Encoding or Expect, a head over the limit, a control character
// in a field. net/http answers them in text/plain ("400 Bad Request")
// straight on the connection; every daemon's connections (the harness's
// listener, the gateway's own) send DESIGN.md's JSON error body in their
// place, with the same status, a fresh request id, and the connection
// closed after it.

// MaxHeadBytes is net/http's own bound on a head
// (http.DefaultMaxHeaderBytes plus its slack): the most max_header_bytes
// may be, and the gateway's bound on a daemon's answer head, which is no
// client's input (ADR-198).
const MaxHeadBytes = http.DefaultMaxHeaderBytes + HeaderSlack

// AppendMalformed appends to b the whole answer (head and JSON body) to a
// request whose head could not be parsed: status (400, 417, 431, 501 or
// 505), reason what was wrong ("" when nothing more is known), under
// request id reqID. A 431's message names maxHead, the daemon's
// max_header_bytes (ServerConfig.HeaderBytes), and reason after it. The
// answer closes the connection.
func AppendMalformed(b []byte, status int, reason, reqID string, maxHead int) []byte {
	kind := errs.Invalid
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		kind = errs.TooLarge
	case http.StatusNotImplemented:
		kind = errs.NotImpl
	}
	msg := "malformed request head"
	if status == http.StatusRequestHeaderFieldsTooLarge {
		msg = "request header section over " + strconv.Itoa(maxHead) + " bytes"
	}
	if reason != "" {
		msg += ": " + reason
	}
	rec := &headRecorder{h: http.Header{errs.RequestIDHeader: {reqID}}}
	errs.WriteBody(rec, status, kind, msg, reqID)
	text := http.StatusText(status)
	if text == "" {
		text = "status code " + strconv.Itoa(status)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(append(append(b, ' '), text...), "\r\n"...)
	for _, k := range []string{"Content-Type", errs.ErrorHeader, errs.RequestIDHeader} {
		if v := rec.h.Get(k); v != "" {
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	b = append(b, "Date: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(rec.body)), 10)
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	return append(b, rec.body...)
}

// headRecorder captures what errs.WriteBody writes.
type headRecorder struct {
	h    http.Header
	body []byte
}

func (r *headRecorder) Header() http.Header { return r.h }
func (r *headRecorder) WriteHeader(int)     {}
func (r *headRecorder) Write(p []byte) (int, error) {
	r.body = append(r.body, p...)
	return len(p), nil
}

// MalformedAnswer reports whether p, one Write of net/http on a client
// connection, is its own answer to a request it could not parse, and
// returns the JSON answer (AppendMalformed) to send in its place; maxHead
// is the daemon's max_header_bytes, which a 431 names.
func MalformedAnswer(p []byte, maxHead int) ([]byte, bool) {
	status, reason, ok := netHTTPError(p)
	if !ok {
		return nil, false
	}
	return AppendMalformed(nil, status, reason, NewRequestID(), maxHead), true
}

// netHTTPErrorHeaders are the header lines of net/http's answers to a
// request it could not parse (net/http's conn.serve, Go 1.26): an answer
// a handler writes always carries a Date field after them.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// netHTTPError reports whether p is one of those answers, whole (each is
// written in one Write), with its status and net/http's reason. The body
// must be the one net/http writes (its status line again, or "Unsupported
// transfer encoding" with a 501): a Write of a handler's body that only
// starts alike is left alone.
func netHTTPError(p []byte) (status int, reason string, ok bool) {
	if expectationFailed(p) {
		return http.StatusExpectationFailed, "an Expect other than 100-continue", true
	}
	if len(p) < len("HTTP/1.1 400 ") || string(p[:9]) != "HTTP/1.1 " {
		return 0, "", false
	}
	eol := bytes.Index(p, []byte("\r\n"))
	if eol < 0 || !bytes.HasPrefix(p[eol:], []byte(netHTTPErrorHeaders)) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(p[9:12]))
	if err != nil || status < 400 || status > 599 || p[12] != ' ' {
		return 0, "", false
	}
	body := string(p[eol+len(netHTTPErrorHeaders):])
	switch {
	case body == string(p[9:eol]):
		// "400 Bad Request: missing required Host header": what follows
		// the status text.
		_, reason, _ = strings.Cut(body, http.StatusText(status)+": ")
	case status == http.StatusNotImplemented && body == "Unsupported transfer encoding":
		reason = "unsupported transfer encoding"
	default:
		return 0, "", false
	}
	return status, reason, true
}

// expectationFailed reports net/http's answer to an Expect it does not
// know, written before any handler runs: a 417 whose only fields are
// Connection, Date and Content-Length 0 (a handler's answer carries the
// harness's X-Request-Id and a Content-Type).
func expectationFailed(p []byte) bool {
	const head, tail = " 417 Expectation Failed\r\nConnection: close\r\nDate: ", "\r\nContent-Length: 0\r\n\r\n"
	if len(p) < 8+len(head)+len(tail) || (string(p[:8]) != "HTTP/1.1" && string(p[:8]) != "HTTP/1.0") ||
		string(p[8:8+len(head)]) != head || !bytes.HasSuffix(p, []byte(tail)) {
		return false
	}
	date := p[8+len(head) : len(p)-len(tail)]
	return len(date) < 40 && bytes.IndexByte(date, '\n') < 0
}

// jsonErrListener wraps each accepted connection in a jsonErrConn: the
// harness's own serving (every daemon without Daemon.Serve). maxHead is
// the daemon's max_header_bytes, which its 431 names.
type jsonErrListener struct {
	net.Listener
	maxHead int
}

func (l jsonErrListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrConn{Conn: nc, maxHead: l.maxHead}, nil
}

// jsonErrConn sends MalformedAnswer's JSON in place of net/http's own
// answers to a request it could not parse, and lingers before closing
// after one (LingerClose).
type jsonErrConn struct {
	net.Conn
	linger  atomic.Bool // a malformed answer was sent, or the body left unread: Close lingers
	maxHead int         // max_header_bytes, named by a 431
}

func (c *jsonErrConn) Write(p []byte) (int, error) {
	if b, ok := MalformedAnswer(p, c.maxHead); ok {
		c.linger.Store(true)
		_, err := c.Conn.Write(b)
		return len(p), err
	}
	return c.Conn.Write(p)
}

// Close lingers (LingerClose) when the connection's last answer was a
// malformed request's, or was sent with the request body unread
// (CloseWrite): net/http closes at once after it, and a close with unread
// bytes sends a reset, so a client still sending its body got a "broken
// pipe" or "connection reset" on its write and never read the answer
// (ADR-139).
func (c *jsonErrConn) Close() error {
	if c.linger.CompareAndSwap(true, false) {
		return LingerClose(c.Conn, LingerTime, LingerBytes)
	}
	return c.Conn.Close()
}

// LingerTime and LingerBytes bound LingerClose: at most 2 s, and at most
// 256 MiB read and thrown away — the largest default max_body_bytes
// (vectord's), so a client sending a body of the default limit's size past
// a 413 still reads it. nginx's lingering_close bounds time only (30 s).
const (
	LingerTime  = 2 * time.Second
	LingerBytes = 256 << 20
)

// LingerClose closes nc after an answer sent while the client may still
// be sending its request: it half-closes (the client reads the answer,
// then end of stream), reads and throws away what the client still sends
// until it closes, d has passed or max bytes were read, then closes. A
// close with unread bytes would send a reset instead, which fails the
// client's write before it reads the answer (RFC 9112 section 9.6).
func LingerClose(nc net.Conn, d time.Duration, max int64) error {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(d))
	io.CopyN(io.Discard, nc, max)
	return nc.Close()
}

// ReadFrom keeps net/http's sendfile and splice (a response body copied
// from a file or a socket, response.ReadFrom) through the wrapper: what
// it copies is a body, never net/http's own answer.
func (c *jsonErrConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c}, r)
}

type writerOnly struct{ io.Writer }

// CloseWrite keeps net/http's gentle close (half-close, then a pause
// before the full close) working through the wrapper. net/http calls it
// only when it closes with the request body unread: after a 431, a body
// over max_body_bytes (413), or a handler that answered without reading a
// body of more than 256 KiB (a 401, a 404, a 400 on the head). Its pause
// reads nothing, so the full close still sent a reset to a client writing
// its body; Close lingers instead (ADR-139).
func (c *jsonErrConn) CloseWrite() error {
	c.linger.Store(true)
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type jsonErrConnKey struct{}

// withJSONErrConn is the harness server's ConnContext: it makes the
// connection's jsonErrConn known to lingerUnread.
func withJSONErrConn(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*jsonErrConn); ok {
		return context.WithValue(ctx, jsonErrConnKey{}, c)
	}
	return ctx
}

// lingerUnread marks the connection of a request that carried a body and
// ends its connection (Connection: close, HTTP/1.0) for a linger at its
// close. net/http reads nothing more of such a body and calls no
// CloseWrite before it closes ("no point in reading to EOF"), so a client
// still sending the body (Python's urllib sends Connection: close) got a
// reset instead of a 413, 401 or 404 (ADR-139). A body read to its end
// costs nothing: the client closes after the answer, and the linger ends
// at its end of stream.
func lingerUnread(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.ContentLength == 0 || !(r.Close || w.Header().Get("Connection") == "close") {
			return
		}
		if c, ok := r.Context().Value(jsonErrConnKey{}).(*jsonErrConn); ok {
			c.linger.Store(true)
		}
	})
}
