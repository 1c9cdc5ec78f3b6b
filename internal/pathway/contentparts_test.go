package pathway_test

import (
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPContentParts: a message's content given as OpenAI's list of
// content parts — what an agent sent to /v1/chat/completions, and what the
// OpenAI SDKs build — was a 400 "messages[0].content: want a string". Its
// text parts are now read as the content (ADR-148); a part of another
// type, or a malformed part, is a 400 naming it, and adds nothing.
func TestHTTPContentParts(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	code, out := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"u","messages":[
		{"role":"system","content":[{"type":"text","text":"You are helpful."}]},
		{"role":"user","content":[{"type":"text","text":"I live in Porto."},{"type":"text","text":"I like jazz"}]},
		{"role":"assistant","content":"Noted!"}]}`)
	if code != 200 || !strings.Contains(out, `"memory":"Lives in Porto","event":"ADD"`) || !strings.Contains(out, `"memory":"Likes jazz","event":"ADD"`) {
		t.Fatalf("text parts: %d %s", code, out)
	}
	code, out = do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"v","infer":false,"messages":[{"role":"user","content":[{"type":"text","text":"kept as said"}]}]}`)
	if code != 200 || !strings.Contains(out, `"memory":"kept as said","event":"ADD"`) {
		t.Fatalf("text parts, infer false: %d %s", code, out)
	}
	for _, c := range []struct{ content, msg string }{
		{`[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]`, `messages[0].content[0]: a part of type \"image_url\": pathwayd reads text parts only`},
		{`[{"type":"text","text":"a"},"b"]`, `messages[0].content[1]: want a content part`},
		{`[{"type":"text","text":5}]`, `messages[0].content[0].text: want a string`},
		{`[{"type":"text","text":"a","cache_control":{}}]`, `messages[0].content[0]: unknown field \"cache_control\"`},
		{`5`, `messages[0].content: want a string or a list of text parts`},
	} {
		code, out := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"w","messages":[{"role":"user","content":`+c.content+`}]}`)
		if code != 400 || !strings.Contains(out, c.msg) {
			t.Errorf("content %s: want 400 %q, got %d %s", c.content, c.msg, code, out)
		}
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=w"); len(p.Results) != 0 {
		t.Fatalf("a refused add left memories: %+v", p.Results)
	}
}
