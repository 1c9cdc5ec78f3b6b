package shared_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
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
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
)

// TestDaemonMalformedRequestJSON: a request net/http could not parse, sent
// straight to a daemon (not through the gateway), was answered with
// net/http's own text/plain "400 Bad Request" (a garbled request line,
// HTTP/9.9, an unknown Transfer-Encoding, a head over the limit, a control
// character in a field) or a bare 417 with no body (an unknown Expect); it
// now gets DESIGN.md's JSON error body with the same status, a request id
// (the X-Request-Id field too), X-Lakehouse-Error, and the connection
// closed after it — on a fresh connection and after a kept-alive request
// alike. Real storaged and ingestd, started through the harness; the
// daemons' own answers (a 3 MiB object, sent with sendfile through the
// harness's connection wrapper) pass unchanged.
func TestDaemonMalformedRequestJSON(t *testing.T) {
	cfg := stallConfig(t)
	st := startDaemon(t, cfg, "storaged", storaged.New)
	in := startDaemon(t, cfg, "ingestd", ingestd.New)

	big := "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", shared.MaxHeadBytes+4096) + "\r\n\r\n"
	cases := []struct {
		name, req string
		status    int
		kind      errs.Kind
		msg       string
	}{
		{"garbled request line", "GARBAGE\r\n\r\n", 400, errs.Invalid, "malformed request head"},
		{"no Host", "GET /health HTTP/1.1\r\n\r\n", 400, errs.Invalid, "malformed request head: missing required Host header"},
		{"two Host fields", "GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, errs.Invalid, "malformed request head"},
		{"HTTP/9.9", "GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505, errs.Invalid, "malformed request head: unsupported protocol version"},
		{"unknown transfer coding", "PUT /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, errs.NotImpl, "malformed request head: unsupported transfer encoding"},
		{"head over the limit", big, 431, errs.TooLarge, fmt.Sprintf("request header section over %d bytes", shared.DefaultHeaderBytes)},
		{"unknown Expect", "POST /v1/ingest?name=a HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\nab", 417, errs.Invalid, "malformed request head: an Expect other than 100-continue"},
		{"unknown Expect, HTTP/1.0", "GET /health HTTP/1.0\r\nExpect: foo\r\n\r\n", 417, errs.Invalid, "malformed request head: an Expect other than 100-continue"},
		{"control character in a field value", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400, errs.Invalid, "malformed request head"},
		{"control character in a field name", "GET /health HTTP/1.1\r\nHost: x\r\nX\x7fA: b\r\n\r\n", 400, errs.Invalid, "malformed request head"},
	}
	const valid = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, d := range []*shared.Server{st, in} {
		for _, keep := range []bool{false, true} {
			for _, tc := range cases {
				name := fmt.Sprintf("%s, %s (after a kept-alive request: %v)", d.Name, tc.name, keep)
				c, err := net.Dial("tcp", d.Addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				if keep {
					io.WriteString(c, valid)
					resp, err := http.ReadResponse(br, nil)
					if err != nil || resp.StatusCode != 200 {
						t.Fatalf("%s: the first request: %v", name, err)
					}
					io.Copy(io.Discard, resp.Body)
				}
				// Written aside: the daemon may answer (and stop reading)
				// before a large head is all sent.
				go io.WriteString(c, tc.req)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Errorf("%s: no HTTP answer: %v", name, err)
					c.Close()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				var e errs.Body
				jerr := json.Unmarshal(body, &e)
				if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || jerr != nil {
					t.Errorf("%s: %d %q %q, want a %d JSON error body", name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
				} else if e.Error.Kind != tc.kind || !strings.HasPrefix(e.Error.Message, tc.msg) || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(e.Error.RequestID) ||
					resp.Header.Get(errs.RequestIDHeader) != e.Error.RequestID || !resp.Close ||
					!strings.HasPrefix(resp.Header.Get(errs.ErrorHeader), string(tc.kind)+"; ") {
					t.Errorf("%s: %+v (X-Request-Id %q, X-Lakehouse-Error %q, close %v), want kind %s, message %q...", name, e.Error,
						resp.Header.Get(errs.RequestIDHeader), resp.Header.Get(errs.ErrorHeader), resp.Close, tc.kind, tc.msg)
				}
				// The daemon closes the connection: nothing more, then EOF.
				if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
					t.Errorf("%s: after the answer: %d more bytes, %v; want the connection closed", name, n, err)
				}
				c.Close()
			}
		}
	}

	// The daemon's own answers pass unchanged.
	blob := make([]byte, 3<<20)
	rand.Read(blob)
	req, _ := http.NewRequest("PUT", st.URL()+"/v1/storage/objects/blob", bytes.NewReader(blob))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(st.URL() + "/v1/storage/objects/blob")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || !bytes.Equal(got, blob) {
		t.Errorf("GET: %d, %d bytes, %v; want the object's %d", resp.StatusCode, len(got), err, len(blob))
	}
	resp, err = http.Get(st.URL() + "/v1/storage/objects/none")
	if err != nil {
		t.Fatal(err)
	}
	var e errs.Body
	if json.NewDecoder(resp.Body).Decode(&e) != nil || resp.StatusCode != 404 || e.Error.Kind != errs.NotFound {
		t.Errorf("GET of no object: %d %+v", resp.StatusCode, e)
	}
	resp.Body.Close()
}
