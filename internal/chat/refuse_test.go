package chat

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestRefusedMessageFields: fields whose loss would change the answer are
// refused, not dropped (ADR-062): Ollama images; malformed tool-call history
// (tool calls themselves are carried now: tools_test.go).
func TestRefusedMessageFields(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"model":"m","messages":[{"role":"user","content":"what is this","images":["aGk="]}]}`, "messages[0].images"},
		{`{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"x"}}]}]}`, "messages[0].tool_calls"},
	} {
		var o OllamaChatRequest
		if err := json.Unmarshal([]byte(tc.body), &o); err != nil {
			t.Fatal(err)
		}
		if _, err := o.ToRequest(); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("ollama %s: %v", tc.want, err)
		}
	}
	for _, body := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{}}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"42","tool_call_id":"c1"}]}`,
	} {
		var c CompletionRequest
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ToRequest(); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "tool_call") {
			t.Fatalf("openai %s: %v", body, err)
		}
	}
	// Plain messages still pass, and images: [] / null are no images.
	var o OllamaChatRequest
	json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi","images":[]}]}`), &o)
	if _, err := o.ToRequest(); err != nil {
		t.Fatal(err)
	}
}
