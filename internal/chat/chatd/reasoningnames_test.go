package chatd_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestReasoningNamesRoundTrip (ADR-107, keeping ADR-086's two names): the
// OpenAI route writes a model's reasoning as reasoning_content (LiteLLM,
// DeepSeek, Kimi, langchain) and as reasoning (OpenRouter, Ollama's and
// vLLM's current name), the same text in the same chunks, streamed and
// not; a client that echoes the answer back as history (openai-python's
// message.model_dump() carries both) sends the reasoning once — to Ollama
// as message.thinking, never doubled; to an OpenAI-compatible upstream
// not at all (DeepSeek answers 400 to reasoning_content in input).
func TestReasoningNamesRoundTrip(t *testing.T) {
	think := []string{"Let me ", "think."}
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, url := u.start(chattest.Script{Tokens: []string{"Yes."}, Thinking: think})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, url)
			e := start(t, cfg)
			model := u.name + "/m"

			// Streamed: each reasoning delta has both names, equal.
			resp := e.post(t, chat.RouteCompletions, `{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"q"}]}`)
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			var rc, r strings.Builder
			for _, ev := range evs {
				var c chat.CompletionChunk
				json.Unmarshal([]byte(ev.data), &c)
				for _, ch := range c.Choices {
					d := ch.Delta
					if (d.ReasoningContent == nil) != (d.Reasoning == nil) || d.ReasoningContent != nil && *d.ReasoningContent != *d.Reasoning {
						t.Fatalf("a delta with one name or two texts: %s", ev.data)
					}
					if d.ReasoningContent != nil {
						rc.WriteString(*d.ReasoningContent)
						r.WriteString(*d.Reasoning)
					}
				}
			}
			if !done || rc.String() != "Let me think." || r.String() != "Let me think." {
				t.Fatalf("streamed: reasoning_content %q reasoning %q done=%v", rc.String(), r.String(), done)
			}

			// Not streamed: the message has both, equal.
			resp = e.post(t, chat.RouteCompletions, `{"model":"`+model+`","messages":[{"role":"user","content":"q"}]}`)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var comp struct {
				Choices []struct{ Message map[string]any }
			}
			if err := json.Unmarshal(b, &comp); err != nil || len(comp.Choices) != 1 {
				t.Fatalf("%s: %v", b, err)
			}
			msg := comp.Choices[0].Message
			if msg["reasoning_content"] != "Let me think." || msg["reasoning"] != "Let me think." || msg["content"] != "Yes." {
				t.Fatalf("whole answer: %s", b)
			}

			// The answer echoed back as history, both names and all.
			hist, _ := json.Marshal(map[string]any{"model": model, "messages": []any{
				map[string]any{"role": "user", "content": "q"}, msg, map[string]any{"role": "user", "content": "and?"}}})
			resp = e.post(t, chat.RouteCompletions, string(hist))
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("history: %d %s", resp.StatusCode, b)
			}
			calls := up.Calls()
			sent := calls[len(calls)-1].Body
			switch u.name {
			case "ollama":
				if bytes.Count(sent, []byte("Let me think.")) != 1 || !bytes.Contains(sent, []byte(`"thinking":"Let me think."`)) {
					t.Fatalf("Ollama got %s", sent)
				}
			default:
				if bytes.Contains(sent, []byte("Let me think.")) || bytes.Contains(sent, []byte("reasoning")) {
					t.Fatalf("the OpenAI-compatible upstream got the reasoning: %s", sent)
				}
			}
		})
	}
}
