package shared

import (
	"net/http/httptest"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestJSONDecodeMessages: decode errors speak JSON, not Go — a wrong type
// names the field and what it wants (it said "Go struct field
// req.temperature of type float64").
func TestJSONDecodeMessages(t *testing.T) {
	type msg struct {
		Role string `json:"role"`
	}
	type req struct {
		Temperature *float64 `json:"temperature"`
		N           int      `json:"n"`
		Stream      bool     `json:"stream"`
		Messages    []msg    `json:"messages"`
	}
	for _, tc := range []struct{ body, want string }{
		{`{"temperature":"hot"}`, `field "temperature": want a number, got a JSON string`},
		{`{"n":1.5}`, `field "n": want an integer, got a JSON number 1.5`},
		{`{"stream":"yes"}`, `field "stream": want true or false, got a JSON string`},
		{`{"messages":{}}`, `field "messages": want an array, got a JSON object`},
		{`{"messages":[{"role":5}]}`, `field "messages.role": want a string, got a JSON number`},
		{`[1]`, `the request body: want an object, got a JSON array`},
		{`{"tempreature":1}`, `request body has an unknown field "tempreature"`},
		{`{"n":`, `request body is not valid JSON: unexpected EOF`},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		var v req
		err := DecodeJSON(r, &v)
		if !errs.Is(err, errs.Invalid) || errs.Message(err) != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, errs.Message(err), tc.want)
		}
		if strings.Contains(errs.Message(err), "Go ") || strings.Contains(errs.Message(err), "float64") {
			t.Errorf("%s: a Go type in %q", tc.body, errs.Message(err))
		}
	}
}
