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

// TestOllamaOptionsRefused: Ollama route options that cannot be carried are
// 400s naming them, as Ollama answers; options.stop as a string, or with a
// non-string element, was dropped with a 200 (the answer ran past the stop
// sequence), and a num_predict beyond int overflowed into a negative
// max_tokens.
func TestOllamaOptionsRefused(t *testing.T) {
	for _, tc := range []struct{ options, want string }{
		{`{"stop":"\n"}`, "options.stop: want an array of strings"},
		{`{"stop":{"a":1}}`, "options.stop: want an array of strings"},
		{`{"stop":["a",5]}`, "options.stop[1]: want a string"},
		{`{"num_predict":1e300}`, "options.num_predict"},
	} {
		var o OllamaChatRequest
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}],"options":` + tc.options + `}`
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatal(err)
		}
		if _, err := o.ToRequest(); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.options, err, tc.want)
		}
	}
	for _, tc := range []struct {
		options string
		stop    []string
		max     int
	}{
		{`{"stop":["a","b"],"num_predict":12}`, []string{"a", "b"}, 12},
		{`{"stop":null,"num_predict":-1}`, nil, 0},
		{`{"stop":[]}`, nil, 0},
	} {
		var o OllamaChatRequest
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}],"options":` + tc.options + `}`
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatal(err)
		}
		r, err := o.ToRequest()
		if err != nil {
			t.Fatalf("%s: %v", tc.options, err)
		}
		if strings.Join(r.Stop, ",") != strings.Join(tc.stop, ",") || (tc.max == 0) != (r.MaxTokens == nil) || (r.MaxTokens != nil && *r.MaxTokens != tc.max) {
			t.Errorf("%s: stop %q max_tokens %v", tc.options, r.Stop, r.MaxTokens)
		}
	}
}
