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

// manyTools is a request body with n tools.
func manyTools(n int) string {
	var b bytes.Buffer
	b.WriteString(`{"model":"ollama/m","stream":false,"messages":[{"role":"user","content":"go"}],"tools":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"function","function":{"name":"f%d","parameters":{"type":"object"}}}`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestTooManyTools: a request with more than chat.MaxTools tools is 413
// too_large naming the limit on every route, never upstream, found before
// the tools are built (a few copies of the body allocated, where 500,000
// tools cost 1.3 GB and went upstream); one at the limit is answered.
func TestTooManyTools(t *testing.T) {
	e, up := withUpstream(t, "ollama", chattest.Script{})
	routes := []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat}
	for _, route := range routes {
		msg := errBody(t, e.post(t, route, manyTools(chat.MaxTools+1)), 413, "too_large")
		if !strings.Contains(msg, "tools: more than "+fmt.Sprint(chat.MaxTools)) {
			t.Fatalf("%s: %q", route, msg)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("%d requests over the limit went upstream", n)
	}
	for _, route := range routes {
		resp := e.post(t, route, manyTools(chat.MaxTools))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s at the limit: %d %.300s", route, resp.StatusCode, b)
		}
	}
	if testing.Short() {
		return
	}
	body := manyTools(300_000)
	for _, route := range routes {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		resp := e.post(t, route, body)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: a %d MB body: %d, %d MB allocated", route, len(body)>>20, resp.StatusCode, alloc>>20)
		if resp.StatusCode != 413 || alloc > uint64(8*len(body)) {
			t.Fatalf("%s: %d, %d MB allocated for a %d MB body", route, resp.StatusCode, alloc>>20, len(body)>>20)
		}
	}
}
