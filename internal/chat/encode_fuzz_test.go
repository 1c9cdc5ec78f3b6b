package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzEncoders: any sequence of answer chunks (content, reasoning, tool-call
// pieces, the end) through the three route encoders gives what their
// clients parse back to the same answer. SSE (OpenAI route): every event a
// chat.completion.chunk, the role on the first delta, content only where
// there is some except the first delta's ("" when it carries neither a
// call nor reasoning, else null), reasoning as reasoning_content and never
// under another name, the text and reasoning joined equal to what came.
// NDJSON (native, Ollama's): lines of JSON whose content and thinking
// joined equal it too.
func FuzzEncoders(f *testing.F) {
	f.Add("Hel|lo", "Let me |think", uint16(0), true)
	f.Add("", "", uint16(1), true)
	f.Add("||a", "x||", uint16(6), false)
	f.Add("\u2028<\"\\", "\x00", uint16(0xffff), true)
	f.Fuzz(func(t *testing.T, contents, thinkings string, calls uint16, done bool) {
		if !utf8.ValidString(contents) || !utf8.ValidString(thinkings) {
			return // upstream text is decoded JSON: valid UTF-8
		}
		cs, ts := strings.Split(contents, "|"), strings.Split(thinkings, "|")
		n := max(len(cs), len(ts))
		if n > 64 {
			return
		}
		var resps []Response
		var wantContent, wantThinking strings.Builder
		for i := range n {
			r := Response{ID: "chatcmpl-x", Model: "m", CreatedAt: time.Unix(1, 0), Message: Message{Role: RoleAssistant}}
			if i < len(cs) {
				r.Message.Content = cs[i]
			}
			if i < len(ts) {
				r.Message.Thinking = ts[i]
			}
			if calls&(1<<(i%16)) != 0 {
				r.ToolCallDeltas = []ToolCallDelta{{Index: i, ID: fmt.Sprintf("call_%d", i), Name: "f", Arguments: "{}"}}
			}
			wantContent.WriteString(r.Message.Content)
			wantThinking.WriteString(r.Message.Thinking)
			resps = append(resps, r)
		}
		if done {
			resps = append(resps, Response{ID: "chatcmpl-x", Model: "m", Done: true, DoneReason: "stop", Usage: &Usage{CompletionTokens: 1}})
		}

		// SSE.
		enc := &sseEncoder{includeUsage: true}
		var out []byte
		for _, r := range resps {
			out = enc.chunk(out, r)
		}
		out = enc.end(out)
		sr := NewSSEReader(bytes.NewReader(out))
		var content, thinking strings.Builder
		for i := 0; ; i++ {
			ev, err := sr.Next()
			if err != nil {
				t.Fatalf("no [DONE]: %v", err)
			}
			if bytes.Equal(ev, SSEDone) {
				break
			}
			var raw struct {
				Object  string `json:"object"`
				Choices []struct {
					Delta map[string]json.RawMessage `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(ev, &raw); err != nil || raw.Object != "chat.completion.chunk" {
				t.Fatalf("event %s: %v", ev, err)
			}
			if len(raw.Choices) == 0 {
				continue // the usage chunk
			}
			d := raw.Choices[0].Delta
			if string(d["reasoning"]) != string(d["reasoning_content"]) {
				t.Fatalf("reasoning and reasoning_content differ (ADR-086: both names, the same text): %s", ev)
			}
			if (i == 0) != (string(d["role"]) == `"assistant"`) {
				t.Fatalf("event %d role: %s", i, ev)
			}
			c, hasContent := d["content"]
			switch {
			case i == 0 && string(c) == "null":
				if d["tool_calls"] == nil && d["reasoning_content"] == nil {
					t.Fatalf("content null without a call or reasoning: %s", ev)
				}
			case i == 0 && string(c) == `""`:
				if d["tool_calls"] != nil || d["reasoning_content"] != nil {
					t.Fatalf(`content "" with a call or reasoning: %s`, ev)
				}
			case hasContent:
				var s string
				if json.Unmarshal(c, &s) != nil || s == "" {
					t.Fatalf("content %s in %s", c, ev)
				}
				content.WriteString(s)
			case i == 0:
				t.Fatalf("first delta without content: %s", ev)
			}
			if rc, ok := d["reasoning_content"]; ok {
				var s string
				if json.Unmarshal(rc, &s) != nil || s == "" {
					t.Fatalf("reasoning_content %s in %s", rc, ev)
				}
				thinking.WriteString(s)
			}
		}
		if content.String() != wantContent.String() || thinking.String() != wantThinking.String() {
			t.Fatalf("SSE: content %q reasoning %q, want %q %q", content.String(), thinking.String(), wantContent.String(), wantThinking.String())
		}

		// NDJSON, native and Ollama's.
		for _, enc := range []encoder{&ndjsonEncoder{}, &ollamaEncoder{start: time.Now()}} {
			var out []byte
			for _, r := range resps {
				out = enc.chunk(out, r)
			}
			var content, thinking strings.Builder
			for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
				if len(out) == 0 {
					break
				}
				var l struct {
					Message struct {
						Content  string `json:"content"`
						Thinking string `json:"thinking"`
					} `json:"message"`
				}
				if err := json.Unmarshal(line, &l); err != nil {
					t.Fatalf("%T line %s: %v", enc, line, err)
				}
				content.WriteString(l.Message.Content)
				thinking.WriteString(l.Message.Thinking)
			}
			if content.String() != wantContent.String() || thinking.String() != wantThinking.String() {
				t.Fatalf("%T: content %q thinking %q, want %q %q", enc, content.String(), thinking.String(), wantContent.String(), wantThinking.String())
			}
		}
	})
}
