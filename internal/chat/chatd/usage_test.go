package chatd_test

import (
	"encoding/json"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestUsageInsideChoice: Moonshot (Kimi) streams its usage inside the
// finish_reason chunk's choice ({"index":0,"delta":{},"finish_reason":
// "stop","usage":{...}}), not at the top level nor in a usage chunk; chatd
// reads it there, so the OpenAI route's usage chunk and answer, and the
// native answer, count the tokens. Before: every Kimi answer reported
// 0 tokens.
func TestUsageInsideChoice(t *testing.T) {
	e, _ := withUpstream(t, "kimi", chattest.Script{UsageInChoice: true, PromptTokens: 11})
	want := chat.Usage{PromptTokens: 11, CompletionTokens: 3, TotalTokens: 14}

	resp := e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/kimi-k2", "messages": userMsg("hi"), "stream": true,
		"stream_options": map[string]bool{"include_usage": true}})
	evs, done := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	content, cs := chunks(t, evs)
	if resp.StatusCode != 200 || !done || content != "Hello world!" {
		t.Fatalf("stream: %d done=%v %q", resp.StatusCode, done, content)
	}
	last := cs[len(cs)-1]
	if last.Usage == nil || *last.Usage != want || len(last.Choices) != 0 {
		t.Fatalf("stream: last chunk %+v, want the usage chunk with %+v", last, want)
	}

	resp = e.post(t, chat.RouteCompletions, map[string]any{"model": "kimi/kimi-k2", "messages": userMsg("hi")})
	var comp chat.Completion
	json.NewDecoder(resp.Body).Decode(&comp)
	resp.Body.Close()
	if comp.Usage == nil || *comp.Usage != want {
		t.Fatalf("answer: usage %+v, want %+v", comp.Usage, want)
	}

	r, err := e.client.Chat(t.Context(), chat.Request{Model: "kimi/kimi-k2", Messages: userMsg("hi")})
	if err != nil || r.Usage == nil || *r.Usage != want {
		t.Fatalf("native: %v %+v", err, r.Usage)
	}
}
