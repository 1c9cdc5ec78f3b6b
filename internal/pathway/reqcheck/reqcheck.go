// Package reqcheck holds the request checks pathwayd and observerd share
// (ADR-097): which query parameters a route takes (Query), and which
// characters a stored label may hold (Hidden). internal/pathway and
// internal/observer call it; it depends on nothing of theirs.
package reqcheck

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// maxNamed is how many unknown parameters a message names; maxNameBytes
// how much of each name it quotes.
const (
	maxNamed     = 10
	maxNameBytes = 64
)

// Query returns the values of names in rawQuery (a request's
// URL.RawQuery), "" for one not given. It is a 400 invalid when the query
// does not parse (a ';' or a bad %-escape: net/url dropped such a pair
// without a word), when it holds a parameter that is not in names
// (?servce=x answered every service, ?page=2 the first page), or when one
// of names is given more than once (shared.QueryOnce). The unknown
// parameters are named the way catalogd names them (ADR-092), followed by
// hint(unknown) when hint is not nil and says something.
func Query(op, rawQuery string, hint func(unknown []string) string, names ...string) ([]string, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errs.Errorf(op, errs.Invalid, "query string: %v; write parameters as name=value joined by '&', %%-escaping the rest", err)
	}
	if err := Known(op, v, hint, names...); err != nil {
		return nil, err
	}
	return shared.QueryOnce(op, v, names...)
}

// Known is a 400 invalid naming the parameters of v that are not names
// (sorted, at most maxNamed, each quoted and cut to maxNameBytes) and
// listing names ("none" for a route that takes no parameter).
func Known(op string, v url.Values, hint func(unknown []string) string, names ...string) error {
	var unknown []string
	for k := range v {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	quoted := make([]string, 0, min(len(unknown), maxNamed))
	for _, k := range unknown[:min(len(unknown), maxNamed)] {
		quoted = append(quoted, strconv.Quote(cut(k)))
	}
	list := strings.Join(quoted, ", ")
	if n := len(unknown) - maxNamed; n > 0 {
		list += fmt.Sprintf(" and %d more", n)
	}
	word := "parameter"
	if len(unknown) > 1 {
		word = "parameters"
	}
	takes := "none"
	if len(names) > 0 {
		takes = strings.Join(names, ", ")
	}
	msg := fmt.Sprintf("unknown query %s %s (this route takes: %s)", word, list, takes)
	if hint != nil {
		if h := hint(unknown); h != "" {
			msg += "; " + h
		}
	}
	return errs.E(op, errs.Invalid, msg)
}

// cut is s cut to maxNameBytes on a character boundary, "..." marking a cut.
func cut(s string) string {
	if len(s) <= maxNameBytes {
		return s
	}
	i := maxNameBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

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
