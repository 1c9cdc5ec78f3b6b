package observer_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/observer"
)

// dialStream opens a raw stream connection and reads up to ": connected".
func dialStream(t *testing.T, addr string) net.Conn {
	t.Helper()
	cn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	cn.SetDeadline(time.Now().Add(10 * time.Second))
	cn.Write([]byte("GET " + observer.StreamPath + " HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufio.NewReader(cn)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, ": connected") {
			return cn
		}
	}
}

// TestHTTPStreamsBounded: at most observer.MaxStreams streams are open at
// once; one more is a 503 unavailable naming the bound (each holds a
// buffer of up to 1,024 events and nothing bounded how many an agent could
// open). A stream whose client vanished frees its place (ADR-088).
func TestHTTPStreamsBounded(t *testing.T) {
	s, _ := start(t, config(t), 0)
	addr := strings.TrimPrefix(s.URL(), "http://")
	conns := make([]net.Conn, observer.MaxStreams)
	for i := range conns {
		conns[i] = dialStream(t, addr)
	}
	c := &http.Client{Timeout: 3 * time.Second} // a stream wrongly accepted never ends
	resp, err := c.Get(s.URL() + observer.StreamPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var b errs.Body
	json.Unmarshal(body, &b)
	if resp.StatusCode != 503 || b.Error.Kind != "unavailable" || !strings.Contains(b.Error.Message, "streams are open, at most 100") {
		t.Fatalf("stream %d: %d %s", observer.MaxStreams+1, resp.StatusCode, body)
	}
	// The client of one vanishes: its place is free again.
	conns[0].(*net.TCPConn).SetLinger(0)
	conns[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, s.URL(), "lakehouse_observer_stream_subscribers") != "lakehouse_observer_stream_subscribers 99" {
		if time.Now().After(deadline) {
			t.Fatalf("a vanished client's stream stayed open: %s", metric(t, s.URL(), "lakehouse_observer_stream_subscribers"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	dialStream(t, addr)
}
