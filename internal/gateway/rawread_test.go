package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// pair returns a connected loopback TCP pair (client side, server side).
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// The flush runs inside the read, and the answer to it — sent at once,
// late, or in pieces — is read; nothing is lost between flush and wait.
func TestRawReaderFlushThenRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		parts int
	}{{"immediate", 0, 1}, {"late", 30 * time.Millisecond, 1}, {"pieces", 5 * time.Millisecond, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t)
			go func() { // echo server: answers each line with "re:"+line, in parts
				br := bufio.NewReader(s)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					ans := "re:" + line
					step := (len(ans) + tc.parts - 1) / tc.parts
					for i := 0; i < len(ans); i += step {
						time.Sleep(tc.delay)
						s.Write([]byte(ans[i:min(i+step, len(ans))]))
					}
				}
			}()
			rr := newRawReader(c)
			if rr.rc == nil {
				t.Fatal("a TCP conn must give a RawConn")
			}
			bw := bufio.NewWriter(c)
			br := bufio.NewReader(rr)
			for i := 0; i < 200; i++ {
				msg := strings.Repeat("x", i%7) + "ping\n"
				bw.WriteString(msg)
				flushed := false
				rr.pre = func() error { flushed = true; return bw.Flush() }
				got, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if !flushed || got != "re:"+msg {
					t.Fatalf("round %d: flushed=%v got %q", i, flushed, got)
				}
				if rr.pre != nil {
					t.Fatal("pre not cleared")
				}
				if tc.delay > 0 && i >= 5 {
					break
				}
			}
		})
	}
}

func TestRawReaderEOFDeadlineAndErrors(t *testing.T) {
	t.Run("eof", func(t *testing.T) {
		c, s := pair(t)
		rr := newRawReader(c)
		rr.pre = func() error { s.Close(); return nil }
		if n, err := rr.Read(make([]byte, 16)); n != 0 || err != io.EOF {
			t.Fatalf("got %d, %v; want EOF", n, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, _ := pair(t)
		rr := newRawReader(c)
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		rr.pre = func() error { return nil }
		start := time.Now()
		_, err := rr.Read(make([]byte, 16))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %v; want a deadline error", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("deadline did not interrupt the wait")
		}
	})
	t.Run("abort during the wait", func(t *testing.T) {
		c, _ := pair(t)
		rr := newRawReader(c)
		rr.pre = func() error {
			time.AfterFunc(30*time.Millisecond, func() { c.SetDeadline(shared.PastDeadline) })
			return nil
		}
		if _, err := rr.Read(make([]byte, 16)); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("pre error", func(t *testing.T) {
		c, _ := pair(t)
		rr := newRawReader(c)
		boom := errors.New("boom")
		rr.pre = func() error { return boom }
		if _, err := rr.Read(make([]byte, 16)); err != boom {
			t.Fatalf("got %v; want the step's error", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		c, s := pair(t)
		rr := newRawReader(c)
		rr.pre = func() error {
			s.(*net.TCPConn).SetLinger(0)
			s.Close() // RST
			return nil
		}
		_, err := rr.Read(make([]byte, 16))
		var oe *net.OpError
		if err == nil || (err != io.EOF && !errors.As(err, &oe)) {
			t.Fatalf("got %v; want EOF or a *net.OpError", err)
		}
	})
	t.Run("no step: plain read", func(t *testing.T) {
		c, s := pair(t)
		rr := newRawReader(c)
		s.Write([]byte("hello"))
		b := make([]byte, 16)
		n, err := rr.Read(b)
		if err != nil || string(b[:n]) != "hello" {
			t.Fatalf("got %q, %v", b[:n], err)
		}
	})
}

// Not a socket: the step runs, then a plain read.
func TestRawReaderPipeFallback(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	rr := newRawReader(a)
	if rr.rc != nil {
		t.Fatal("net.Pipe has no RawConn")
	}
	rr.pre = func() error { go b.Write([]byte("x")); return nil }
	buf := make([]byte, 4)
	if n, err := rr.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

// rawWriter: a write larger than the socket buffers waits for the reader
// (EAGAIN path) and arrives whole; a write deadline interrupts it; a
// write to a reset connection reports an error.
func TestRawWriter(t *testing.T) {
	t.Run("large write to a slow reader", func(t *testing.T) {
		c, s := pair(t)
		w := newRawWriter(c)
		if _, ok := w.(*rawWriter); !ok {
			t.Fatal("a TCP conn must give a rawWriter")
		}
		want := make([]byte, 8<<20)
		for i := range want {
			want[i] = byte(i * 7)
		}
		got := make(chan []byte)
		go func() {
			var b []byte
			buf := make([]byte, 4096)
			for len(b) < len(want) {
				time.Sleep(time.Microsecond)
				n, err := s.Read(buf)
				b = append(b, buf[:n]...)
				if err != nil {
					break
				}
			}
			got <- b
		}()
		n, err := w.Write(want)
		if err != nil || n != len(want) {
			t.Fatalf("wrote %d, %v", n, err)
		}
		if b := <-got; string(b) != string(want) {
			t.Fatalf("read %d bytes, not what was written", len(b))
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, _ := pair(t) // nobody reads
		w := newRawWriter(c)
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := w.Write(make([]byte, 64<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %v; want a deadline error", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		c, s := pair(t)
		s.(*net.TCPConn).SetLinger(0)
		s.Close()
		time.Sleep(20 * time.Millisecond)
		w := newRawWriter(c)
		var err error
		for i := 0; i < 100 && err == nil; i++ { // the first write may be accepted before the RST is seen
			_, err = w.Write([]byte("hello"))
			time.Sleep(time.Millisecond)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) {
			t.Fatalf("got %v; want a *net.OpError", err)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		if w := newRawWriter(a); w != io.Writer(a) {
			t.Fatal("net.Pipe should be written directly")
		}
	})
}

// alive's peek (ADR-096, ADR-144): an idle open connection is alive; one
// with unread bytes or closed by the daemon is not; and a peek allocates
// nothing (its callback was a closure allocated per peek, and a busy
// gateway peeks on a fifth to a third of its requests).
func TestAlivePeek(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			acc <- c
		}
	}()
	u := newUpstream(ln.Addr().String(), 4, 0)
	dial := func() (*upConn, net.Conn) {
		uc, err := u.dial(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s := <-acc
		t.Cleanup(func() { uc.c.Close(); s.Close() })
		return uc, s
	}
	waitDead := func(uc *upConn, what string) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); uc.alive(); {
			if time.Now().After(end) {
				t.Fatalf("alive after %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}

	uc, s := dial()
	if uc.rr.rc == nil {
		t.Fatal("a TCP conn must give a RawConn")
	}
	if !uc.alive() {
		t.Fatal("an idle open connection is not alive")
	}
	if n := testing.AllocsPerRun(200, func() {
		if !uc.alive() {
			t.Fatal("not alive")
		}
	}); n != 0 {
		t.Errorf("alive allocates %v times per peek, want 0", n)
	}
	s.Write([]byte("HTTP/1.1 200 OK\r\n"))
	waitDead(uc, "the daemon sent bytes nobody asked for")
	// The peek leaves the bytes where they were.
	if b, err := uc.br.Peek(5); err != nil || string(b) != "HTTP/" {
		t.Fatalf("after the peek: %q %v", b, err)
	}

	uc2, s2 := dial()
	if !uc2.alive() {
		t.Fatal("a second idle connection is not alive")
	}
	s2.Close()
	waitDead(uc2, "the daemon closed")
}
