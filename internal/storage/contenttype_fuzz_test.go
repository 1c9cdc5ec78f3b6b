package storage

import (
	"strings"
	"testing"
)

// FuzzContentType checks ValidateContentType and the local backend's xattr
// value (LocalMetaValue, ParseLocalMeta, ADR-084): an accepted type is
// printable ASCII of at most MaxContentTypeBytes without white space
// around it; any accepted type with an etag or without one reads back as
// written; any xattr value parses without panicking, and an etag it
// reports is the 32 bytes before the type.
func FuzzContentType(f *testing.F) {
	for _, s := range []string{"text/csv", "application/json; charset=utf-8", "", " text/csv", "text/csv\x01",
		"a\tb", "\n", "\ntext/csv", "0123456789abcdef0123456789abcdef\ntext/csv", "0123456789abcdef0123456789abcdef", "é"} {
		f.Add(s, "0123456789abcdef0123456789abcdef")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, ct, etag string) {
		if err := ValidateContentType(ct); err == nil {
			if len(ct) > MaxContentTypeBytes || strings.TrimSpace(ct) != ct {
				t.Fatalf("accepted %q", ct)
			}
			for i := 0; i < len(ct); i++ {
				if c := ct[i]; (c < 0x20 && c != '\t') || c > 0x7e {
					t.Fatalf("accepted %q with byte 0x%02x", ct, c)
				}
			}
			if len(etag) == 32 && !strings.Contains(etag, "\n") || etag == "" {
				e, c, ok := ParseLocalMeta(LocalMetaValue(etag, ct))
				if e != etag || c != ct || ok != (etag != "") {
					t.Fatalf("etag %q type %q read back as %q %q %v", etag, ct, e, c, ok)
				}
			}
		}
		v := []byte(ct)
		if e, c, ok := ParseLocalMeta(v); ok {
			if len(e) != 32 || string(v[:32]) != e || (c != "" && string(v[33:]) != c) {
				t.Fatalf("%q parsed as %q %q", v, e, c)
			}
		}
	})
}
