package shared_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/slowclient"
)

// answerServer serves a body of n bytes through WriteAnswer, AnswerStall
// set to stall until t ends; each handler's end (and its error) is sent on
// the channel.
func answerServer(t *testing.T, n int, stall, writeTimeout time.Duration) (*httptest.Server, chan error) {
	slowclient.SetAnswerStall(t, stall)
	body := bytes.Repeat([]byte("x"), n)
	done := make(chan error, 4)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		done <- shared.WriteAnswer(w, r, http.StatusOK, body)
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
	c := slowclient.DialSmallWindow(t, ts.Listener.Addr().String())
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
		read(t, slowclient.DialSmallWindow(t, ts.Listener.Addr().String()), 0, true)
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
		read(t, slowclient.DialSmallWindow(t, ts.Listener.Addr().String()), 4*stall, false)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// bigJSON is a daemon whose GET /v1/big answers n bytes of JSON through
// shared.WriteJSON, as every daemon's routes answer.
func bigJSON(n int) shared.Builder {
	v := map[string]string{"pad": strings.Repeat("x", n)}
	return func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(r chi.Router) {
			r.Get("/v1/big", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				return shared.WriteJSON(w, http.StatusOK, v)
			}))
		}}, nil
	}
}

// TestWriteJSONOnADaemonRoute: WriteJSON on a daemon's route (the
// harness's writer) writes as WriteAnswer, bounded by AnswerStall: a 12 MB
// answer to a client that never reads is cut (it held the handler, the
// answer and the connection as long as the client stayed connected), with
// a Content-Length. With the section's write_timeout, that bound is in
// charge: a client that pauses three stall bounds before it reads gets
// everything.
func TestWriteJSONOnADaemonRoute(t *testing.T) {
	const n = 12 << 20
	const stall = time.Second
	slowclient.SetAnswerStall(t, stall)
	req := slowclient.Request("GET", "/v1/big", nil)
	t.Run("never reads", func(t *testing.T) {
		s, err := shared.Start(context.Background(), "matrixd", stallConfig(t), bigJSON(n), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		slowclient.NeverReads(t, s, req, 20*time.Second)
	})
	t.Run("write_timeout", func(t *testing.T) {
		cfg := stallConfig(t)
		cfg.Matrixd.WriteTimeout = shared.Duration{Duration: time.Minute}
		s, err := shared.Start(context.Background(), "matrixd", cfg, bigJSON(n), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		c := slowclient.DialSmallWindow(t, s.Addr)
		c.Write(req)
		time.Sleep(3 * stall)
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != 200 || got != resp.ContentLength || got < n {
			t.Fatalf("%d, %d of %d bytes, %v; want 200 and the whole answer", resp.StatusCode, got, resp.ContentLength, err)
		}
	})
}
