package chat_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
)

// FuzzToolRequest: any body through the OpenAI and Ollama routes' tool
// parsing (tools, tool_choice, tool_calls history, tool results) either is
// refused or gives a request whose every call has an id, a name and an
// object for arguments (or, on the OpenAI route only, a JSON string holding
// text that is no JSON object: OpenAI takes any string), whose every tool
// message answers an earlier call, and whose OpenAI form (what chat/openai
// sends) carries the arguments as a string holding the same JSON, or that
// same text. Never a panic.
func FuzzToolRequest(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"2"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`)
	f.Add(`{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{"a":[1]}}}]},{"role":"tool","tool_name":"f","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}`)
	f.Add(`{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":7}}],"tool_choice":"required"}`)
	f.Add(`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":""}}]},{"role":"tool","tool_call_id":"c"}],"tools":null}`)
	f.Add(`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"city\": \"Par"}}]},{"role":"tool","tool_call_id":"c"}]}`)
	f.Add(`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"null"}},{"id":"d","type":"function","function":{"name":"g","arguments":" [1] "}}]}]}`)
	f.Add(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"a","reasoning_content":"r","thinking":"t"}],"reasoning_effort":"high","think":"low"}`)
	f.Add(`{"messages":[{"role":"user","content":"hi"}],"reasoning":{"effort":"none","max_tokens":9,"enabled":true},"think":false}`)
	f.Add(`{"messages":[{"role":"user","content":"hi"}],"reasoning":{"max_tokens":-1},"think":"medium"}`)
	f.Fuzz(func(t *testing.T, body string) {
		type accepted struct {
			r      chat.Request
			openai bool
		}
		var reqs []accepted
		var c chat.CompletionRequest
		if json.Unmarshal([]byte(body), &c) == nil {
			if r, err := c.ToRequest(); err == nil {
				reqs = append(reqs, accepted{r, true})
			}
		}
		var o chat.OllamaChatRequest
		if json.Unmarshal([]byte(body), &o) == nil {
			if r, err := o.ToRequest(); err == nil {
				reqs = append(reqs, accepted{r, false})
			}
		}
		for _, a := range reqs {
			r := a.r
			if err := r.Validate(); err != nil {
				t.Fatalf("accepted, then invalid: %v", err)
			}
			seen := map[string]bool{}
			for i, m := range r.Messages {
				for _, tc := range m.ToolCalls {
					if tc.ID == "" || tc.Function.Name == "" {
						t.Fatalf("messages[%d]: accepted call %+v", i, tc)
					}
					var text string
					if a.openai && json.Unmarshal(tc.Function.Arguments, &text) == nil {
						// Text that is no JSON object, passed on as is.
						tt := strings.TrimSpace(text)
						if tt == "" || (tt[0] == '{' && json.Valid([]byte(tt))) || chat.ArgumentsText(tc.Function.Arguments) != text {
							t.Fatalf("messages[%d]: text arguments %q as %q", i, text, chat.ArgumentsText(tc.Function.Arguments))
						}
						seen[tc.ID] = true
						continue
					}
					var obj map[string]any
					if json.Unmarshal(chat.ArgumentsObject(tc.Function.Arguments), &obj) != nil {
						t.Fatalf("messages[%d]: accepted call %+v", i, tc)
					}
					var back map[string]any
					if json.Unmarshal([]byte(chat.ArgumentsText(tc.Function.Arguments)), &back) != nil {
						t.Fatalf("messages[%d]: arguments text %q is no object", i, chat.ArgumentsText(tc.Function.Arguments))
					}
					seen[tc.ID] = true
				}
				if m.Role == chat.RoleTool && !seen[m.ToolCallID] {
					t.Fatalf("messages[%d]: tool result for unknown call %q", i, m.ToolCallID)
				}
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("accepted request does not encode: %v", err)
			}
			// The reasoning switch: a known level, and the same after the
			// native route's JSON (think) and back.
			if th := r.Think; th != nil {
				if th.Enabled && th.Effort != "" && !slices.Contains(chat.Efforts, th.Effort) || !th.Enabled && (th.Effort != "" || th.MaxTokens != 0) {
					t.Fatalf("accepted think %+v", *th)
				}
				var back chat.Request
				if err := json.Unmarshal(b, &back); err != nil || back.Think == nil || back.Think.Enabled != th.Enabled || back.Think.Effort != th.Effort {
					t.Fatalf("think %+v came back as %+v (%v) from %s", *th, back.Think, err, b)
				}
			}
		}
	})
}
