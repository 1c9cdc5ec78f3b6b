package chatd_test

import (
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestUnknownModelEverywhere: a model no provider of the fallback chain
// has (Ollama's 404 "model 'x' not found", OpenRouter's 400 "x is not a
// valid model ID") is the request's fault: 400 invalid naming each
// provider's answer, which LiteLLM and the openai libraries do not retry.
// Before: 502 unavailable ("all providers failed"), which they retry.
func TestUnknownModelEverywhere(t *testing.T) {
	cfg := config(t)
	fakeUpstream(t, cfg, "ollama", chattest.Script{Models: []string{"llama3.2"}})
	fakeUpstream(t, cfg, "openrouter", chattest.Script{Models: []string{"meta-llama/llama-3.2-3b-instruct"}, OpenRouterModelIDs: true})
	e := start(t, cfg)
	for _, route := range []string{chat.RouteCompletions, chat.RouteChat, chat.RouteOllamaChat} {
		msg := errBody(t, e.post(t, route, `{"model":"lama3.2","stream":false,"messages":[{"role":"user","content":"hi"}]}`), 400, "invalid")
		for _, want := range []string{"ollama: ", "model 'lama3.2' not found", "openrouter: ", "lama3.2 is not a valid model ID"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("%s: %q lacks %q", route, msg, want)
			}
		}
	}
	// one provider's 404 alone stays a 404
	msg := errBody(t, e.post(t, chat.RouteCompletions, `{"model":"ollama/lama3.2","messages":[{"role":"user","content":"hi"}]}`), 404, "not_found")
	if !strings.Contains(msg, "lama3.2") {
		t.Fatalf("ollama alone: %q", msg)
	}
}
