package pathway

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzMessageContent feeds arbitrary JSON as one message's content
// (ADR-148's content parts): reading it never panics, a refusal is a 400
// naming the message, and accepted parts are their texts joined by line
// breaks.
func FuzzMessageContent(f *testing.F) {
	for _, s := range []string{
		`"plain"`, `[{"type":"text","text":"a"},{"type":"text","text":"b"}]`, `[]`, `null`, `5`,
		`[{"type":"image_url","image_url":{"url":"x"}}]`, `[{"type":"text"}]`, `[{"text":"a"}]`, `[[1]]`,
		`[{"type":"text","text":"a","x":1}]`, `{"type":"text","text":"a"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		var c any
		if json.Unmarshal([]byte(content), &c) != nil {
			return
		}
		r := AddRequest{Messages: []any{map[string]any{"role": "user", "content": c}}}
		msgs, err := r.messages()
		if err != nil {
			if !errs.Is(err, errs.Invalid) || !strings.HasPrefix(errs.Message(err), "messages[0]") {
				t.Fatalf("refusal %v: want a 400 naming messages[0]", err)
			}
			return
		}
		want, ok := c.(string)
		if parts, isList := c.([]any); isList {
			var texts []string
			for _, p := range parts {
				texts = append(texts, p.(map[string]any)["text"].(string))
			}
			want, ok = strings.Join(texts, "\n"), true
		}
		if !ok || len(msgs) != 1 || msgs[0].Content != want {
			t.Fatalf("content %s: got %+v, want %q", content, msgs, want)
		}
	})
}
