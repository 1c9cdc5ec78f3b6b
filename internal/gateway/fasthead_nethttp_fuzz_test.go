package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// netHTTPHead reads one request head from data the way net/http's server
// does: http.ReadRequest, then the checks conn.readRequest adds (Host
// present and valid, field names and values valid). consumed is how many
// bytes of data the head took (ReadRequest reads no body byte).
func netHTTPHead(data []byte) (req *http.Request, consumed int, err error) {
	rd := bytes.NewReader(data)
	br := bufio.NewReaderSize(rd, 64)
	req, err = http.ReadRequest(br)
	if err != nil {
		return nil, 0, err
	}
	consumed = len(data) - rd.Len() - br.Buffered()
	if req.ProtoMajor != 1 {
		return nil, 0, errors.New("unsupported protocol version")
	}
	// http.ReadRequest drops the Host field (keeping req.Host): read the
	// fields once more to tell a missing Host from an empty one.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	if _, err := tp.ReadLine(); err != nil {
		return nil, 0, err
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, 0, err
	}
	hosts, haveHost := mh["Host"]
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && req.Method != "CONNECT" {
		return nil, 0, errors.New("missing required Host header")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return nil, 0, errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, 0, errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, 0, errors.New("invalid header value")
			}
		}
	}
	return req, consumed, nil
}

// stricterThanNetHTTP are the 400s the fast path answers although net/http
// would take the request (deliberately, ADR-079: one reading of a
// message's framing and its Host, never a guess):
//   - "obsolete line folding": net/http joins the folded line to the one
//     before it (RFC 9112 5.2 lets a server refuse it instead);
//   - "multiple Content-Length headers": net/http takes repeated equal
//     values as one;
//   - "both Content-Length and Transfer-Encoding": net/http drops the
//     length and reads chunked (RFC 9112 6.1: "ought to be handled as an
//     error");
//   - "invalid Host header" for an empty Host: net/http takes "Host:" with
//     no value;
//   - "bad Content-Length" for a length of 19 digits (leading zeros
//     count): net/http takes up to 2^63-1.
//
// Every other 400 of readHead must be a request net/http refuses too.
var stricterThanNetHTTP = map[string]bool{
	"obsolete line folding":                     true,
	"multiple Content-Length headers":           true,
	"both Content-Length and Transfer-Encoding": true,
}

