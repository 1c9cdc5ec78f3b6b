// Package slowclient is the two clients of the stall tests — a daemon's
// whole answer (shared.WriteAnswer, shared.WriteJSON: AnswerBound), a
// streamed object (storaged) and the gateway's sends: one that sends its
// request and never reads the answer (NeverReads), one that reads it
// slowly but steadily (ReadSlowly, Pace). Both speak raw HTTP/1.1 over a
// TCP connection with a small receive buffer, so the daemon's write fills
// the socket buffers after a few MiB. Test support only: no daemon
// imports it.
package slowclient

import (
	"bufio"
	"bytes"
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

	"lakehouse-go/internal/shared"
)

// Request is a raw HTTP/1.1 request: method on path with body (none when
// nil) as application/json.
func Request(method, path string, body []byte) []byte {
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n", method, path)
	if body != nil {
		head += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	return append([]byte(head+"\r\n"), body...)
}

// DialSmallWindow dials addr with a 4 KiB receive buffer (set before the
// connect, so the window it advertises stays small), closed when t ends.
func DialSmallWindow(t testing.TB, addr string) net.Conn {
	t.Helper()
	return dial(t, addr, 4096)
}

// dial dials addr with a receive buffer of rcvbuf bytes.
func dial(t testing.TB, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
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

// OthersInFlight is s's in-flight request gauge less the scrape.
func OthersInFlight(t testing.TB, s *shared.Server) int {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
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

// NeverReads sends req to s (nothing else in flight there) and never
// reads: it fails t unless the request's handler has ended within
// `within` of the send (s's in-flight gauge back to 0, after it was seen
// at 1), and the connection then holds a 200 short of its Content-Length
// before its end — what the buffers took before the daemon cut it.
// Without a bound the handler stays in its write as long as the client
// stays connected. Returns how long the handler took to end.
func NeverReads(t testing.TB, s *shared.Server, req []byte, within time.Duration) time.Duration {
	t.Helper()
	return NeverReadsThrough(t, s, req, within)
}

// NeverReadsThrough is NeverReads where s passes the request on to the
// daemons in next (the gateway to a daemon): each one's in-flight gauge
// must be seen at 1, all at once (a request that ended just before, as a
// PUT's, may be seen for a moment), and then all of them back to 0 at
// once, within `within` of the send.
func NeverReadsThrough(t testing.TB, s *shared.Server, req []byte, within time.Duration, next ...*shared.Server) time.Duration {
	t.Helper()
	all := append([]*shared.Server{s}, next...)
	gauges := func() (n []int, any, one bool) {
		one = true
		for _, d := range all {
			g := OthersInFlight(t, d)
			n = append(n, g)
			any = any || g != 0
			one = one && g == 1
		}
		return n, any, one
	}
	c := DialSmallWindow(t, s.Addr)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for { // the request reached every daemon
		n, _, one := gauges()
		if one {
			break
		}
		if time.Since(sent) > within {
			t.Fatalf("the request was not seen in flight (1 at each) within %v: %s", within, inFlightList(all, n))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		n, any, _ := gauges()
		if !any {
			break
		}
		if time.Since(sent) > within {
			t.Fatalf("the answer to a client that never reads is still being written after %v: in flight %s",
				time.Since(sent).Round(time.Millisecond), inFlightList(all, n))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(sent)
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.ContentLength <= 0 || n >= resp.ContentLength ||
		(err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("after the cut: %d, %d of %d bytes, %v; want 200, short, then the end", resp.StatusCode, n, resp.ContentLength, err)
	}
	return took
}

// inFlightList is "name n, name n" for daemons all with gauges n.
func inFlightList(all []*shared.Server, n []int) string {
	var b strings.Builder
	for i, d := range all {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", d.Name, n[i])
	}
	return b.String()
}

// Pace is a slow reader: never ahead of Rate bytes a second, through a
// receive buffer of Window bytes (set before the connect).
type Pace struct {
	Rate, Window int
}

// Slowly is ReadSlowly's pace: 2 MiB/s through a 64 KiB receive buffer
// (the daemon's write waits on the reads; a 4 KiB one made the transfer
// cost so much CPU in small segments that a loaded host slowed it below
// the bound's drain).
//
// The daemon's write sees progress when the kernel wakes it, after about
// a third of the socket's send buffer drained (up to 4 MiB on loopback),
// so a bound of 4 s cuts a reader slower than about 0.35 MB/s: this one
// has a margin of six. An answer larger than twice atLeast in MiB is
// read for longer than atLeast.
var Slowly = Pace{Rate: 2 << 20, Window: 64 << 10}

// ReadSlowly is Slowly.Read.
func ReadSlowly(t testing.TB, addr string, req []byte, atLeast time.Duration) (int, []byte) {
	t.Helper()
	return Slowly.Read(t, addr, req, atLeast)
}

// Read sends req to addr and reads the answer slowly but steadily, at p.
// It fails t on a read error, on an answer short of its Content-Length,
// or when the read took less than atLeast (not slow enough to outlast the
// bound under test). Returns the status and the whole body.
func (p Pace) Read(t testing.TB, addr string, req []byte, atLeast time.Duration) (int, []byte) {
	t.Helper()
	c := dial(t, addr, p.Window)
	start := time.Now()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	buf := make([]byte, 64<<10)
	for {
		m, err := resp.Body.Read(buf)
		all = append(all, buf[:m]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d of %d bytes in %v: %v", len(all), resp.ContentLength, time.Since(start).Round(time.Millisecond), err)
		}
		// Not ahead of p.Rate: what was read by now takes that long.
		if d := time.Until(start.Add(time.Duration(len(all)) * time.Second / time.Duration(p.Rate))); d > 0 {
			time.Sleep(d)
		}
	}
	if resp.ContentLength >= 0 && int64(len(all)) != resp.ContentLength {
		t.Fatalf("%d, %d of %d bytes", resp.StatusCode, len(all), resp.ContentLength)
	}
	if took := time.Since(start); took < atLeast {
		t.Fatalf("the slow read of %d bytes took %v: not slow enough to outlast %v", len(all), took, atLeast)
	}
	return resp.StatusCode, all
}

// Stall is what AnswerBound shortens shared.AnswerStall to: an answer of
// 12 MB read at Slowly's pace outlasts it.
const Stall = 4 * time.Second

// AnswerBound checks that s's answers are bounded by shared.AnswerStall
// (shortened to Stall until t ends), nothing else in flight at s:
//   - "never reads": a client that sends never and never reads is released
//     (NeverReads, within 20 s): without the bound the handler stays in its
//     write, holding the answer and the connection, for as long as the
//     client stays connected;
//   - "slow reader": a client that sends slow and keeps reading
//     (ReadSlowly, for longer than Stall) gets the whole answer: check gets
//     its status and body.
//
// Each answer must be larger than the socket buffers (a few MiB), slow's
// larger than 8 MB.
func AnswerBound(t *testing.T, s *shared.Server, never, slow []byte, check func(t *testing.T, code int, body []byte)) {
	t.Helper()
	SetAnswerStall(t, Stall)
	t.Run("never reads", func(t *testing.T) {
		NeverReads(t, s, never, 20*time.Second)
	})
	t.Run("slow reader", func(t *testing.T) {
		code, body := ReadSlowly(t, s.Addr, slow, Stall)
		check(t, code, body)
	})
}

// SetAnswerStall sets shared.AnswerStall (the bound of every daemon's
// JSON answers, shared.WriteJSON) to d until t ends.
func SetAnswerStall(t testing.TB, d time.Duration) {
	old := shared.AnswerStall
	shared.AnswerStall = d
	t.Cleanup(func() { shared.AnswerStall = old })
}

// SendBound checks that front's streamed answer to get, the object want
// (tens of MiB), is bounded by a send stall of stall (already set),
// nothing else in flight at front and next:
//   - "never reads": a client that sends get and never reads is released
//     (NeverReadsThrough front and next, within five stalls and 10 s: the
//     cut comes one to two stalls after the last byte the socket took,
//     and the kernel takes bytes for a while after the client's window
//     closed);
//   - "slow reader": a client that reads 8 MiB a stall through a 4 KiB
//     receive buffer, for longer than two stalls, gets want byte for
//     byte.
func SendBound(t *testing.T, front *shared.Server, get, want []byte, stall time.Duration, next ...*shared.Server) {
	t.Helper()
	t.Run("never reads", func(t *testing.T) {
		took := NeverReadsThrough(t, front, get, 5*stall+10*time.Second, next...)
		t.Logf("ended after %v", took.Round(time.Millisecond))
	})
	t.Run("slow reader", func(t *testing.T) {
		start := time.Now()
		slow := Pace{Rate: int(float64(8<<20) / stall.Seconds()), Window: 4 << 10}
		code, got := slow.Read(t, front.Addr, get, 2*stall)
		if code != 200 || !bytes.Equal(got, want) {
			t.Fatalf("slow reader: %d, %d bytes, not the object's %d", code, len(got), len(want))
		}
		t.Logf("slow reader: %d bytes in %v", len(got), time.Since(start).Round(time.Millisecond))
	})
}
