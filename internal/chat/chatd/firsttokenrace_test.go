package chatd_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chatd"
	"lakehouse-go/internal/shared"
)

// TestFirstTokenTimerAfterFirstToken (ADR-113): the first-token timer
// ([chatd].timeout) that fires after the first token came, before the
// attempt switched to the idle timer, cancelled an answer that was on
// time: the answer failed with "no first token within ..." (a 504, or the
// streamed client's error frame after the first token). The hook widens
// that window deterministically (it stands for a slow scheduler or a
// blocked metrics/trace call). Now the first token is marked as it is
// read, and the timer, when it fires, sees it and does nothing.
func TestFirstTokenTimerAfterFirstToken(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		const head = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":`
		io.WriteString(w, head+`{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		fl.Flush()
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, head+`{"content":"lo"},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, head+`{},"logprobs":null,"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	cfg := config(t)
	// The first token must come within the timeout (100 ms was tight on a
	// loaded host); the hook outlasts it, so the timer fires in the window.
	cfg.Chatd.Timeout = shared.Duration{Duration: 500 * time.Millisecond}
	cfg.Chatd.StreamIdleTimeout = shared.Duration{Duration: 5 * time.Second}
	configure(t, cfg, "kimi", up.URL+"/v1")
	e := start(t, cfg)
	defer chatd.SetFirstTokenHook(func() { time.Sleep(1200 * time.Millisecond) })()

	resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/m", "messages": userMsg("hi")})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"content":"Hello"`) {
		t.Fatalf("not streamed: %d %s", resp.StatusCode, b)
	}

	resp = e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/m", "messages": userMsg("hi"), "stream": true})
	evs, done := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	content, _ := chunks(t, evs)
	if !done || content != "Hello" {
		t.Fatalf("streamed: done=%v %q %v", done, content, evs)
	}
}
