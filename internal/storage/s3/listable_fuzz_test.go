package s3

import (
	"strings"
	"testing"
	"unicode"
)

// minioRefusesPrefix is MinIO's check of a listing's prefix or
// start-after (cmd: hasBadPathComponent, IsValidObjectPrefix), written
// again from its rules: a segment between "/" or "\" that is "." or ".."
// once the bytes b with unicode.IsSpace(rune(b)) around it are trimmed, a
// "//", a NUL. listableName also cuts at any control character.
func minioRefusesPrefix(name string) bool {
	if strings.Contains(name, "//") || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 }) >= 0 {
		return true
	}
	for _, seg := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		b := []byte(seg)
		for len(b) > 0 && unicode.IsSpace(rune(b[0])) {
			b = b[1:]
		}
		for len(b) > 0 && unicode.IsSpace(rune(b[len(b)-1])) {
			b = b[:len(b)-1]
		}
		if string(b) == "." || string(b) == ".." {
			return true
		}
	}
	return false
}

// FuzzListableName: listableName gives a prefix of the name (so a listing
// of it holds every key wanted) that MinIO accepts, and leaves a name
// MinIO accepts as it is (no listing is widened for nothing).
//
//	go test -fuzz=FuzzListableName -fuzztime=60s ./internal/storage/s3/
func FuzzListableName(f *testing.F) {
	for _, s := range []string{"", "a", "d/.", "d/..", "d/./", "d//", "/", "/a", "d/ .", "d/. ", "d/ .. /x", `a\.`, `a\..\b`,
		`a\/b`, "a/\t./b", ".\u00a0", ". \u2005", "d/.\x01", "x/\x00", "é/ .", " ", "a\\\\b", "a/b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := listableName(name)
		if !strings.HasPrefix(name, got) {
			t.Fatalf("listableName(%q) = %q, not a prefix", name, got)
		}
		if minioRefusesPrefix(got) {
			t.Fatalf("listableName(%q) = %q, which MinIO refuses", name, got)
		}
		if !minioRefusesPrefix(name) && !strings.HasPrefix(name, "/") && got != name {
			t.Fatalf("listableName(%q) = %q, cut a name MinIO accepts", name, got)
		}
	})
}
