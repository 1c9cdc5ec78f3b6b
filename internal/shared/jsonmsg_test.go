package shared

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestJSONDecodeMessages: decode errors speak JSON, not Go — a wrong type
// names the field and what it wants (it said "Go struct field
// req.temperature of type float64").
func TestJSONDecodeMessages(t *testing.T) {
	type msg struct {
		Role string `json:"role"`
	}
	type Scope struct {
		UserID string `json:"user_id"`
	}
	type item struct {
		Scope
		Tags []string `json:"tags"`
	}
	type req struct {
		Scope
		Items       []item    `json:"items"`
		At          time.Time `json:"at"`
		Temperature *float64  `json:"temperature"`
		N           int       `json:"n"`
		Stream      bool      `json:"stream"`
		Messages    []msg     `json:"messages"`
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
		// An embedded struct's fields are the body's own: its Go type
		// name is not part of the path (it said "Scope.user_id").
		{`{"user_id":5}`, `field "user_id": want a string, got a JSON number`},
		{`{"items":[{"user_id":5}]}`, `field "items.user_id": want a string, got a JSON number`},
		{`{"items":[{"tags":[1]}]}`, `field "items.tags": want a string, got a JSON number`},
		// A bad time is valid JSON (it said "not valid JSON: parsing time").
		{`{"at":"yesterday"}`, `a time is not an RFC 3339 time like "2006-01-02T15:04:05Z": "yesterday"`},
		{`{"at":5}`, `a time must be a JSON string holding an RFC 3339 time like "2006-01-02T15:04:05Z"`},
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
