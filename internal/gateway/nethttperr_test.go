package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestMalformedRequestJSON: a request net/http could not parse, on a
// connection the gateway hands to it (any that is not a proxied route's
// plain HTTP/1.1 request) or with the fast path off, was answered with
// net/http's own text/plain "400 Bad Request" (no Host, two Host fields,
// a garbled request line, HTTP/9.9, an unknown transfer coding, a head over
// the limit); it now gets DESIGN.md's JSON error body with the same status,
// a request id, and the connection closed after it.
func TestMalformedRequestJSON(t *testing.T) {
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n"
	cases := []struct {
		name, req string
		status    int
		kind      errs.Kind
		msg       string
	}{
		{"garbled request line", "GARBAGE\r\n\r\n", 400, errs.Invalid, "malformed request head"},
		{"no Host", "GET /v1/health HTTP/1.1\r\n\r\n", 400, errs.Invalid, "malformed request head: missing required Host header"},
		{"two Host fields", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, errs.Invalid, "malformed request head"},
		{"HTTP/9.9", "GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n", 505, errs.Invalid, "malformed request head: unsupported protocol version"},
		{"unknown transfer coding", "POST /v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, errs.NotImpl, "malformed request head: unsupported transfer encoding"},
		{"head over the limit", big, 431, errs.TooLarge, "request header section over"},
		{"unknown Expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n", 417, errs.Invalid, "malformed request head: an Expect other than 100-continue"},
		{"unknown Expect, proxied route", "POST /v1/storage/objects/x HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}", 417, errs.Invalid, "malformed request head: an Expect other than 100-continue"},
		{"unknown Expect, HTTP/1.0", "GET /v1/health HTTP/1.0\r\nExpect: foo\r\n\r\n", 417, errs.Invalid, "malformed request head: an Expect other than 100-continue"},
	}
	for _, fast := range []bool{true, false} {
		gw, _ := startGatewayWith(t, fast, "http://127.0.0.1:1", nil)
		for _, tc := range cases {
			resp, body, err := rawAnswer(gw.Addr, tc.req)
			if err != nil {
				t.Errorf("fast %v, %s: %v", fast, tc.name, err)
				continue
			}
			var e errs.Body
			jerr := json.Unmarshal(body, &e)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || jerr != nil {
				t.Errorf("fast %v, %s: %d %q %q, want a %d JSON error body", fast, tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
				continue
			}
			if e.Error.Kind != tc.kind || !strings.HasPrefix(e.Error.Message, tc.msg) || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(e.Error.RequestID) ||
				resp.Header.Get(errs.RequestIDHeader) != e.Error.RequestID || !resp.Close {
				t.Errorf("fast %v, %s: %+v (X-Request-Id %q, close %v), want kind %s, message %q...", fast, tc.name, e.Error,
					resp.Header.Get(errs.RequestIDHeader), resp.Close, tc.kind, tc.msg)
			}
		}
		// A handler's own answer that happens to look alike (text/plain,
		// Connection: close) is left alone: it has a Date field.
		resp, body, err := rawAnswer(gw.Addr, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if err != nil || resp.StatusCode != 503 || !bytes.Contains(body, []byte(`"daemons"`)) {
			t.Errorf("fast %v: GET /v1/health: %v %s", fast, err, body)
		}
	}
}

// rawAnswer sends req on a new connection and reads one answer.
func rawAnswer(addr, req string) (*http.Response, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Written aside: the server may answer (and stop reading) before a
	// large head is all sent.
	go io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("no HTTP answer: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// FuzzNetHTTPError, of the recognizer this relies on, is in internal/shared.
