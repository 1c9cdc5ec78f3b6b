package gateway

import (
	"fmt"
	"net/http"

	"lakehouse-go/internal/errs"
)

// A head the gateway forwards is not the client's byte for byte (ADR-198):
// Host becomes the daemon's address, X-Request-Id and X-Forwarded-For are
// added, and each field is written as "Name: value" CRLF — a field sent
// as "a:b" LF grows by two bytes. The gateway refuses a client's head over
// its own max_header_bytes; a daemon reads up to its max_header_bytes plus
// net/http's 4 KiB of slack, which the gateway's additions to an ordinary
// head never fill. A head that would still go over the daemon's bound once
// rewritten (thousands of bare-LF fields, or a daemon configured with a
// smaller max_header_bytes than the gateway's) is refused by the gateway
// with the same 431, naming the daemon's bound: the daemon's own 431 would
// name a limit the client's head was under.

// fwdTail bounds what follows the fields of a forwarded head: a
// Content-Length (or Transfer-Encoding) line, Expect: 100-continue, and the
// blank line.
const fwdTail = len("Content-Length: 9223372036854775807\r\nExpect: 100-continue\r\n\r\n")

// fwdTooLarge reports whether the head writeUpstream would send p's
// daemon for the request (under request id reqID) is over its bound. The
// exact length is counted only for a head that could be (fwdHeadBound).
func (c *fconn) fwdTooLarge(p *proxy, reqID string) bool {
	req := &c.req
	if p.maxFwd <= 0 || fwdHeadBound(req, p.up.addr, reqID, c.peerHost)+fwdTail <= p.maxFwd {
		return false
	}
	return fwdHeadLenFast(req, p.up.addr, reqID, c.peerHost)+fwdTail > p.maxFwd
}

// fwdHeadBound is at least fwdHeadLenFast, at the cost of a few additions:
// the rewrite adds at most two bytes a field and one to the request line
// (a missing CR, a missing space after the colon), two an X-Forwarded-For
// entry, and the Host, X-Request-Id and X-Forwarded-For lines.
func fwdHeadBound(req *reqHead, addr, reqID, peerHost string) int {
	return len(req.raw) + 2*len(req.fields) + 2*len(req.xff) + len(addr) + len(reqID) + len(peerHost) + 64
}

// fwdHeadLenFast is len(appendFwdHead(nil, req, addr, reqID, peerHost)),
// counted.
func fwdHeadLenFast(req *reqHead, addr, reqID, peerHost string) int {
	raw := req.raw
	n := len(req.method) + 1 + len(req.target.of(raw)) + len(" HTTP/1.1\r\nHost: ") + len(addr) + 2
	for _, f := range req.fields {
		k := f.k.of(raw)
		if skipFwd(k) || (len(req.conn) > 0 && nominated(raw, req.conn, k)) {
			continue
		}
		n += len(k) + 2 + len(f.v.of(raw)) + 2
	}
	n += len("X-Request-Id: ") + len(reqID) + len("\r\nX-Forwarded-For: ")
	for _, x := range req.xff {
		n += len(x.of(raw)) + 2
	}
	return n + len(peerHost) + 2
}

// writeHeadTooLarge answers a request whose forwarded head would be over
// its daemon's bound: 431 in DESIGN.md's body; the connection closes.
func (c *fconn) writeHeadTooLarge(p *proxy, reqID string) int {
	rec := &errRecorder{h: http.Header{errs.RequestIDHeader: {reqID}}}
	errs.WriteBody(rec, http.StatusRequestHeaderFieldsTooLarge, errs.TooLarge, fwdTooLargeMsg(p), reqID)
	delete(rec.h, "Content-Length") // writeSimple writes it
	c.req.close = true              // writeSimple's Connection: close
	c.writeSimple(rec.status, rec.h, rec.body)
	return rec.status
}

// fwdHeadLen is the length of the head writeRequest sends for r (net/http
// path): the same lines, counted.
func fwdHeadLen(r *http.Request, host, xff string) int {
	n := len(r.Method) + 1 + len(r.URL.RequestURI()) + len(" HTTP/1.1\r\nHost: ") + len(host) + 2
	var connTokens []string
	if v := r.Header["Connection"]; len(v) > 0 {
		connTokens = connectionTokens(v)
	}
	for k, vv := range r.Header {
		if skipHeader(k) || contains(connTokens, k) {
			continue
		}
		for _, v := range vv {
			n += len(k) + 2 + len(v) + 2
		}
	}
	if xff != "" {
		n += len("X-Forwarded-For: ") + len(xff) + 2
	}
	return n + fwdTail
}

// headTooLarge is the net/http path's writeHeadTooLarge.
func (p *proxy) headTooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	errs.WriteBody(w, http.StatusRequestHeaderFieldsTooLarge, errs.TooLarge, fwdTooLargeMsg(p), w.Header().Get(errs.RequestIDHeader))
}

func fwdTooLargeMsg(p *proxy) string {
	return fmt.Sprintf("request header section over %d bytes as forwarded to %s (its max_header_bytes plus 4096; the gateway writes each field as \"Name: value\" CRLF and adds X-Request-Id and X-Forwarded-For)", p.maxFwd, p.name)
}
