package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestNetHTTPPathAnswerReadableWhileSending: a client that writes a 16 MiB
// body whole before reading (Python's urllib and http.client do) on a
// connection the gateway serves through net/http (the console page's 405,
// an unknown Expect's 417, two Host fields' 400; every request with the
// fast path off) got "broken pipe" or "connection reset by peer" on its
// write instead of the answer: net/http closed with the body unread. Now
// the gateway lingers, as the fast path and the daemons do: the write
// completes and the JSON answer is read.
func TestNetHTTPPathAnswerReadableWhileSending(t *testing.T) {
	body := strings.Repeat("x", 16<<20)
	cases := []struct {
		name, head string
		status     int
	}{
		{"POST on the console page", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 405},
		{"unknown Expect", "POST /v1/storage/objects/x HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: %d\r\n\r\n", 417},
		{"two Host fields", "POST / HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: %d\r\n\r\n", 400},
		// Python's urllib: net/http neither reads on nor half-closes.
		{"POST on the console page, Connection: close", "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", 405},
	}
	for _, fast := range []bool{true, false} {
		gw, _ := startGatewayWith(t, fast, "http://127.0.0.1:1", nil)
		for _, tc := range cases {
			name := fmt.Sprintf("fast %v, %s", fast, tc.name)
			c, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, fmt.Sprintf(tc.head, len(body))+body); err != nil {
				t.Errorf("%s: sending the body: %v (the gateway reset the connection before the client could read its answer)", name, err)
				c.Close()
				continue
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("%s: reading the answer: %v", name, err)
				c.Close()
				continue
			}
			var e errs.Body
			derr := json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || derr != nil || e.Error.Kind == "" {
				t.Errorf("%s: %d %+v %v, want %d with the JSON error body", name, resp.StatusCode, e, derr, tc.status)
			}
			c.Close()
		}
	}
}
