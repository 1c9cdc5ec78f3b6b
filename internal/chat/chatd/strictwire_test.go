package chatd_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestStrictSelfDecodingFields (ADR-107): the parts of a body that decode
// themselves — tool_choice (every route that takes it), and on the OpenAI
// and Ollama routes tools, a message's tool_calls, reasoning and
// response_format, kept raw until ToRequest — are checked like the rest of
// the body: a key equal to a field but for case is a 400 naming its
// JSONPath (it was folded into the field: {"Type":"function","FUNCTION":
// {"name":"x"}} forced the call x upstream), a key given twice likewise,
// and on the native route an unknown key inside tool_choice is refused as
// unknown fields are everywhere there. No refused body reaches the
// provider; a self-decoding field that is no JSON shape it takes is named
// without "not valid JSON" (it is valid JSON).
func TestStrictSelfDecodingFields(t *testing.T) {
	e, up := withUpstream(t, "openrouter", chattest.Script{})
	const user = `{"role":"user","content":"hi"}`
	const tools = `"tools":[{"type":"function","function":{"name":"x","parameters":{"type":"object"}}}]`
	body := func(rest string) string { return `{"model":"m","messages":[` + user + `],` + tools + `,` + rest + `}` }
	type tc struct{ name, body, want string }
	everywhere := []tc{
		{"tool_choice Type", body(`"tool_choice":{"Type":"function","FUNCTION":{"name":"x"}}`),
			`key "Type" at $.tool_choice.Type (byte 157) is not a field: field names are case-sensitive ("type")`},
		{"tool_choice FUNCTION", body(`"tool_choice":{"type":"function","FUNCTION":{"name":"x"}}`),
			`key "FUNCTION" at $.tool_choice.FUNCTION (byte 175) is not a field: field names are case-sensitive ("function")`},
		{"tool_choice function.Name", body(`"tool_choice":{"type":"function","function":{"Name":"x"}}`),
			`key "Name" at $.tool_choice.function.Name (byte 187) is not a field: field names are case-sensitive ("name")`},
		{"tool_choice name twice", body(`"tool_choice":{"type":"function","function":{"name":"y","name":"x"}}`),
			`duplicate key "name" at $.tool_choice.function.name (byte 198)`},
		{"tools Function", `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","Function":{"name":"x"}}]}`,
			`key "Function" at $.tools[0].Function (byte 85) is not a field`},
		{"tool_calls Function", `{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"a","type":"function","Function":{"name":"x","arguments":{}}}]},{"role":"tool","tool_call_id":"a","content":"r"}]}`,
			`key "Function" at $.messages[0].tool_calls[0].Function (byte 100) is not a field`},
	}
	openai := []tc{
		{"reasoning Effort", `{"model":"m","messages":[` + user + `],"reasoning":{"Effort":"high"}}`,
			`key "Effort" at $.reasoning.Effort (byte 70) is not a field: field names are case-sensitive ("effort")`},
		{"reasoning effort twice", `{"model":"m","messages":[` + user + `],"reasoning":{"effort":"none","effort":"high"}}`,
			`duplicate key "effort" at $.reasoning.effort`},
		{"response_format TYPE", `{"model":"m","messages":[` + user + `],"response_format":{"TYPE":"text"}}`,
			`key "TYPE" at $.response_format.TYPE (byte 76) is not a field`},
		{"stop object", `{"model":"m","messages":[` + user + `],"stop":{"a":1}}`, `stop: want a string or an array of strings`},
	}
	native := []tc{
		{"tool_choice unknown", body(`"tool_choice":{"type":"function","function":{"name":"x"},"extra":1}`),
			`request body has an unknown field "extra" at $.tool_choice`},
		{"tool_choice function unknown", body(`"tool_choice":{"type":"function","function":{"name":"x","strict":true}}`),
			`request body has an unknown field "strict" at $.tool_choice.function`},
		{"think object", `{"model":"m","messages":[` + user + `],"think":{"a":1}}`, `think: want true, false or a level`},
	}
	check := func(path string, cases []tc) {
		for _, c := range cases {
			msg := errBody(t, e.post(t, path, c.body), 400, "invalid")
			if !strings.Contains(msg, c.want) {
				t.Errorf("%s %s: %q lacks %q", path, c.name, msg, c.want)
			}
			if strings.Contains(msg, "not valid JSON") && !strings.Contains(c.want, "key ") {
				t.Errorf("%s %s: %q calls valid JSON invalid", path, c.name, msg)
			}
		}
	}
	check(chat.RouteChat, everywhere)
	check(chat.RouteChat, native)
	check(chat.RouteCompletions, everywhere)
	check(chat.RouteCompletions, openai)
	check(chat.RouteOllamaChat, everywhere[4:]) // no tool_choice on Ollama's route
	if n := len(up.Calls()); n != 0 {
		t.Fatalf("refused requests reached the provider %d times: %s", n, up.Calls()[0].Body)
	}

	// The OpenAI route stays lenient about unknown keys (ADR-062): the
	// named function still goes upstream, the unknown key does not.
	resp := e.post(t, chat.RouteCompletions, body(`"tool_choice":{"type":"function","function":{"name":"x"},"extra":1}`))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OpenAI route, unknown key in tool_choice: %d %s", resp.StatusCode, b)
	}
	calls := up.Calls()
	if len(calls) != 1 || !bytes.Contains(calls[0].Body, []byte(`"tool_choice":{"type":"function","function":{"name":"x"}}`)) {
		t.Fatalf("upstream got %+v", calls)
	}
}
