package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// An answer that breaks before any byte of it reached the client (the
// daemon closes after its head, sends a bad first chunk, stalls past the
// request timeout after its head) gets DESIGN.md's error body naming the
// daemon — 502 unavailable, or 504 timeout — logged and counted like any
// other upstream failure, on both paths. The fast path closed the client
// connection without a byte (the head was still in its buffer); the
// net/http path sent the daemon's head, then cut the connection.
func TestAnswerBrokenBeforeClient(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		status       int
		kind         string
		fastOnly     bool
	}{
		{"head then close", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + closeMark, 502, "unavailable", false},
		{"bad first chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" + closeMark, 502, "unavailable", false},
		{"chunked, closed before a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + closeMark, 502, "unavailable", false},
		{"head then stall", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + lateMark + closeMark, 504, "timeout", false},
		// On the fast path the first bytes of the body are still in the
		// gateway's buffer too; net/http has written them into its own.
		{"part of the body then close", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc" + closeMark, 502, "unavailable", true},
		{"part of the body then stall", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc" + lateMark + closeMark, 504, "timeout", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths(t, func(t *testing.T, fast bool) {
				if tc.fastOnly && !fast {
					t.Skip("net/http has already taken the first body bytes")
				}
				up := newRawUpstream(t, func(r *http.Request, body []byte) string { return tc.answer })
				gw, logs := startGatewayWith(t, fast, up.url(), func(c *shared.Config) {
					c.Gateway.RequestTimeout = shared.Duration{Duration: 50 * time.Millisecond}
				})
				for _, m := range []string{"GET", "POST"} {
					req := m + " /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\n\r\n"
					if m == "POST" {
						req = m + " /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
					}
					answers, bodies, _ := exchange(t, gw.Addr, req, 1, false)
					if len(answers) != 1 {
						t.Fatalf("%s: the connection closed without an answer", m)
					}
					wantJSONError(t, answers[0], bodies[0], tc.status, tc.kind)
					if tc.status == 502 && !strings.Contains(bodies[0], "daemon storaged") {
						t.Fatalf("%s: %q does not name the daemon", m, bodies[0])
					}
				}
				deadline := time.Now().Add(2 * time.Second)
				for strings.Count(logs.String(), fmt.Sprintf("status=%d", tc.status)) < 2 {
					if time.Now().After(deadline) {
						t.Fatalf("no two access lines with status %d:\n%s", tc.status, logs.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
				if tc.status == 502 && strings.Count(logs.String(), `msg="upstream failed"`) < 2 {
					t.Fatalf("the failures were not logged:\n%s", logs.String())
				}
			})
		})
	}
}
