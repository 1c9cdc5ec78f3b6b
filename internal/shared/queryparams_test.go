package shared

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
)

// TestQueryParamsMessages: unknown parameters are named sorted, at most
// maxNamedParams of them and each cut to maxParamNameBytes, so a query of
// thousands of made-up names is a short message; the hint follows.
func TestQueryParamsMessages(t *testing.T) {
	var many []string
	for i := range 30 {
		many = append(many, "p"+string(rune('a'+i%26))+strings.Repeat("x", i))
	}
	long := strings.Repeat("é", 100)
	for _, tc := range []struct {
		raw, want string
		names     []string
	}{
		{"b=1&a=2", `unknown query parameters "a", "b" (this route takes: none)`, nil},
		{"limit=1&lmit=2", `unknown query parameter "lmit" (this route takes: after, limit)`, []string{"after", "limit"}},
		{strings.Join(many, "=1&") + "=1", `"pfxxxxx" and 20 more (this route takes: after)`, []string{"after"}},
		{url.QueryEscape(long) + "=1", `"` + strings.Repeat("é", maxParamNameBytes/2) + `..."`, []string{"after"}},
		{"a=1;b=2", "query string: invalid semicolon separator in query", []string{"a", "b"}},
		{"a=%zz", `query string: invalid URL escape "%zz"`, []string{"a"}},
		{"a=1&a=1", `"a" given 2 times`, []string{"a"}},
		{"=", `unknown query parameter "" (this route takes: a)`, []string{"a"}},
		{"&", "", []string{"a"}}, // no parameter at all
	} {
		_, err := QueryParams("op", tc.raw, func([]string) string { return "HINT" }, tc.names...)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v, want it accepted", tc.raw, err)
			}
			continue
		}
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: %v, want it to say %q", tc.raw, err, tc.want)
		}
		if strings.Contains(tc.want, "unknown") && !strings.HasSuffix(err.Error(), "; HINT") {
			t.Errorf("%.60s: %v, want the hint last", tc.raw, err)
		}
	}
	v, err := QueryParams("op", "after=x%2Fy&limit=&", nil, "after", "limit", "order")
	if err != nil || !slices.Equal(v, []string{"x/y", "", ""}) {
		t.Fatalf("known parameters: %q %v", v, err)
	}
	if v, err := QueryParams("op", "", nil, "after", "limit"); err != nil || !slices.Equal(v, []string{"", ""}) {
		t.Fatalf("no query: %q %v", v, err)
	}
	// A hint that says nothing adds nothing.
	if _, err := QueryParams("op", "x=1", func([]string) string { return "" }); err == nil || !strings.HasSuffix(errs.Message(err), "(this route takes: none)") {
		t.Fatalf("empty hint: %v", err)
	}
}

// FuzzQueryParams: any raw query is refused (Invalid, a message of valid
// UTF-8 and bounded length) or accepted; when accepted, every parameter it
// holds is one of the names, given once, and its value is what net/url
// reads.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"", "user_id=u&page=2", "a=1;b=2", "%zz", "user_id=%E2%80%AE&limit=5", "&&=&", "limit=1&limit=2", "after=a%2Fb&order=id"} {
		f.Add(s)
	}
	names := []string{"user_id", "limit", "order", "after"}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := QueryParams("op", raw, nil, names...)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%v: not invalid", err)
			}
			if msg := err.Error(); !utf8.ValidString(msg) || len(msg) > 4096 {
				t.Fatalf("message of %d bytes, UTF-8 %v: %.200q", len(msg), utf8.ValidString(msg), msg)
			}
			return
		}
		if len(v) != len(names) {
			t.Fatalf("answered %d values for %d names", len(v), len(names))
		}
		q, perr := url.ParseQuery(raw)
		if perr != nil {
			t.Fatalf("accepted a query that does not parse: %v", perr)
		}
		for k, vs := range q {
			i := slices.Index(names, k)
			if i < 0 || len(vs) != 1 || v[i] != vs[0] {
				t.Fatalf("accepted %q = %q (answered %q)", k, vs, v)
			}
		}
	})
}
