package shared

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
)

// maxNamedParams is how many unknown parameters a message names;
// maxParamNameBytes how much of each name it quotes.
const (
	maxNamedParams    = 10
	maxParamNameBytes = 64
)

// QueryParams returns the values of names in rawQuery (a request's
// URL.RawQuery), "" for one not given. It is a 400 invalid when the query
// does not parse (a ';' or a bad %-escape: net/url dropped such a pair
// without a word), when it holds a parameter that is not in names
// (?servce=x answered every service, ?mdoe=replace appended, ?prefx=a
// listed every key), or when one of names is given more than once
// (QueryOnce). The unknown parameters are named the way catalogd names
// them (ADR-092), followed by hint(unknown) when hint is not nil and says
// something. Every route of a daemon calls it, with the parameters the
// route takes (none: no names), before it reads the body or changes
// anything (ADR-097, ADR-099).
func QueryParams(op, rawQuery string, hint func(unknown []string) string, names ...string) ([]string, error) {
	if rawQuery == "" {
		return make([]string, len(names)), nil
	}
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errs.Errorf(op, errs.Invalid, "query string: %v; write parameters as name=value joined by '&', %%-escaping the rest", err)
	}
	if err := KnownParams(op, v, hint, names...); err != nil {
		return nil, err
	}
	return QueryOnce(op, v, names...)
}

// KnownParams is a 400 invalid naming the parameters of v that are not
// names (sorted, at most maxNamedParams, each quoted and cut to
// maxParamNameBytes) and listing names ("none" for a route that takes no
// parameter).
func KnownParams(op string, v url.Values, hint func(unknown []string) string, names ...string) error {
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
	quoted := make([]string, 0, min(len(unknown), maxNamedParams))
	for _, k := range unknown[:min(len(unknown), maxNamedParams)] {
		quoted = append(quoted, strconv.Quote(cutParamName(k)))
	}
	list := strings.Join(quoted, ", ")
	if n := len(unknown) - maxNamedParams; n > 0 {
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

// cutParamName is s cut to maxParamNameBytes on a character boundary,
// "..." marking a cut.
func cutParamName(s string) string {
	if len(s) <= maxParamNameBytes {
		return s
	}
	i := maxParamNameBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
