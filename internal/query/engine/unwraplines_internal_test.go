package engine

import (
	"testing"

	"lakehouse-go/internal/errs"
)

// TestUnwrapLines: a location on the wrapper's own lines (its first line,
// or the ") LIMIT" line after the caller's SQL) is dropped; the others
// count the caller's lines, the caret moved left when the number shrinks.
func TestUnwrapLines(t *testing.T) {
	for _, tc := range []struct{ text, msg, want string }{
		{"SELECT 1", "Binder Error: x\n\nLINE 1: SELECT * FROM (\n        ^", "Binder Error: x"},
		{"SELECT 1", "Binder Error: x\n\nLINE 3: ) LIMIT 2\n  ^", "Binder Error: x"},
		{"SELECT 1", "Binder Error: x\n\nLINE 2: SELECT 1\n               ^", "Binder Error: x\n\nLINE 1: SELECT 1\n               ^"},
		{"a\nb\nc\nd\ne\nf\ng\nh\ni", "E\n\nLINE 10: i\n         ^", "E\n\nLINE 9: i\n        ^"},
		{"SELECT 1", "no location here", "no location here"},
	} {
		e := errs.E("query", errs.Invalid, tc.msg).(*errs.Error)
		unwrapLines(e, tc.text)
		if e.Msg != tc.want {
			t.Errorf("%q in %q: %q, want %q", tc.msg, tc.text, e.Msg, tc.want)
		}
	}
}
