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
		{`{"messages":[{"role":5}]}`, `field "messages.role": want a string`, errs.Invalid},
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
