package chat

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestLenientDecodeTrailingData: the OpenAI and Ollama routes ignore
// unknown fields but not what follows the JSON object — `{...} x` was
// answered 200 from the first object (the native route already said 400).
func TestLenientDecodeTrailingData(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"model":"m"}`, true},
		{"{\"model\":\"m\"}\n \r\n\t", true},
		{`{"model":"m","user":"u"}`, true},
		{`{"model":"m"} x`, false},
		{`{"model":"m"}{"model":"n"}`, false},
		{`{"model":"m"} }`, false},
		{`{"model":"m"} ]`, false},
		{`{"model":"m"} null`, false},
	} {
		var c CompletionRequest
		err := decodeLenient(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &c)
		if tc.ok != (err == nil) || (err != nil && !errs.Is(err, errs.Invalid)) {
			t.Errorf("%q: %v", tc.body, err)
		}
	}
}

// TestBoundedMessagesErrors: the message lists decoded one message at a
// time (MaxMessages) name a wrong-typed field as encoding/json did, keep
// the native route's refusal of unknown fields, and refuse a list over the
// limit as too_large.
func TestBoundedMessagesErrors(t *testing.T) {
	for _, tc := range []struct {
		body, want string
		kind       errs.Kind
	}{
		{`{"messages":[{"role":5}]}`, `field "messages[0].role": want a string`, errs.Invalid},
		{`{"messages":"hi"}`, `field "messages": want`, errs.Invalid},
		{`{"messages":[{"role":"user","content":"x","extra":1}]}`, `unknown field "extra"`, errs.Invalid},
		{`{"messages":[` + strings.Repeat(`{"role":"user"},`, MaxMessages) + `{"role":"user"}]}`, "more than 100000", errs.TooLarge},
	} {
		var req Request
		err := decodeStrict(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &req)
		if !errs.Is(err, tc.kind) || !strings.Contains(errs.Message(err), tc.want) {
			t.Errorf("%.60s: %v", tc.body, err)
		}
	}
}

// TestReasoningSwitchOneProblem: a bad reasoning switch on the OpenAI
// route is reported once, naming the field the client sent.
func TestReasoningSwitchOneProblem(t *testing.T) {
	for body, want := range map[string]string{
		`{"messages":[{"role":"user","content":"hi"}],"reasoning_effort":"extreme"}`:     `reasoning_effort "extreme"`,
		`{"messages":[{"role":"user","content":"hi"}],"reasoning":{"effort":"extreme"}}`: `reasoning.effort "extreme"`,
	} {
		var c CompletionRequest
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		_, err := c.ToRequest()
		if msg := errs.Message(err); !strings.Contains(msg, want) || strings.Count(msg, "extreme") != 1 {
			t.Errorf("%s: %q", body, msg)
		}
	}
}

// TestFieldErrorsNameTheMessage: a field of the wrong type or shape inside
// a message names the message (ADR-114). encoding/json's path was
// "messages.role" — which of 40 messages? — and a content that is neither a
// string nor text parts (an image part as openai-python and openai-node
// send it) said "request body is not valid JSON: content: ..." of valid
// JSON. Each body is decoded as its route decodes it.
func TestFieldErrorsNameTheMessage(t *testing.T) {
	two := func(second string) string {
		return `{"model":"m","messages":[{"role":"user","content":"hi"},` + second + `]}`
	}
	for _, tc := range []struct {
		route string
		body  string
		want  string
	}{
		{"native", two(`{"role":5}`), `field "messages[1].role": want a string, got a JSON number`},
		{"native", two(`{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":{}}},{"id":5}]}`),
			`field "messages[1].tool_calls[1].id": want a string, got a JSON number`},
		{"openai", two(`{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}`),
			`field "messages[1].content[0]": a part of type "image_url": only text parts are supported`},
		{"openai", two(`{"role":"user","content":{"text":"hi"}}`), `field "messages[1].content": want a string or an array of text parts`},
		{"openai", two(`{"role":"tool","tool_call_id":7,"content":"x"}`), `field "messages[1].tool_call_id": want a string, got a JSON number`},
		{"ollama", two(`{"role":"user","content":["hi"]}`), `field "messages[1].content": want a string, got a JSON array`},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		var err error
		switch tc.route {
		case "native":
			var req Request
			err = decodeStrict(r, &req)
		case "openai":
			var req CompletionRequest
			err = decodeLenient(r, &req)
		case "ollama":
			var req OllamaChatRequest
			err = decodeLenient(r, &req)
		}
		if msg := errs.Message(err); !errs.Is(err, errs.Invalid) || msg != tc.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tc.route, tc.body, msg, tc.want)
		}
	}
}
