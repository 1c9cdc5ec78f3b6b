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

// TestResponseFormat: a JSON answer asked for on any route reaches the
// upstream in its form (ADR-114), as Ollama's OpenAI API and LiteLLM map
// them: OpenAI's response_format {"type":"json_object"} is Ollama's
// format "json", a json_schema is Ollama's format holding the schema (byte
// for byte), and back; OpenAI-compatible upstreams get response_format.
// chatd refused every form but text with a 400 (ADR-062): openai-node's
// JSON mode and zodResponseFormat, and ollama-js's format, failed against
// chatd and worked against the real services. The bodies are the bytes the
// official SDKs send.
func TestResponseFormat(t *testing.T) {
	cfg := config(t)
	ol := fakeUpstream(t, cfg, "ollama", chattest.Script{Tokens: []string{`{"city":`, `"Paris"}`}})
	or := fakeUpstream(t, cfg, "openrouter", chattest.Script{Tokens: []string{`{"city":`, `"Paris"}`}})
	e := start(t, cfg)
	const msgs = `"messages":[{"role":"user","content":"weather?"}]`
	const schema = `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`
	zod := `{"type":"json_schema","json_schema":{"name":"weather","strict":true,"schema":` + schema + `}}`
	for _, tc := range []struct {
		name, route, body string
		up                *chattest.Server
		want              string // the upstream's format / response_format
	}{
		{"openai json_object to ollama", chat.RouteCompletions, `{"model":"ollama/m",` + msgs + `,"response_format":{"type":"json_object"}}`, ol, `"json"`},
		{"openai json_object to openrouter", chat.RouteCompletions, `{"model":"openrouter/m",` + msgs + `,"response_format":{"type":"json_object"}}`, or, `{"type":"json_object"}`},
		{"openai json_schema to ollama", chat.RouteCompletions, `{"model":"ollama/m",` + msgs + `,"response_format":` + zod + `,"stream":true}`, ol, schema},
		{"openai json_schema to openrouter", chat.RouteCompletions, `{"model":"openrouter/m",` + msgs + `,"response_format":` + zod + `}`, or,
			`{"type":"json_schema","json_schema":{"name":"weather","schema":` + schema + `,"strict":true}}`}, // the schema byte for byte
		{"ollama format json to ollama", chat.RouteOllamaChat, `{"model":"ollama/m",` + msgs + `,"stream":false,"format":"json"}`, ol, `"json"`},
		{"ollama format json to openrouter", chat.RouteOllamaChat, `{"model":"openrouter/m",` + msgs + `,"stream":false,"format":"json"}`, or, `{"type":"json_object"}`},
		{"ollama format schema to ollama", chat.RouteOllamaChat, `{"model":"ollama/m",` + msgs + `,"stream":false,"format":` + schema + `}`, ol, schema},
		{"ollama format schema to openrouter", chat.RouteOllamaChat, `{"model":"openrouter/m",` + msgs + `,"stream":false,"format":` + schema + `}`, or,
			`{"type":"json_schema","json_schema":{"name":"response","schema":` + schema + `}}`},
		{"native format schema to ollama", chat.RouteChat, `{"model":"ollama/m",` + msgs + `,"format":` + schema + `}`, ol, schema},
		{"openai text", chat.RouteCompletions, `{"model":"ollama/m",` + msgs + `,"response_format":{"type":"text"}}`, ol, ``},
	} {
		before := len(tc.up.Calls())
		resp := e.post(t, tc.route, tc.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `Paris`) {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
		calls := tc.up.Calls()
		if len(calls) != before+1 {
			t.Fatalf("%s: %d upstream calls", tc.name, len(calls)-before)
		}
		var sent map[string]json.RawMessage
		json.Unmarshal(calls[len(calls)-1].Body, &sent)
		got := sent["response_format"]
		if tc.up == ol {
			got = sent["format"]
		}
		if !bytes.Equal(got, []byte(tc.want)) {
			t.Errorf("%s: the upstream got %s\n want %s\n body %s", tc.name, got, tc.want, calls[len(calls)-1].Body)
		}
	}
	calls := len(ol.Calls()) + len(or.Calls())
	for _, tc := range []struct{ route, body, want string }{
		{chat.RouteCompletions, `{"model":"ollama/m",` + msgs + `,"response_format":{"type":"xml"}}`, `response_format.type "xml": want text, json_object or json_schema`},
		{chat.RouteCompletions, `{"model":"ollama/m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":"s"}}}`, "response_format.json_schema.schema: want a JSON schema object"},
		{chat.RouteCompletions, `{"model":"ollama/m",` + msgs + `,"response_format":{"type":"json_schema"}}`, "response_format.json_schema: required with type json_schema"},
		{chat.RouteOllamaChat, `{"model":"ollama/m",` + msgs + `,"format":"yaml"}`, `format: want "json" or a JSON schema object`},
		{chat.RouteChat, `{"model":"ollama/m",` + msgs + `,"format":5}`, `format: want "json" or a JSON schema object`},
	} {
		if msg := errBody(t, e.post(t, tc.route, tc.body), 400, "invalid"); !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: %q lacks %q", tc.route, tc.body, msg, tc.want)
		}
	}
	if n := len(ol.Calls()) + len(or.Calls()); n != calls {
		t.Fatalf("bad formats reached the upstream %d times", n-calls)
	}
}
