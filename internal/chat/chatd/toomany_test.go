package chatd_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// manyMessages is a request body with n one-letter user messages
// (about 30 bytes each).
func manyMessages(prefix string, n int) string {
	var b bytes.Buffer
	b.WriteString(prefix + `"messages":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"role":"user","content":"x"}`)
	}
	b.WriteString("]}")
	return b.String()
}

// TestTooManyMessages: a request with more than chat.MaxMessages messages
// is 413 too_large with DESIGN.md's error body naming the limit, on every
// route, and never goes upstream; one at the limit is answered.
func TestTooManyMessages(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		prefix := `{"model":"ollama/m","stream":false,`
		msg := errBody(t, e.post(t, route, manyMessages(prefix, chat.MaxMessages+1)), 413, "too_large")
		if !strings.Contains(msg, fmt.Sprint(chat.MaxMessages)) {
			t.Fatalf("%s: %q", route, msg)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("%d over-long requests went upstream", n)
	}
	resp := e.post(t, chat.RouteCompletions, manyMessages(`{"model":"ollama/m",`, chat.MaxMessages))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("at the limit: %d", resp.StatusCode)
	}
}

// TestMillionMessagesBounded: a body of a million tiny messages (30 MB,
// within max_body_bytes) is refused while it is decoded: the request
// allocates a small multiple of its body, not the ~690 MB it cost on its
// way upstream.
func TestMillionMessagesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 MB body")
	}
	e, _ := withUpstream(t, "ollama", chattest.Script{})
	body := manyMessages(`{"model":"ollama/m",`, 1_000_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp := e.post(t, chat.RouteCompletions, body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d MB body: %d, %d MB allocated", len(body)>>20, resp.StatusCode, alloc>>20)
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"kind":"too_large"`) || alloc > 300<<20 {
		t.Fatalf("%d %.200s: %d MB allocated", resp.StatusCode, b, alloc>>20)
	}
}
