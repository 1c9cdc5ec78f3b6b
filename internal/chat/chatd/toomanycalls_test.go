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

// manyToolCalls is a request body for route with one user message and one
// assistant message of n tool calls in the route's own form.
func manyToolCalls(route string, n int) string {
	var b bytes.Buffer
	b.WriteString(`{"model":"ollama/m","stream":false,"messages":[{"role":"user","content":"go"},{"role":"assistant","content":"","tool_calls":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		switch route {
		case chat.RouteCompletions:
			fmt.Fprintf(&b, `{"id":"c%d","type":"function","function":{"name":"f","arguments":"{}"}}`, i)
		case chat.RouteOllamaChat:
			b.WriteString(`{"function":{"name":"f","arguments":{}}}`)
		default:
			fmt.Fprintf(&b, `{"id":"c%d","type":"function","function":{"name":"f","arguments":{}}}`, i)
		}
	}
	b.WriteString(`]},{"role":"user","content":"and?"}]}`)
	return b.String()
}

// TestTooManyToolCalls: an assistant message with more than
// chat.MaxToolCalls tool calls is 413 too_large with DESIGN.md's error
// body naming the message and the limit, on every route, and never goes
// upstream; one at the limit is answered. Before: no bound (ADR-067 left
// it).
func TestTooManyToolCalls(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		msg := errBody(t, e.post(t, route, manyToolCalls(route, chat.MaxToolCalls+1)), 413, "too_large")
		if !strings.Contains(msg, fmt.Sprint(chat.MaxToolCalls)) || !strings.Contains(msg, "messages[1].tool_calls") {
			t.Fatalf("%s: %q", route, msg)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("%d requests over the limit went upstream", n)
	}
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		resp := e.post(t, route, manyToolCalls(route, chat.MaxToolCalls))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s at the limit: %d %.300s", route, resp.StatusCode, b)
		}
	}
}

// TestMillionToolCallsBounded: one message of a million tool calls (a
// body within max_body_bytes) is refused while it is decoded, at call
// MaxToolCalls+1: the request allocates a few copies of its body (the
// decoders' buffers, as for TestMillionMessagesBounded), where building
// every call cost 2.3 GB for the 42 MB native body.
func TestMillionToolCallsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a large body")
	}
	e, _ := withUpstream(t, "ollama", chattest.Script{})
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		body := manyToolCalls(route, 600_000)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		resp := e.post(t, route, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: a %d MB body: %d, %d MB allocated", route, len(body)>>20, resp.StatusCode, alloc>>20)
		if resp.StatusCode != 413 || !strings.Contains(string(b), `"kind":"too_large"`) || alloc > uint64(8*len(body)) {
			t.Fatalf("%s: %d %.200s: %d MB allocated for a %d MB body", route, resp.StatusCode, b, alloc>>20, len(body)>>20)
		}
	}
}
