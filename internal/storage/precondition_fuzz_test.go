package storage

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// FuzzPreconditionHeaders feeds arbitrary If-Match / If-None-Match and
// If-Range values (untrusted request headers) to storaged's evaluation of
// them. It must never panic; a strong match is also a weak one; a wildcard
// or a tag list naming the etag matches it; If-Range holds only for the
// object's exact strong etag or an HTTP date of its Last-Modified second,
// never for a weak tag.
func FuzzPreconditionHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{`"0123456789abcdef0123456789abcdef"`, "0123456789abcdef0123456789abcdef"},
		{`W/"abc"`, "abc"},
		{`"other", "abc"`, "abc"},
		{`*`, "abc"},
		{`W/*`, "*"},
		{`"a,b", "c"`, "a,b"},
		{`"unterminated`, "unterminated"},
		{`bare , "x"`, "bare"},
		{`,,, ,`, ""},
		{"Sun, 06 Nov 1994 08:49:37 GMT", "e-1"},
		{"Sunday, 06-Nov-94 08:49:37 GMT", "e-1"},
		{`""`, ""},
		{"\t\"abc\"\t", "abc"},
	} {
		f.Add(s[0], s[1], int64(784111777))
	}
	f.Fuzz(func(t *testing.T, h, etag string, unix int64) {
		info := ObjectInfo{ETag: etag, Modified: time.Unix(unix%(1<<34), 0).UTC()}
		strong := etagListMatch([]string{h}, etag, false)
		weak := etagListMatch([]string{h}, etag, true)
		if strong && !weak {
			t.Fatalf("%q matches %q strongly but not weakly", h, etag)
		}
		if etag != "" && !strings.ContainsAny(etag, "\"") {
			q := `"` + etag + `"`
			for _, l := range []string{q, "*", `"zz-not-it", ` + q, q + ", " + h} {
				if !etagListMatch([]string{l}, etag, false) {
					t.Fatalf("If-Match %q does not match etag %q", l, etag)
				}
			}
			if etagListMatch([]string{"W/" + q}, etag, false) {
				t.Fatalf("weak %q matched strongly", "W/"+q)
			}
			if !ifRangeHolds(ifRange(q), info) || ifRangeHolds(ifRange("W/"+q), info) {
				t.Fatalf("If-Range of etag %q: strong must hold, weak must not", etag)
			}
		}
		r := ifRange(h)
		if v := strings.TrimSpace(h); v != "" && ifRangeHolds(r, info) { // blank is no If-Range (net/http trims values)
			if strings.HasPrefix(v, "W/") {
				t.Fatalf("If-Range %q (weak) held", h)
			}
			if v != `"`+etag+`"` {
				d, err := http.ParseTime(v)
				if err != nil || d.Unix() != info.Modified.Unix() {
					t.Fatalf("If-Range %q held for etag %q, modified %v", h, etag, info.Modified)
				}
			}
		}
	})
}

func ifRange(v string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Range", "bytes=0-0")
	r.Header["If-Range"] = []string{v}
	return r
}

// FuzzPutIfMatch feeds arbitrary If-Match field lines of a PUT to
// putIfMatch (ADR-108). It must never panic; an accepted tag is "*" or
// has no quote, comma or blank (one entity tag, sent to S3 as "tag");
// a quoted or bare valid tag reads back as itself; a weak one is a 412
// (conflict), a list a 400 (invalid), never accepted. deleteIfMatch
// reads every input as putIfMatch does.
func FuzzPutIfMatch(f *testing.F) {
	for _, s := range []string{`"abc"`, "abc", "*", `"*"`, `W/"abc"`, `"a", "b"`, `""`, ` "x" `, `"a"b"`, "a b", `"d41d8cd98f00b204e9800998ecf8427e-3"`, "", ",", "\t*\t"} {
		f.Add(s, "")
	}
	f.Add(`"a"`, `"b"`)
	f.Fuzz(func(t *testing.T, line, line2 string) {
		lines := []string{line}
		if line2 != "" {
			lines = append(lines, line2)
		}
		tag, err := putIfMatch("k", lines)
		dtag, derr := deleteIfMatch("k", lines) // DELETE's If-Match reads the same (ADR-154)
		if dtag != tag || errs.KindOf(derr) != errs.KindOf(err) || errs.StatusOf(derr) != errs.StatusOf(err) {
			t.Fatalf("%q: PUT reads %q (%v), DELETE %q (%v)", lines, tag, err, dtag, derr)
		}
		if err != nil {
			if tag != "" {
				t.Fatalf("%q: error %v with tag %q", lines, err, tag)
			}
			if k := errs.KindOf(err); k != errs.Invalid && k != errs.Conflict {
				t.Fatalf("%q: kind %s", lines, k)
			}
			return
		}
		if tag != "*" && (tag == "" || strings.ContainsAny(tag, "\", \t")) {
			t.Fatalf("%q accepted as tag %q", lines, tag)
		}
		if line2 != "" && strings.TrimSpace(line2) != "" && strings.TrimSpace(line) != "" {
			t.Fatalf("two non-blank lines %q accepted as %q", lines, tag)
		}
		v := strings.TrimSpace(strings.Join(lines, ","))
		if strings.HasPrefix(v, "W/") {
			t.Fatalf("weak %q accepted", v)
		}
		if v != tag && v != `"`+tag+`"` {
			t.Fatalf("%q read as %q", lines, tag)
		}
	})
}
