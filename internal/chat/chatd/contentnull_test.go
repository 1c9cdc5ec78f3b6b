package chatd_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestToolCallOnlyContentNull: an answer of tool calls only has
// "content": null on the OpenAI route, as OpenAI sends it — in the
// chat.completion message and in the first streamed delta (the one that
// carries the role and the first call) — never "content":"" (which
// openai-python's accumulator would turn into an empty string, not None).
func TestToolCallOnlyContentNull(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{Tokens: []string{}, ToolCalls: scriptedCalls})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			e := start(t, cfg)
			body := map[string]any{"model": u.name + "/m1", "messages": []map[string]any{{"role": "user", "content": "weather?"}},
				"tools": rawTools()}

			resp := e.post(t, chat.RouteCompletions, body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var raw struct {
				Choices []struct {
					Message map[string]json.RawMessage `json:"message"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(b, &raw); err != nil || resp.StatusCode != 200 || len(raw.Choices) != 1 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if c, ok := raw.Choices[0].Message["content"]; !ok || string(c) != "null" {
				t.Fatalf("message content %q, want null: %s", c, b)
			}

			body["stream"] = true
			resp = e.post(t, chat.RouteCompletions, body)
			evs, done := readSSE(t, resp.Body, nil)
			resp.Body.Close()
			if !done || len(evs) == 0 {
				t.Fatalf("stream: %d events, [DONE] %v", len(evs), done)
			}
			var first struct {
				Choices []struct {
					Delta map[string]json.RawMessage `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(evs[0].data), &first); err != nil || len(first.Choices) != 1 {
				t.Fatalf("first event %s: %v", evs[0].data, err)
			}
			d := first.Choices[0].Delta
			if string(d["role"]) != `"assistant"` || string(d["content"]) != "null" || d["tool_calls"] == nil {
				t.Fatalf("first delta %s, want role, content null and the first call", evs[0].data)
			}
			for _, ev := range evs {
				if strings.Contains(ev.data, `"content":""`) {
					t.Fatalf("an empty-string content in a tool-call-only stream: %s", ev.data)
				}
			}
		})
	}
}
