package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
)

// FuzzReadHead: the fast path's request parser never panics, and what it
// accepts for native serving has no smuggling shape left in it.
//
//	go test -fuzz FuzzReadHead ./internal/gateway/
func FuzzReadHead(f *testing.F) {
	for _, s := range []string{
		"GET /v1/storage/x?y=1 HTTP/1.1\r\nHost: a\r\nX-Request-Id: r\r\n\r\n",
		"POST /v1/storage/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"PUT /v1/sql HTTP/1.1\r\nHost: a\r\nConnection: close, X-A\r\nX-A: 1\r\nExpect: 100-continue\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
		"GET /v1/storage/%41 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/p%ZZ%41 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage/p%4?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /v1/storage HTTP/1.0\r\n\r\n",
		"GET /v1/storage/x HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(s))
	}
	route := func(p []byte) bool { return bytes.HasPrefix(p, []byte("/v1/")) }
	f.Fuzz(func(t *testing.T, data []byte) {
		var h reqHead
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		err := h.readHead(br, route)
		if !bytes.HasPrefix(data, h.raw) {
			t.Fatalf("raw %q is not what was read", h.raw)
		}
		if err != nil || h.handoff {
			return
		}
		if h.chunked && h.hasCL {
			t.Fatal("accepted both Content-Length and chunked")
		}
		if !h.host.ok() || h.method == "" || !route(h.path.of(h.raw)) {
			t.Fatalf("accepted without host/method/route: %q", data)
		}
		if strings.ContainsAny(string(h.target.of(h.raw)), " \r\n\x00") {
			t.Fatalf("target %q", h.target.of(h.raw))
		}
		for _, fl := range h.fields {
			if strings.ContainsAny(string(fl.k.of(h.raw)), " \t\r\n\x00:") || strings.ContainsAny(string(fl.v.of(h.raw)), "\r\n\x00") {
				t.Fatalf("field %q: %q", fl.k.of(h.raw), fl.v.of(h.raw))
			}
		}
		// Served natively: either a plain path, or one net/http would refuse
		// for its %-escape (answered with the JSON error body).
		if h.badEscape.ok() {
			if _, err := url.ParseRequestURI(string(h.target.of(h.raw))); err == nil {
				t.Fatalf("target %q flagged, but net/http accepts it", h.target.of(h.raw))
			}
		} else if bytes.IndexByte(h.path.of(h.raw), '%') >= 0 {
			t.Fatalf("escaped path %q served natively", h.path.of(h.raw))
		}
		if h.cl < -1 {
			t.Fatalf("cl %d", h.cl)
		}
	})
}

// FuzzReadRespHead: the fast path's parser of a daemon's answer never
// panics, and what it accepts is relayable: token field names, values
// without CR, LF or NUL, a final status (no 1xx, no unrequested 101), and
// one framing (chunked wins over a length).
//
//	go test -run '^$' -fuzz '^FuzzReadRespHead$' ./internal/gateway/
func FuzzReadRespHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
		"HTTP/1.0 200 OK\nConnection: close\n\n",
		"HTTP/1.1 200 OK\r\nX-Bad\x00: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r respHead
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		if _, err := r.read(br); err != nil {
			return
		}
		if r.status < 200 || r.status > 999 {
			t.Fatalf("status %d accepted", r.status)
		}
		if r.chunked && r.cl != -1 {
			t.Fatalf("chunked with length %d", r.cl)
		}
		for _, fl := range r.fields {
			k, v := fl.k.of(r.raw), fl.v.of(r.raw)
			if len(k) == 0 {
				t.Fatal("empty field name")
			}
			for _, c := range k {
				if !tokenOK[c] {
					t.Fatalf("field name %q", k)
				}
			}
			if bytes.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("field %q value %q", k, v)
			}
		}
	})
}

// FuzzReadTrailers: a request's trailer section is accepted only when it
// is field lines up to an empty line (never a request line swallowed),
// and reading one never panics.
//
//	go test -run '^$' -fuzz '^FuzzReadTrailers$' ./internal/gateway/
func FuzzReadTrailers(f *testing.F) {
	for _, s := range []string{
		"\r\n", "X-T: 1\r\n\r\n", "X-T: 1\nX-U:\n\n",
		"GET /v1/storage/x HTTP/1.1\r\nHost: a\r\n\r\n", "X-T : 1\r\n\r\n", " X-T: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		if _, err := readTrailers(br, nil, false); err != nil {
			return
		}
		rest, _ := io.ReadAll(br)
		section := data[:len(data)-len(rest)]
		lines := bytes.SplitAfter(section, []byte("\n"))
		for _, l := range lines[:len(lines)-2] { // the last two: the empty line and ""
			if !fieldLine(l) || bytes.HasPrefix(l, []byte(" ")) || bytes.Contains(l[:bytes.IndexByte(l, ':')], []byte(" ")) {
				t.Fatalf("accepted %q in %q", l, section)
			}
		}
	})
}

// FuzzCLConnScan: clConn.scan, fed the bytes in two reads split anywhere,
// finds a Content-Length field line exactly when the whole input, lower
// cased, contains "\ncontent-length:".
func FuzzCLConnScan(f *testing.F) {
	f.Add([]byte("PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"), 7)
	f.Add([]byte("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 20)
	f.Add([]byte("\n\nCONTENT-LENGTH:"), 1)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		c := &clConn{}
		c.scan(in[:split])
		if !c.sawCL.Load() {
			c.scan(in[split:])
		}
		want := bytes.Contains(bytes.ToLower(in), []byte(clField))
		if c.sawCL.Load() != want {
			t.Fatalf("%q split at %d: saw %v, want %v", in, split, c.sawCL.Load(), want)
		}
	})
}