// FuzzReadHeadNetHTTP: the fast path's request parser agrees with
// net/http's server. A head it serves itself (no hand-off, no refusal) is
// one net/http takes too, read to the same byte (so a pipelined request
// after it starts at the same place), with the same method, target, path,
// query, Host, body framing (Content-Length or chunked), Connection: close,
// and the same values for every field the fast path forwards. A head it
// refuses with 400 is one net/http refuses too, but for the deliberate
// differences listed in stricterThanNetHTTP. One with a malformed %-escape
// (answered natively with DESIGN.md's JSON 400) is one net/http refuses.
//
//	go test -run '^$' -fuzz '^FuzzReadHeadNetHTTP$' ./internal/gateway/
func FuzzReadHeadNetHTTP(f *testing.F) {
	for _, s := range []string{
		// plain, pipelined (a second request, a body then a request)
		"GET /v1/storage/x?y=1 HTTP/1.1\r\nHost: a\r\nX-Request-Id: r\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /v1/b HTTP/1.1\r\nHost: a\r\n\r\n",
		// obs-fold, in a value and before the first field
		"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\r\n X-A: b\r\nHost: a\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\n\tc\r\n\r\n",
		// Content-Length: duplicates, lists, signs, spaces, leading zeros, huge
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length:  0005 \t\r\n\r\nhello",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000005\r\n\r\nhello",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
		// Transfer-Encoding variants
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked \r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
		"POST /v1/a HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n",
		// absolute-form and authority-form targets, asterisk
		"GET http://a/v1/storage/x HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET //a/v1/storage/x HTTP/1.1\r\nHost: b\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		// versions
		"GET /v1/storage HTTP/1.0\r\n\r\n",
		"GET /v1/storage HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /v1/storage HTTP/2.0\r\nHost: a\r\n\r\n",
		"GET /v1/storage http/1.1\r\nHost: a\r\n\r\n",
		// spaces and line endings
		"GET /v1/storage/x HTTP/1.1\nHost: a\n\n",
		"GET  /v1/storage/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/x  HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /v1/storage/x\tHTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\r\nHost:a\r\nX-A:   b  \t\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\r\r\nHost: a\r\n\r\n",
		"\r\nGET /v1/storage/x HTTP/1.1\r\nHost: a\r\n\r\n",
		// %-escapes in path and query
		"GET /v1/storage/%41 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/p%ZZ%41 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/p%4?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/p?q=%zz&r=%20 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/p#f HTTP/1.1\r\nHost: a\r\n\r\n",
		// Host variants
		"GET /v1/a HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost:\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: u@a\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a%25b\r\n\r\n",
		// other fields
		"PUT /v1/sql HTTP/1.1\r\nHost: a\r\nConnection: close, X-A\r\nX-A: 1\r\nExpect: 100-continue\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,close\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\x80\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a\r\nX-\xe9: 1\r\n\r\n",
		"GET /v1/a HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	route := func(p []byte) bool { return bytes.HasPrefix(p, []byte("/v1/")) }
	f.Fuzz(func(t *testing.T, data []byte) {
		var h reqHead
		err := h.readHead(bufio.NewReaderSize(bytes.NewReader(data), 64), route)
		req, consumed, nerr := netHTTPHead(data)
		if err != nil {
			var he *headError
			if !errors.As(err, &he) || he.status != 400 {
				return // EOF, 431 (both ends have a limit), 501
			}
			if nerr == nil && !stricterThanNetHTTP[he.reason] &&
				!(he.reason == "invalid Host header" && req.Host == "") &&
				!(he.reason == "bad Content-Length" && req.ContentLength >= 0 && clDigits(req) > 18) {
				t.Fatalf("fast path refuses %q (%s), net/http takes it", data, he.reason)
			}
			return
		}
		if h.handoff {
			return
		}
		if h.badEscape.ok() {
			if nerr == nil {
				t.Fatalf("fast path answers %q as a malformed escape, net/http takes it", data)
			}
			return
		}
		if nerr != nil {
			t.Fatalf("fast path serves %q, net/http refuses it: %v", data, nerr)
		}
		if consumed != len(h.raw) {
			t.Fatalf("head of %q: fast path read %d bytes, net/http %d", data, len(h.raw), consumed)
		}
		target := string(h.target.of(h.raw))
		path, query, _ := strings.Cut(target, "?")
		if req.Method != h.method || req.RequestURI != target || req.URL.Path != path ||
			req.URL.EscapedPath() != path || req.URL.RawQuery != query || req.URL.Host != "" {
			t.Fatalf("%q: fast path %s %q, net/http %s %q (path %q, query %q)",
				data, h.method, target, req.Method, req.RequestURI, req.URL.Path, req.URL.RawQuery)
		}
		if req.Host != string(h.host.of(h.raw)) {
			t.Fatalf("%q: Host %q, net/http %q", data, h.host.of(h.raw), req.Host)
		}
		chunked := slices.Equal(req.TransferEncoding, []string{"chunked"})
		if h.chunked != chunked || h.chunked && req.ContentLength != -1 ||
			!h.chunked && req.ContentLength != h.cl || h.cl == -1 != chunked {
			t.Fatalf("%q: framing chunked=%v cl=%d, net/http TE %q length %d",
				data, h.chunked, h.cl, req.TransferEncoding, req.ContentLength)
		}
		if h.close != req.Close {
			t.Fatalf("%q: close %v, net/http %v", data, h.close, req.Close)
		}
		// The fields forwarded as they came carry net/http's values, in order.
		fwd := map[string][]string{}
		for _, fl := range h.fields {
			if k := fl.k.of(h.raw); !skipFwd(k) {
				ck := textproto.CanonicalMIMEHeaderKey(string(k))
				fwd[ck] = append(fwd[ck], string(fl.v.of(h.raw)))
			}
		}
		for k, vv := range req.Header {
			if skipFwd([]byte(k)) {
				continue
			}
			if k == "Cache-Control" && fwd[k] == nil && req.Header.Get("Pragma") == "no-cache" {
				continue // net/http's fixPragmaCacheControl adds it
			}
			if !slices.Equal(fwd[k], vv) {
				t.Fatalf("%q: %s: fast path forwards %q, net/http has %q", data, k, fwd[k], vv)
			}
			delete(fwd, k)
		}
		if len(fwd) > 0 {
			t.Fatalf("%q: fast path forwards %q, not in net/http's header", data, fwd)
		}
	})
}

// clDigits is how many digits the Content-Length net/http took had.
func clDigits(req *http.Request) int {
	return len(strings.TrimSpace(req.Header.Get("Content-Length")))
}
