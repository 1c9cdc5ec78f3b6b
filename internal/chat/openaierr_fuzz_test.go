package chat

import (
	"strings"
	"testing"
)

// FuzzParamOf: the param taken from a 400's message is a field path that
// the message's first problem names at its start (or quotes), whose top
// level is a field of the OpenAI request; any other message gives none.
func FuzzParamOf(f *testing.F) {
	for _, s := range []string{
		"n 2: chatd answers one choice (n = 1)",
		"messages: at least one message is required",
		`field "messages[0].content[1]": a part of type "image_url": only text parts are supported`,
		"messages[1].tool_calls[0].function.arguments: want a JSON object; tools[0].type \"x\"",
		"functions (the legacy form; use tools): not supported by chatd",
		"request body is not valid JSON: unexpected end of JSON input",
		"all providers failed: ollama: HTTP 400",
		`field "`, "logprobs", "top_logprobs 3: not supported", "n", "x: y", "n2: z", "messages.", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		p := paramOf(msg)
		if p == nil {
			return
		}
		first, _, _ := strings.Cut(msg, "; ")
		if !strings.HasPrefix(first, *p) && !strings.HasPrefix(first, `field "`+*p+`"`) {
			t.Fatalf("param %q not at the start of %q", *p, first)
		}
		top := *p
		if i := strings.IndexAny(top, ".["); i >= 0 {
			top = top[:i]
		}
		if !requestFields[top] {
			t.Fatalf("param %q: %q is no request field", *p, top)
		}
	})
}

func TestParamOf(t *testing.T) {
	for msg, want := range map[string]string{
		"n 2: chatd answers one choice (n = 1)":                            "n",
		"functions (the legacy form; use tools): not supported by chatd":   "functions",
		`field "messages[0].content[1]": a part of type "image_url": ...`:  "messages[0].content[1]",
		"tools[0].function.name: required; messages: at least one message": "tools[0].function.name",
		"max_completion_tokens 0: want at least 1":                         "max_completion_tokens",
		"request body is not valid JSON: x":                                "",
		"all providers failed: ollama: HTTP 400":                           "",
		"nx: y":                                                            "",
		"n2: y":                                                            "",
	} {
		got := ""
		if p := paramOf(msg); p != nil {
			got = *p
		}
		if got != want {
			t.Errorf("paramOf(%q) = %q, want %q", msg, got, want)
		}
	}
}
