package catalog

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// goNotModified is net/http's own answer: whether http.ServeContent
// answers a GET carrying If-None-Match field lines with a 304, for an
// answer whose ETag is etag. ServeContent reads only the first line, so
// the lines are given as the one line they stand for (RFC 9110 5.3).
func goNotModified(lines []string, etag string) bool {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if len(lines) > 0 {
		r.Header.Set("If-None-Match", strings.Join(lines, ", "))
	}
	w := httptest.NewRecorder()
	w.Header().Set("Etag", etag)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader("x"))
	return w.Code == http.StatusNotModified
}

// TestNoneMatch: the If-None-Match grammar (RFC 9110 13.1.2) — what
// matches, what is malformed and never matches — and net/http's
// ServeContent agreeing on every well-formed field.
func TestNoneMatch(t *testing.T) {
	const etag = `"ds.7"`
	for _, c := range []struct {
		lines       []string
		match, well bool
	}{
		{nil, false, true},
		{[]string{`"ds.7"`}, true, true},
		{[]string{`W/"ds.7"`}, true, true},
		{[]string{`"ds.6"`}, false, true},
		{[]string{`"ds.6", "ds.7"`}, true, true},
		{[]string{`"ds.6"`, `"ds.7"`}, true, true},
		{[]string{` , "ds.6" ,, "ds.7" ,`}, true, true},
		{[]string{`*`}, true, true},
		{[]string{` * `}, true, true},
		{[]string{`""`}, false, true},
		{[]string{`"ds.7\"`}, false, true}, // the tag "ds.7\"
		{[]string{`ds.7`}, false, false},
		{[]string{`"ds.7`}, false, false},
		{[]string{`"ds.7" "ds.6"`}, false, false},
		{[]string{`*, "ds.7"`}, false, false},
		{[]string{`*`, `"ds.7"`}, false, false},
		{[]string{`**`}, false, false},
		{[]string{`W/ "ds.7"`}, false, false},
		{[]string{`w/"ds.7"`}, false, false},
		{[]string{`"ds.7"x`}, false, false},
		{[]string{"\"ds\x7f.7\""}, false, false},
		{[]string{"\"ds.7\"\r\n"}, false, false},
		{[]string{`"ds.7"`, `junk`}, false, false},
	} {
		match, well := noneMatch(c.lines, etag)
		if match != c.match || well != c.well {
			t.Errorf("noneMatch(%q) = %v, %v; want %v, %v", c.lines, match, well, c.match, c.well)
		}
		if well && match != goNotModified(c.lines, etag) {
			t.Errorf("noneMatch(%q) = %v; net/http's ServeContent says %v", c.lines, match, !match)
		}
	}
}

// FuzzNoneMatch checks noneMatch against net/http's ServeContent: on a
// field noneMatch reads as well formed they agree; on any field, a match
// is one net/http makes too (a malformed field never makes a 304 that
// net/http would not make); and the tag named exactly always matches.
func FuzzNoneMatch(f *testing.F) {
	for _, s := range []string{`"ds.7"`, `W/"ds.7"`, `"a", "ds.7"`, `*`, `*, "ds.7"`, `ds.7`, `"ds.7`, ` , ,"x",`, `"ds.7" "x"`, "\"\x80\""} {
		f.Add(s, "", `"ds.7"`)
	}
	f.Add(`"a"`, `"ds.7"`, `"ds.7"`)
	f.Fuzz(func(t *testing.T, line1, line2, etag string) {
		if len(etag) < 2 || etag[0] != '"' || etag[len(etag)-1] != '"' {
			return // catalogd's tags are quoted
		}
		if _, rest, ok := scanEntityTag(etag); !ok || rest != "" {
			return
		}
		lines := []string{line1}
		if line2 != "" {
			lines = append(lines, line2)
		}
		match, well := noneMatch(lines, etag)
		gomatch := goNotModified(lines, etag)
		if well && match != gomatch {
			t.Fatalf("noneMatch(%q, %s) = %v; net/http's ServeContent says %v", lines, etag, match, gomatch)
		}
		if match && !gomatch {
			t.Fatalf("noneMatch(%q, %s) matches; net/http's ServeContent does not", lines, etag)
		}
		if !well && match {
			t.Fatalf("noneMatch(%q): malformed but matched", lines)
		}
		if m, w := noneMatch([]string{etag}, etag); !m || !w {
			t.Fatalf("noneMatch(%s, %s) = %v, %v", etag, etag, m, w)
		}
	})
}
