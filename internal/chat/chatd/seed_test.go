package chatd_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestSeedAndPenaltiesReachUpstream: seed, frequency_penalty and
// presence_penalty go on to the upstream in its form (ADR-114): OpenAI's
// fields to OpenAI-compatible providers, Ollama's options.seed,
// options.frequency_penalty and options.presence_penalty to Ollama — as
// Ollama's own OpenAI API and LiteLLM map them. chatd dropped them with a
// 200, so `seed` asked of the OpenAI SDK or ollama-js did not make an
// answer repeatable. A penalty outside OpenAI's -2..2 is a 400 naming the
// field. The bodies are the bytes the official SDKs send.
func TestSeedAndPenaltiesReachUpstream(t *testing.T) {
	cfg := config(t)
	ol := fakeUpstream(t, cfg, "ollama", chattest.Script{})
	or := fakeUpstream(t, cfg, "openrouter", chattest.Script{})
	e := start(t, cfg)
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		route, body string
		up          *chattest.Server
	}{
		// openai-node: create({model, messages, seed, frequency_penalty, presence_penalty})
		{chat.RouteCompletions, `{"model":"ollama/llama3.2",` + msgs + `,"seed":42,"frequency_penalty":0.5,"presence_penalty":-0.5}`, ol},
		{chat.RouteCompletions, `{"model":"openrouter/gpt-4o-mini",` + msgs + `,"seed":42,"frequency_penalty":0.5,"presence_penalty":-0.5,"stream":true}`, or},
		// ollama-js: chat({model, messages, stream: false, options: {...}})
		{chat.RouteOllamaChat, `{"model":"ollama/llama3.2",` + msgs + `,"stream":false,"options":{"seed":42,"frequency_penalty":0.5,"presence_penalty":-0.5}}`, ol},
		{chat.RouteOllamaChat, `{"model":"openrouter/gpt-4o-mini",` + msgs + `,"stream":false,"options":{"seed":42,"frequency_penalty":0.5,"presence_penalty":-0.5}}`, or},
		// native
		{chat.RouteChat, `{"model":"ollama/llama3.2",` + msgs + `,"seed":42,"frequency_penalty":0.5,"presence_penalty":-0.5}`, ol},
	} {
		before := len(tc.up.Calls())
		resp := e.post(t, tc.route, tc.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", tc.route, tc.body, resp.StatusCode, b)
		}
		calls := tc.up.Calls()
		if len(calls) != before+1 {
			t.Fatalf("%s: %d upstream calls", tc.route, len(calls)-before)
		}
		var sent map[string]any
		json.Unmarshal(calls[len(calls)-1].Body, &sent)
		got := sent
		if tc.up == ol {
			got, _ = sent["options"].(map[string]any)
		}
		if got["seed"] != 42.0 || got["frequency_penalty"] != 0.5 || got["presence_penalty"] != -0.5 {
			t.Errorf("%s %s: the upstream got %s", tc.route, tc.body, calls[len(calls)-1].Body)
		}
	}
	for route, body := range map[string]string{
		chat.RouteCompletions: `{"model":"ollama/llama3.2",` + msgs + `,"frequency_penalty":3}`,
		chat.RouteOllamaChat:  `{"model":"ollama/llama3.2",` + msgs + `,"options":{"presence_penalty":-2.5,"seed":1.5}}`,
	} {
		msg := errBody(t, e.post(t, route, body), 400, "invalid")
		for _, want := range map[string][]string{
			chat.RouteCompletions: {"frequency_penalty 3: want a number from -2 to 2"},
			chat.RouteOllamaChat:  {"options.presence_penalty -2.5: want a number from -2 to 2", "options.seed 1.5: want an integer"},
		}[route] {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", route, msg, want)
			}
		}
	}
}
