package token

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTokenize: any text tokenizes in bounded steps into tokens of 1 to
// MaxTokenBytes bytes that are valid UTF-8 when the text is, with no
// apostrophe at either end, never more tokens than the text has bytes;
// camel offsets lie inside the token; n-gram buckets stay below Buckets
// and within MaxNGrams. Never a panic.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"getUserName it's 'quoted'", "héllo wörld 😀 日本語", strings.Repeat("a", 300),
		"\u2019\u02bc'x'", "İSTANBUL ǅemal ΣΑΣ", "\xff\xfe a\x00b", "x" + strings.Repeat("é", 40) + "Y"} {
		f.Add(s)
	}
	cfg := NGramConfig{MinN: 3, MaxN: 5, Buckets: 1 << 16}
	f.Fuzz(func(t *testing.T, s string) {
		var tk Tokenizer
		tk.Reset(s)
		n := 0
		buckets := make([]uint32, 0, MaxNGrams)
		for {
			tok, ok := tk.Next()
			if !ok {
				break
			}
			n++
			if n > len(s) {
				t.Fatalf("%d tokens from %d bytes", n, len(s))
			}
			if len(tok) == 0 || len(tok) > MaxTokenBytes+4 || tok[0] == '\'' || tok[len(tok)-1] == '\'' {
				t.Fatalf("token %q", tok)
			}
			if utf8.ValidString(s) && !utf8.Valid(tok) {
				t.Fatalf("token %q of valid text is not UTF-8", tok)
			}
			for _, c := range tk.Camel() {
				if int(c) > len(tok) {
					t.Fatalf("camel offset %d in %q", c, tok)
				}
			}
			buckets = cfg.AppendBuckets(buckets[:0], tok)
			if len(buckets) > MaxNGrams {
				t.Fatalf("%d n-grams from %q", len(buckets), tok)
			}
			for _, b := range buckets {
				if b >= cfg.Buckets {
					t.Fatalf("bucket %d", b)
				}
			}
		}
	})
}
