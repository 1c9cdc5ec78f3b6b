package shared_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/syncbuf"
)

// TestAccessLineBoundsLongRequest: a request head may be 1 MiB (the most
// max_header_bytes may be, ADR-198), and a
// client without the token chooses its path and method (a 404 for a path
// no route has, a 405 for an extension method, a 401 on the gateway's /v1
// prefixes all get an access line). Each wrote its path or method whole,
// so such a client grew the log by as many bytes as it sent (a 400 KB
// path = a 400 KB line). The line now keeps 4096 bytes of the path and 64
// of the method, marked with their length; a normal request's line is
// unchanged. Real daemon, real TCP, both log formats.
func TestAccessLineBoundsLongRequest(t *testing.T) {
	const n = 400_000
	long := "/v1/" + strings.Repeat("a", n)
	method := strings.Repeat("M", 100_000)
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			cfg := stallConfig(t)
			cfg.Auth.Token = "tok"
			cfg.Matrixd.MaxHeaderBytes = shared.MaxHeadBytes
			cfg.Log.Access, cfg.Log.Format, cfg.Log.Level = true, format, "info"
			var log syncbuf.Buffer
			s, err := shared.Start(context.Background(), "matrixd", cfg, bigJSON(10), &log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(context.Background()) })
			reqs := []struct {
				head string
				want int
			}{
				{"GET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNotFound},
				{"GET /" + strings.Repeat("b", n) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n", http.StatusNotFound},
				{method + " /v1/big HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
				{"GET /v1/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n", http.StatusOK},
			}
			for _, r := range reqs {
				if got := rawStatus(t, s.Addr, r.head); got != r.want {
					t.Fatalf("%.40q: status %d, want %d", r.head, got, r.want)
				}
			}
			var lines []string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				lines = lines[:0]
				for _, l := range strings.Split(log.String(), "\n") {
					if strings.Contains(l, "msg=request") || strings.Contains(l, `"msg":"request"`) {
						lines = append(lines, l)
					}
				}
				if len(lines) >= len(reqs) || time.Now().After(deadline) {
					break
				}
			}
			if len(lines) != len(reqs) {
				t.Fatalf("%d access lines, want %d", len(lines), len(reqs))
			}
			// Each line is written once its answer is out: their order
			// may differ from the requests'.
			marks := []string{`GET /v1/aaa`, `GET /bbb`, `"MMM`, `GET /v1/big"`}
			cut := []string{fmt.Sprintf("...(%d bytes)", len(long)), fmt.Sprintf("...(%d bytes)", n+1), fmt.Sprintf("...(%d bytes)", len(method)), ""}
			for i, mark := range marks {
				var l string
				for _, x := range lines {
					if strings.Contains(x, mark) || strings.Contains(x, `op=`+mark) {
						l = x
					}
				}
				if l == "" {
					t.Errorf("no access line with %q", mark)
					continue
				}
				if len(l) > 4096+512 {
					t.Errorf("access line of %q is %d bytes: %.120s...", mark, len(l), l)
				}
				if cut[i] != "" && !strings.Contains(l, cut[i]) {
					t.Errorf("access line %.200q: want the cut's mark %q", l, cut[i])
				}
				if cut[i] == "" && strings.Contains(l, "...(") {
					t.Errorf("access line of a normal request is marked cut: %q", l)
				}
			}
		})
	}
}

// rawStatus sends head on a new connection and returns the answer's status.
func rawStatus(t *testing.T, addr, head string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRouteErrorBoundsEcho: the 404 for a path no route has and the 405
// for a method a route does not take name the path and method cut as in
// the access line; both echoed them whole (a 400 KB path = a 400 KB body,
// to a client without the token).
func TestRouteErrorBoundsEcho(t *testing.T) {
	cfg := stallConfig(t)
	cfg.Auth.Token = "tok"
	cfg.Matrixd.MaxHeaderBytes = shared.MaxHeadBytes // a head of 1 MiB (ADR-198)
	s, err := shared.Start(context.Background(), "matrixd", cfg, bigJSON(10), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	path := "/" + strings.Repeat("p", 400_000)
	method := strings.Repeat("M", 100_000)
	for _, c := range []struct {
		head, want string
		status     int
	}{
		{"GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n", fmt.Sprintf("no route GET /ppp%s...(%d bytes) on matrixd", strings.Repeat("p", 4096-4), len(path)), http.StatusNotFound},
		{method + " /v1/big HTTP/1.1\r\nHost: x\r\n\r\n", fmt.Sprintf("method %s...(%d bytes) not allowed on /v1/big", strings.Repeat("M", 64), len(method)), http.StatusMethodNotAllowed},
		{"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "no route GET /nope on matrixd", http.StatusNotFound},
	} {
		c2, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c2, c.head)
		resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
		if err != nil {
			t.Fatal(err)
		}
		var body errs.Body
		b, _ := io.ReadAll(resp.Body)
		c2.Close()
		json.Unmarshal(b, &body)
		if resp.StatusCode != c.status || len(b) > 4096+512 || body.Error.Message != c.want {
			t.Errorf("%.30q: %d, a body of %d bytes %.200q; want %d saying %.100q", c.head, resp.StatusCode, len(b), b, c.status, c.want)
		}
	}
}
