package queryd_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/testutil/inproc"
)

// dialSmallWindow dials addr with a 4 KiB receive buffer (set before the
// connect, so the window it advertises stays small).
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var inFlight = regexp.MustCompile(`(?m)^lakehouse_http_in_flight_requests\{[^}]*\} (\d+)$`)

// othersInFlight is the daemon's in-flight request gauge less the scrape.
func othersInFlight(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := inFlight.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no in-flight gauge on /metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n - 1
}

// TestJSONAnswerToAClientThatNeverReads: a json answer (30 MB) to a client
// that sends its query and never reads is cut once the write makes no
// progress for the stall bound: the handler returns (the in-flight gauge
// is back to zero) and the connection ends short of the answer. Without
// the bound the handler stayed blocked in its write, holding the built
// answer (up to 128 MiB) and the connection, for as long as the client
// stayed connected.
// A slow client that keeps reading (about 2 MB/s, a 12 MB answer: longer
// than the stall bound) gets the whole answer.
func TestJSONAnswerToAClientThatNeverReads(t *testing.T) {
	const stall = 4 * time.Second
	queryd.SetWriteStall(t, stall)
	cfg := inproc.Config(t)
	cfg.Queryd.MaxRows = 10_000_000
	s := inproc.Start(t, cfg, "queryd", queryd.New)
	send := func(c net.Conn, rows int) {
		body := fmt.Sprintf(`{"sql":"SELECT range AS id, repeat('x', 1000) AS pad FROM range(%d)"}`, rows)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", query.Route, len(body), body)
	}

	t.Run("never reads", func(t *testing.T) {
		c := dialSmallWindow(t, s.Addr)
		send(c, 30_000)
		sent := time.Now()
		time.Sleep(500 * time.Millisecond)
		for othersInFlight(t, s.URL()) != 0 {
			if time.Since(sent) > 20*time.Second {
				t.Fatalf("the answer to a client that never reads is still being written after %v (stall bound %v)",
					time.Since(sent).Round(time.Millisecond), stall)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// What the buffers held, then the end: short of the answer.
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || n >= resp.ContentLength || (err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("after the cut: %d, %d of %d bytes, %v; want 200, short, then the end", resp.StatusCode, n, resp.ContentLength, err)
		}
	})

	t.Run("slow reader", func(t *testing.T) {
		c := dialSmallWindow(t, s.Addr)
		start := time.Now()
		send(c, 12_000)
		c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
		if err != nil {
			t.Fatal(err)
		}
		var total, since int64
		buf := make([]byte, 32<<10)
		var all strings.Builder
		for {
			m, err := resp.Body.Read(buf)
			total += int64(m)
			all.Write(buf[:m])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d of %d bytes in %v: %v", total, resp.ContentLength, time.Since(start).Round(time.Millisecond), err)
			}
			if since += int64(m); since >= 64<<10 {
				since = 0
				time.Sleep(30 * time.Millisecond)
			}
		}
		if resp.StatusCode != 200 || total != resp.ContentLength || !strings.Contains(all.String(), `"row_count":12000,"truncated":false`) {
			t.Fatalf("%d, %d of %d bytes: %.200s", resp.StatusCode, total, resp.ContentLength, all.String())
		}
		if took := time.Since(start); took < stall {
			t.Fatalf("the slow read took %v: not slow enough to outlast the %v bound", took, stall)
		}
	})
}
