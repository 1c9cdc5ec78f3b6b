package shared

import (
	"testing"
	"unicode/utf8"
)

// TestHidden: the characters that display as nothing or as another one
// are found at their byte; any script, punctuation and the ASCII space
// pass.
func TestHidden(t *testing.T) {
	for _, tc := range []struct {
		v string
		i int
		r rune
	}{
		{"O’Brien José 李 a/b-c_d.e@f (g)", -1, 0},
		{"", -1, 0},
		{"ab\u202e", 2, 0x202e},
		{"\u200b", 0, 0x200b},
		{"a\u0085", 1, 0x85},
		{"a\u00ad", 1, 0xad},
		{"a\u3000b", 1, 0x3000},
		{"a\u2029", 1, 0x2029},
		{"a\U000F0000", 1, 0xf0000},
		{"a\xffb", 1, utf8.RuneError},
		{"\t", 0, '\t'},
	} {
		if i, r := Hidden(tc.v); i != tc.i || (i >= 0 && r != tc.r) {
			t.Errorf("Hidden(%+q) = %d %U, want %d %U", tc.v, i, r, tc.i, tc.r)
		}
	}
}
