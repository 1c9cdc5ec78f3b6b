package embed_test

import (
	"bufio"
	"encoding/json"
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

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/embedd"
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

// TestEmbedAnswerToAClientThatNeverReads: the vectors of a big batch
// (10,000 texts, about 12 MB of JSON) to a client that sends it and never
// reads are cut once the write makes no progress for the stall bound: the
// handler returns (the in-flight gauge is back to zero) and the
// connection ends short of the answer. Without the bound the handler
// stayed blocked in its write, holding the answer and the connection, for
// as long as the client stayed connected.
// A slow client that keeps reading (about 2 MB/s, longer than the stall
// bound) gets every vector. Real embedd (builtin) through the harness.
func TestEmbedAnswerToAClientThatNeverReads(t *testing.T) {
	const stall = 4 * time.Second
	embed.SetAnswerStall(t, stall)
	cfg := inproc.Config(t)
	s := inproc.Start(t, cfg, "embedd", embedd.New)
	send := func(c net.Conn, n int) {
		texts := make([]string, n)
		for i := range texts {
			texts[i] = fmt.Sprintf("the quick brown fox %d jumps over the lazy dog", i)
		}
		b, _ := json.Marshal(map[string]any{"input": texts})
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", embed.RouteEmbed, len(b), b)
	}

	t.Run("never reads", func(t *testing.T) {
		c := dialSmallWindow(t, s.Addr)
		send(c, 10_000)
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
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.ContentLength <= 0 || n >= resp.ContentLength ||
			(err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("after the cut: %d, %d of %d bytes, %v; want 200, short, then the end", resp.StatusCode, n, resp.ContentLength, err)
		}
	})

	t.Run("slow reader", func(t *testing.T) {
		c := dialSmallWindow(t, s.Addr)
		start := time.Now()
		send(c, 10_000)
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
		var res embed.EmbedResponse
		if err := json.Unmarshal([]byte(all.String()), &res); err != nil || resp.StatusCode != 200 || resp.ContentLength >= 0 && total != resp.ContentLength || len(res.Embeddings) != 10_000 {
			t.Fatalf("%d, %d of %d bytes, %d vectors, %v", resp.StatusCode, total, resp.ContentLength, len(res.Embeddings), err)
		}
		if took := time.Since(start); took < stall {
			t.Fatalf("the slow read took %v: not slow enough to outlast the %v bound", took, stall)
		}
	})
}
