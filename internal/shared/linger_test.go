package shared_test

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

	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
)

// TestMalformedAnswerReadableWhileSending: a client that sends a malformed
// head (two Host fields, a control character in a field, an unknown
// Transfer-Encoding, an unknown Expect) followed by a 16 MiB body, written
// whole before it reads (as Python's http.client and most simple clients
// do), got "broken pipe" or "connection reset by peer" on its write: the
// daemon answered and closed with the body unread, which sends a reset. Now
// the daemon lingers (half-close, read and throw away, bounded): the write
// completes and the JSON answer is read after it, followed by end of
// stream. Real storaged through the harness.
func TestMalformedAnswerReadableWhileSending(t *testing.T) {
	cfg := stallConfig(t)
	st := startDaemon(t, cfg, "storaged", storaged.New)
	body := strings.Repeat("x", 16<<20)
	heads := []struct {
		name, head string
		status     int
	}{
		{"two Host fields", "PUT /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: %d\r\n\r\n", 400},
		{"control character in a field", "PUT /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\nContent-Length: %d\r\n\r\n", 400},
		{"unknown transfer coding", "PUT /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nX-Len: %d\r\n\r\n", 501},
		{"unknown Expect", "PUT /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: %d\r\n\r\n", 417},
	}
	for _, h := range heads {
		c, err := net.Dial("tcp", st.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(c, fmt.Sprintf(h.head, len(body))+body); err != nil {
			t.Errorf("%s: sending the body: %v (the daemon reset the connection before the client could read its answer)", h.name, err)
			c.Close()
			continue
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("%s: reading the answer: %v", h.name, err)
			c.Close()
			continue
		}
		var e struct {
			Error struct{ Kind, Message, RequestID string }
		}
		derr := json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != h.status || derr != nil || e.Error.Kind == "" {
			t.Errorf("%s: %d %+v %v, want %d with the JSON error body", h.name, resp.StatusCode, e, derr, h.status)
		}
		if n, err := io.Copy(io.Discard, br); err != nil || n != 0 {
			t.Errorf("%s: after the answer: %d bytes, %v; want end of stream", h.name, n, err)
		}
		c.Close()
	}

	// Bounded: a client that keeps sending after the answer is cut off
	// after shared.LingerTime, not read forever.
	c, err := net.Dial("tcp", st.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(20 * time.Second))
	fmt.Fprintf(c, "PUT /v1/storage/objects/a HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: %d\r\n\r\n", 1<<40)
	chunk := []byte(strings.Repeat("y", 4096))
	for {
		if _, err := c.Write(chunk); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
		if time.Since(start) > 15*time.Second {
			t.Fatal("the daemon still reads a malformed request's body after 15 s")
		}
	}
	if el := time.Since(start); el < shared.LingerTime-100*time.Millisecond {
		t.Errorf("cut off after %v, want about %v", el, shared.LingerTime)
	}
}

// TestEarlyAnswerReadableWhileSending: a client that writes a 16 MiB body
// whole before reading (Python's urllib and http.client do) to a daemon
// that answers without reading it — 413 for a Content-Length over
// max_body_bytes, 404 for an unknown route — got "connection reset by
// peer" instead of the answer: net/http half-closes and pauses 500 ms but
// reads nothing (with Connection: close, as urllib sends, it does not even
// pause), then closes with the body unread. Now the write completes and the
// JSON answer is read, also for a body 16 MiB over a 64 MiB limit.
// Real ingestd through the harness.
func TestEarlyAnswerReadableWhileSending(t *testing.T) {
	cfg := stallConfig(t)
	cfg.Section("ingestd").MaxBodyBytes = 1 << 20
	small := startDaemon(t, cfg, "ingestd", ingestd.New)
	cfg2 := stallConfig(t)
	cfg2.Section("ingestd").MaxBodyBytes = 64 << 20 // the daemons' usual default
	usual := startDaemon(t, cfg2, "ingestd", ingestd.New)
	for _, tc := range []struct {
		addr, path string
		size       int
		status     int
		extra      string // more header lines
	}{
		{small.Addr, "/v1/ingest?name=a", 16 << 20, 413, ""},
		{small.Addr, "/v1/nope", 16 << 20, 404, ""},
		// A body just over a 64 MiB limit is read out too (LingerBytes).
		{usual.Addr, "/v1/ingest?name=a", 80 << 20, 413, ""},
		// Connection: close (Python's urllib): net/http neither reads
		// on nor half-closes.
		{small.Addr, "/v1/ingest?name=a", 16 << 20, 413, "Connection: close\r\n"},
		{small.Addr, "/v1/nope", 16 << 20, 404, "Connection: close\r\n"},
	} {
		if tc.size > 64<<20 && testing.Short() {
			// 80 MiB read out within LingerTime (2 s): under -race on a
			// loaded host the daemon's linger ended first (a reset, as
			// designed for a sender that slow). A large transfer, left to
			// the full run.
			continue
		}
		body := strings.Repeat("x", tc.size)
		c, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n", tc.path, tc.extra, len(body))
		if _, err := io.WriteString(c, head+body); err != nil {
			t.Errorf("%s %q, %d bytes: sending the body: %v (the daemon reset the connection before the client could read its answer)", tc.path, tc.extra, tc.size, err)
			c.Close()
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("%s, %d bytes: reading the answer: %v", tc.path, tc.size, err)
			c.Close()
			continue
		}
		var e struct {
			Error struct{ Kind, Message string }
		}
		derr := json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode != tc.status || derr != nil || e.Error.Kind == "" {
			t.Errorf("%s, %d bytes: %d %+v %v, want %d with the JSON error body", tc.path, tc.size, resp.StatusCode, e, derr, tc.status)
		}
		c.Close()
	}
}
