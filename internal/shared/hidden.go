package shared

// Hidden characters in stored labels (ADR-088): pathwayd's user, agent, run
// and memory ids and observerd's service, op and request id labels share
// the rule.

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Hidden returns the byte offset and the character of the first character
// of v that displays as nothing, as another character or reorders what
// follows (ADR-088): a control (C0, DEL, C1), a format character (bidi
// overrides and isolates, zero-width characters, the BOM, the soft
// hyphen), a private-use character, a separator other than the ASCII space
// (no-break and other spaces, line and paragraph separators), or U+FFFD
// (what invalid UTF-8 is read as; invalid UTF-8 in v is reported as
// U+FFFD at its byte). It returns -1 when v has none. Leading and trailing
// spaces are the caller's to refuse.
func Hidden(v string) (int, rune) {
	for i, r := range v {
		if r == ' ' {
			continue
		}
		if r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Z) {
			return i, r
		}
	}
	return -1, 0
}

// RuneName is "U+202E" or "U+0000" for messages.
func RuneName(r rune) string { return fmt.Sprintf("U+%04X", r) }
