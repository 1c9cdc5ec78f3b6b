package storage

import (
	"regexp"
	"strconv"
	"testing"
)

// rangeRE is RFC 9110's single byte-range: "bytes=", optional blanks,
// first-pos "-" last-pos (digits only, either may be missing, not both).
var rangeRE = regexp.MustCompile(`^bytes=[ \t]*([0-9]*)-([0-9]*)[ \t]*$`)

// FuzzParseRange checks parseRange (an untrusted request header) against
// the grammar written again as a regexp: what matches with positions that
// fit int64 is a range (a suffix, or first..last; last before first is a
// 416), anything else is ignored — never an error, never a range.
//
//	go test -fuzz=FuzzParseRange -fuzztime=60s ./internal/storage/
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-0", "bytes=-5", "bytes=5-", "bytes=5-2", "bytes=-0", "bytes=0-1,3-4", "bytes=abc",
		"bytes=+1-2", "bytes=1-+2", "bytes=2 - 3", "bytes=-", "bytes= 2-3 ", "bytes=99999999999999999999-", "items=0-1", "Bytes=0-1",
		"bytes=\t1-2", "bytes=1-2\u00a0", "bytes=0x1-2", "bytes=--1", "bytes=1--2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, ranged, err := parseRange(h)
		m := rangeRE.FindStringSubmatch(h)
		if m == nil || (m[1] == "" && m[2] == "") {
			if ranged || err != nil {
				t.Fatalf("parseRange(%q) = %+v %v %v, want it ignored", h, r, ranged, err)
			}
			return
		}
		a, aerr := strconv.ParseInt(m[1], 10, 64)
		b, berr := strconv.ParseInt(m[2], 10, 64)
		switch {
		case m[1] == "":
			if berr != nil {
				if ranged || err != nil {
					t.Fatalf("parseRange(%q): %v %v, want it ignored (overflow)", h, ranged, err)
				}
				return
			}
			if err != nil || !ranged || !r.suffix || r.n != b {
				t.Fatalf("parseRange(%q) = %+v %v %v, want the last %d bytes", h, r, ranged, err, b)
			}
		case aerr != nil || (m[2] != "" && berr != nil):
			if ranged || err != nil {
				t.Fatalf("parseRange(%q): %v %v, want it ignored (overflow)", h, ranged, err)
			}
		case m[2] == "":
			if err != nil || !ranged || r.suffix || r.start != a || r.end != -1 {
				t.Fatalf("parseRange(%q) = %+v %v %v, want %d-", h, r, ranged, err, a)
			}
		case b < a:
			if err == nil || ranged {
				t.Fatalf("parseRange(%q) = %+v %v %v, want a 416", h, r, ranged, err)
			}
		default:
			if err != nil || !ranged || r.suffix || r.start != a || r.end != b {
				t.Fatalf("parseRange(%q) = %+v %v %v, want %d-%d", h, r, ranged, err, a, b)
			}
		}
	})
}
