package pathway

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzMessage feeds arbitrary JSON as one message object (ADR-153: OpenAI
// tool calls and tool results beside role and content): reading it never
// panics, a refusal is a 400 naming the message, and an accepted message
// has only known fields, a content unless it is an assistant's tool calls,
// and tool fields only on their role.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		`{"role":"user","content":"I live in Porto"}`,
		`{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}`,
		`{"role":"assistant","tool_calls":[]}`, `{"role":"tool","tool_call_id":"c","content":"ok"}`,
		`{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"a"}]}`,
		`{"role":"user","tool_calls":[]}`, `{"role":"assistant","tool_calls":[{"function":{"name":""}}]}`,
		`{"role":"assistant","content":"x","annotations":[],"audio":null,"function_call":null}`, `{}`, `{"content":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		var m map[string]any
		if json.Unmarshal([]byte(msg), &m) != nil || m == nil {
			return
		}
		r := AddRequest{Messages: []any{m}}
		msgs, err := r.messages()
		if err != nil {
			if !errs.Is(err, errs.Invalid) || !strings.HasPrefix(errs.Message(err), "messages[0]") {
				t.Fatalf("refusal %v: want a 400 naming messages[0]", err)
			}
			return
		}
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", msg, len(msgs))
		}
		for k := range m {
			if !messageFields[k] {
				t.Fatalf("%s: accepted the unknown field %q", msg, k)
			}
		}
		role, _ := m["role"].(string)
		if _, calls := m["tool_calls"]; calls && role != "assistant" {
			t.Fatalf("%s: tool_calls accepted on role %q", msg, role)
		}
		if _, id := m["tool_call_id"]; id && role != "tool" {
			t.Fatalf("%s: tool_call_id accepted on role %q", msg, role)
		}
		if c := m["content"]; c == nil {
			if _, calls := m["tool_calls"]; !calls || msgs[0].Content != "" {
				t.Fatalf("%s: no content accepted as %+v", msg, msgs[0])
			}
		}
	})
}
