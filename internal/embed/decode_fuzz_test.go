package embed

import (
	"encoding/json"
	"slices"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzDecodeInput: for any JSON value as "input", decodeInput then Texts
// gives the texts EmbedRequest.Texts gives for the same value decoded
// whole by encoding/json, or an invalid refusal as it does; past maxBatch it is
// too_large. Never a panic.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range []string{`"hello"`, `["a","b"]`, `[]`, `null`, ` [ "a" , 1 ]`, `[["x"]]`, `{"a":1}`, `3`,
		`["\u0000","\ud800","é"]`, `[null]`, `["a","b","c","d"]`, `true`, `[{"x":[1,2]},"y"]`} {
		f.Add(s)
	}
	const maxBatch = 3
	f.Fuzz(func(t *testing.T, raw string) {
		var whole any
		if json.Unmarshal([]byte(raw), &whole) != nil {
			return // the harness refuses a body that is not JSON before
		}
		got, err := decodeInput(json.RawMessage(raw), maxBatch)
		want, wantErr := EmbedRequest{Input: whole}.Texts()
		if arr, ok := whole.([]any); ok && len(arr) > maxBatch {
			if err == nil || errs.KindOf(err) != errs.TooLarge {
				// an element before the limit may be refused first
				if errs.KindOf(err) != errs.Invalid {
					t.Fatalf("%q: %d elements, got %v", raw, len(arr), err)
				}
			}
			return
		}
		var texts []string
		if err == nil {
			texts, err = EmbedRequest{Input: got}.Texts()
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: decodeInput+Texts %v, Texts %v", raw, err, wantErr)
		}
		if err != nil {
			if errs.KindOf(err) != errs.Invalid || errs.Message(err) == "" {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if !slices.Equal(texts, want) {
			t.Fatalf("%q: %q, want %q", raw, texts, want)
		}
	})
}
