package shared_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// dialSmallWindow dials addr with a 4 KiB receive buffer (set before the
// connect, so the window it advertises stays small): a client whose
// socket fills after a few KiB of an answer it does not read.
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

// answerServer serves a body of n bytes through WriteAnswer with stall;
// each handler's end (and its error) is sent on the channel.
func answerServer(t *testing.T, n int, stall, writeTimeout time.Duration) (*httptest.Server, chan error) {
	body := bytes.Repeat([]byte("x"), n)
	done := make(chan error, 4)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		done <- shared.WriteAnswer(w, r, http.StatusOK, body, stall)
	}))
	ts.Config.WriteTimeout = writeTimeout
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, done
}

// TestWriteAnswerToAClientThatNeverReads: a client that sends its request
// and never reads the answer is cut after the stall bound: the handler
// returns with a Timeout and the connection ends short of the answer.
// Without the bound the write blocked until the client went away.
func TestWriteAnswerToAClientThatNeverReads(t *testing.T) {
	const n = 32 << 20 // far more than the socket buffers hold
	stall := 300 * time.Millisecond
	ts, done := answerServer(t, n, stall, 0)
	c := dialSmallWindow(t, ts.Listener.Addr().String())
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the write to a client that never reads succeeded")
		}
	case <-time.After(stall + 10*time.Second):
		t.Fatal("the write to a client that never reads still blocks 10 s past its stall bound")
	}
	// The connection is closed: what the buffers held, then the end.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.Copy(io.Discard, c)
	if got >= n || (err != nil && !isReset(err)) {
		t.Fatalf("after the cut: read %d bytes, %v; want fewer than %d, then the end", got, err, n)
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// TestWriteAnswerToASlowReader: a client that reads slowly but steadily
// (about 2 MB/s) gets the whole answer, though its write lasts several
// stall bounds; with a server WriteTimeout, a pause longer than the stall
// bound does not cut the answer (the operator's bound is in charge).
//
// The writer sees progress when the kernel wakes it, after about a
// quarter of the socket's send buffer drained (4 MiB on loopback: steps of
// about 1 MiB, half a second here), so the steady reader's bound is 4 s:
// a reader slowed to a sixth by a loaded host is still not cut.
func TestWriteAnswerToASlowReader(t *testing.T) {
	const n = 12 << 20
	read := func(t *testing.T, c net.Conn, pause time.Duration, paced bool) {
		t.Helper()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		time.Sleep(pause)
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if cl, _ := strconv.Atoi(resp.Header.Get("Content-Length")); cl != n {
			t.Fatalf("Content-Length %q, want %d", resp.Header.Get("Content-Length"), n)
		}
		var total, since int
		buf := make([]byte, 32<<10)
		for {
			m, err := resp.Body.Read(buf)
			total += m
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", total, err)
			}
			if since += m; paced && since >= 64<<10 {
				since = 0
				time.Sleep(30 * time.Millisecond)
			}
		}
		if total != n {
			t.Fatalf("read %d bytes, want %d", total, n)
		}
	}
	t.Run("steady", func(t *testing.T) {
		stall := 4 * time.Second
		ts, done := answerServer(t, n, stall, 0)
		start := time.Now()
		read(t, dialSmallWindow(t, ts.Listener.Addr().String()), 0, true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < stall {
			t.Fatalf("the slow read took %v: not slow enough to outlast the %v bound", took, stall)
		}
	})
	t.Run("write_timeout", func(t *testing.T) {
		stall := 300 * time.Millisecond
		ts, done := answerServer(t, n, stall, 30*time.Second)
		read(t, dialSmallWindow(t, ts.Listener.Addr().String()), 4*stall, false)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
