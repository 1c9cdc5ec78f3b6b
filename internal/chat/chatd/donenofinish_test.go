package chatd_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/chat"
)

// TestDoneWithoutFinishReason (ADR-107): an OpenAI-compatible upstream
// that streams its answer and ends it with data: [DONE] but never sets a
// finish_reason has answered: [DONE] is the stream's explicit end (the
// openai libraries stop there; LiteLLM takes "stop" for a missing reason).
// chatd ended such an answer with "stream ended ([DONE]) without a
// finish_reason": the streamed client got an error frame after the whole
// text, the non-streamed one a 502 for a complete answer. A [DONE] before
// anything was answered stays the upstream's failure. A usage chunk
// before the end is the answer's usage.
func TestDoneWithoutFinishReason(t *testing.T) {
	var calls atomic.Int32
	var empty atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		ev := func(delta string) {
			io.WriteString(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":`+delta+`,"logprobs":null,"finish_reason":null}]}`+"\n\n")
		}
		ev(`{"role":"assistant","content":""}`)
		if !empty.Load() {
			ev(`{"content":"Hel"}`)
			ev(`{"content":"lo"}`)
		}
		// A choice-less usage chunk before the end, as with
		// stream_options.include_usage: the answer's usage.
		io.WriteString(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	cfg := config(t)
	configure(t, cfg, "kimi", up.URL+"/v1")
	e := start(t, cfg)

	resp := e.post(t, chat.RouteCompletions, `{"model":"kimi/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	evs, done := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	content, cs := chunks(t, evs)
	last := cs[len(cs)-1].Choices
	if !done || content != "Hello" || len(last) != 1 || last[0].FinishReason == nil || *last[0].FinishReason != "stop" {
		t.Fatalf("streamed: done=%v %q %v", done, content, evs)
	}
	resp = e.post(t, chat.RouteChat, `{"model":"kimi/m","messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"content":"Hello"`) || !strings.Contains(string(b), `"done_reason":"stop"`) ||
		!strings.Contains(string(b), `"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}`) || calls.Load() != 2 {
		t.Fatalf("non-streamed: %d %s (%d upstream calls)", resp.StatusCode, b, calls.Load())
	}

	empty.Store(true)
	msg := errBody(t, e.post(t, chat.RouteChat, `{"model":"kimi/m","messages":[{"role":"user","content":"hi"}]}`), 502, "unavailable")
	if !strings.Contains(msg, "without a finish_reason") {
		t.Fatalf("an empty answer ended by [DONE]: %q", msg)
	}
}
