package chatd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"lakehouse-go/internal/chat"
)

// TestUsageBeforeFirstToken (ADR-113): an OpenAI-compatible upstream that
// sends a choice-less usage chunk before its first token, with the
// prompt's count (the shape of Anthropic's message_start usage, which
// OpenAI-compatible bridges pass on as it comes), then either nothing
// more (that usage is the answer's) or, at the end, a usage that gives
// only the completion's count: the answer's usage has both, as the AI
// SDK's and LiteLLM's stream readers keep a count a later chunk does not
// repeat. Before, the last report replaced the first whole: prompt_tokens
// 0 and total_tokens 2 for a 7-token prompt.
func TestUsageBeforeFirstToken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		final string // the usage sent after finish_reason, if any
		want  chat.Usage
	}{
		{"first only", "", chat.Usage{PromptTokens: 7, TotalTokens: 7}},
		{"completion at the end", `{"completion_tokens":2,"total_tokens":2}`, chat.Usage{PromptTokens: 7, CompletionTokens: 2, TotalTokens: 9}},
		{"whole at the end", `{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}`, chat.Usage{PromptTokens: 7, CompletionTokens: 2, TotalTokens: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) { usageBeforeFirstToken(t, tc.final, tc.want) })
	}
}

func usageBeforeFirstToken(t *testing.T, final string, want chat.Usage) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		const head = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",`
		io.WriteString(w, head+`"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":0,"total_tokens":7}}`+"\n\n")
		io.WriteString(w, head+`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, head+`"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, head+`"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`+"\n\n")
		if final != "" {
			io.WriteString(w, head+`"choices":[],"usage":`+final+`}`+"\n\n")
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	cfg := config(t)
	configure(t, cfg, "kimi", up.URL+"/v1")
	e := start(t, cfg)

	resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/m", "messages": userMsg("hi"), "stream": true,
		"stream_options": map[string]bool{"include_usage": true}})
	evs, done := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	content, cs := chunks(t, evs)
	if !done || content != "Hi" {
		t.Fatalf("stream: done=%v %q", done, content)
	}
	if last := cs[len(cs)-1]; last.Usage == nil || *last.Usage != want {
		if last.Usage != nil {
			t.Fatalf("stream: last chunk usage %+v, want %+v", *last.Usage, want)
		}
		t.Fatalf("stream: last chunk usage %+v, want %+v", last.Usage, want)
	}

	resp = e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/m", "messages": userMsg("hi")})
	var comp chat.Completion
	json.NewDecoder(resp.Body).Decode(&comp)
	resp.Body.Close()
	if comp.Usage == nil || *comp.Usage != want {
		t.Fatalf("answer: usage %+v, want %+v", comp.Usage, want)
	}

	r, err := e.client.Chat(t.Context(), chat.Request{Model: "kimi/m", Messages: userMsg("hi")})
	if err != nil || r.Usage == nil || *r.Usage != want {
		t.Fatalf("native: %v %+v", err, r.Usage)
	}
}
