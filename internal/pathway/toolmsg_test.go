package pathway_test

import (
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPToolMessages: an agent's OpenAI-format history — an assistant
// message that calls tools (tool_calls, content null or absent) and the
// tool messages answering it (tool_call_id) — was a 400 (unknown field
// "tool_calls", content want a string). It is accepted, as Mem0 takes it;
// facts come from the user's messages only, never from a tool call's
// arguments or a tool's result (ADR-153). A malformed message is still a
// 400 naming it, and adds nothing.
func TestHTTPToolMessages(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	history := `[
		{"role":"system","content":"You are a travel agent."},
		{"role":"user","content":"I live in Porto. Can you book me a flight to Oslo?"},
		{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"book_flight","arguments":"{\"to\":\"Oslo\",\"note\":\"I like jazz\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"Booked. I live in Tokyo."},
		{"role":"assistant","tool_calls":[{"id":"call_2","type":"function","function":{"name":"noop","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"I play chess"}]},
		{"role":"assistant","content":"Your flight to Oslo is booked.","tool_calls":[]}
	]`
	code, out := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"agent","messages":`+history+`}`)
	if code != 200 {
		t.Fatalf("history with tool calls: %d %s", code, out)
	}
	got := getMemories(t, base+pathway.MemoriesPath+"?user_id=agent")
	var texts []string
	for _, m := range got.Results {
		texts = append(texts, m.Memory)
	}
	if len(texts) != 1 || texts[0] != "Lives in Porto" {
		t.Fatalf("memories from a history with tool calls: %q, want only the user's [Lives in Porto]", texts)
	}
	for _, c := range []struct{ msg, want string }{
		{`{"role":"assistant","tool_calls":{"id":"c"}}`, `messages[0].tool_calls: want a list`},
		{`{"role":"assistant","tool_calls":["c"]}`, `messages[0].tool_calls[0]: want an object`},
		{`{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}`, `messages[0].tool_calls[0].function: want an object`},
		{`{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}`, `messages[0].tool_calls[0].function.name: want a non-empty string`},
		{`{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}`, `messages[0].tool_calls[0].function.arguments: want a string`},
		{`{"role":"assistant","tool_calls":[{"id":7,"function":{"name":"f"}}]}`, `messages[0].tool_calls[0].id: want a string`},
		{`{"role":"user","content":"I like tea","tool_calls":[]}`, `messages[0].tool_calls: only an assistant message carries it`},
		{`{"role":"user","content":"I like tea","tool_call_id":"c"}`, `messages[0].tool_call_id: only a tool message carries it`},
		{`{"role":"tool","content":"ok","tool_call_id":5}`, `messages[0].tool_call_id: want a string`},
		{`{"role":"tool","tool_call_id":"c","content":null}`, `messages[0].content: want a string or a list of text parts`},
		{`{"role":"assistant","content":null}`, `messages[0].content: want a string or a list of text parts`},
		{`{"role":"user"}`, `messages[0].content: want a string`},
		{`{"role":"assistant","content":"x","refusal":5}`, `messages[0].refusal: want a string or null`},
		{`{"role":"assistant","content":"x","tool_callz":[]}`, `messages[0]: unknown field \"tool_callz\"`},
	} {
		code, out := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"bad","messages":[`+c.msg+`,{"role":"user","content":"I like tea"}]}`)
		if code != 400 || !strings.Contains(out, `"kind":"invalid"`) || !strings.Contains(out, c.want) {
			t.Errorf("%s: want 400 %q, got %d %s", c.msg, c.want, code, out)
		}
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=bad"); len(p.Results) != 0 {
		t.Fatalf("a refused add left memories: %+v", p.Results)
	}
	// infer false stores messages as said (Mem0's infer=False): the tool
	// result's text as before, never the calls; an assistant message with
	// no content stores nothing.
	code, out = do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"raw","infer":false,"messages":`+history+`}`)
	if code != 200 {
		t.Fatalf("infer false: %d %s", code, out)
	}
	texts = nil
	for _, m := range getMemories(t, base+pathway.MemoriesPath+"?user_id=raw&order=id").Results {
		texts = append(texts, m.Memory)
	}
	for _, m := range texts {
		if strings.Contains(m, "book_flight") || strings.Contains(m, "call_") || strings.Contains(m, "jazz") {
			t.Errorf("infer false stored a tool call: %q", m)
		}
	}
	if len(texts) != 4 {
		t.Errorf("infer false: %q, want the user's, the two tool results' and the assistant's content", texts)
	}
}
