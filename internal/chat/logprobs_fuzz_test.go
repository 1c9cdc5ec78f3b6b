package chat

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseOpenAILogprobs: an upstream's choices[].logprobs either is
// refused with an error or read into entries that OpenAILogprobs writes
// back in OpenAI's shape (content a list, bytes and top_logprobs present
// in every entry, refusal null), which reads back to the same entries.
func FuzzParseOpenAILogprobs(f *testing.F) {
	for _, s := range []string{
		`null`, ``, `{}`, `{"content":null,"refusal":null}`,
		`{"content":[{"token":"Hello","logprob":-0.31,"bytes":[72,101,108,108,111],"top_logprobs":[{"token":"Hello","logprob":-0.31,"bytes":[72,101,108,108,111]},{"token":"Hi","logprob":-1.3,"bytes":null}]}],"refusal":null}`,
		`{"content":[{"token":"\u00e9","logprob":-0,"bytes":null,"top_logprobs":[]}]}`,
		`{"content":"x"}`, `[1]`, `{"content":[{"logprob":"a"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		lps, err := ParseOpenAILogprobs(raw)
		if err != nil {
			return
		}
		out := OpenAILogprobs(lps)
		if len(lps) == 0 {
			if string(out) != "null" {
				t.Fatalf("no entries written as %s", out)
			}
			return
		}
		var shape struct {
			Content []map[string]json.RawMessage `json:"content"`
			Refusal json.RawMessage              `json:"refusal"`
		}
		if err := json.Unmarshal(out, &shape); err != nil || string(shape.Refusal) != "null" || len(shape.Content) != len(lps) {
			t.Fatalf("%s -> %s", raw, out)
		}
		for _, e := range shape.Content {
			for _, k := range []string{"token", "logprob", "bytes", "top_logprobs"} {
				if _, ok := e[k]; !ok {
					t.Fatalf("entry without %s: %s", k, out)
				}
			}
			if string(e["top_logprobs"]) == "null" {
				t.Fatalf("top_logprobs null: %s", out)
			}
		}
		back, err := ParseOpenAILogprobs(out)
		if err != nil {
			t.Fatalf("%s does not read back: %v", out, err)
		}
		for i := range back { // nil and empty lists read back alike
			if len(back[i].TopLogprobs) == 0 && len(lps[i].TopLogprobs) == 0 {
				back[i].TopLogprobs, lps[i].TopLogprobs = nil, nil
			}
		}
		if !reflect.DeepEqual(back, lps) {
			t.Fatalf("round trip:\n%+v\n%+v", lps, back)
		}
	})
}
