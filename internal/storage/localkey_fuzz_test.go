package storage_test

import (
	"strings"
	"testing"
	"unicode"

	"lakehouse-go/internal/storage"
)

// FuzzValidateLocalKey checks ValidateLocalKey against its rules, written
// again here: ValidateKey's, no empty or "." segment and none over 255
// bytes (between "/"), not only white space, not ending in "__XLDIR__",
// and no segment MinIO refuses
// — between "/" or "\", "." or ".." once the bytes b with
// unicode.IsSpace(rune(b)) around it are trimmed.
//
//	go test -fuzz=FuzzValidateLocalKey -fuzztime=60s ./internal/storage/
func FuzzValidateLocalKey(f *testing.F) {
	for _, k := range []string{"a", "a/b", "a/./b", "a//b", "a/", "a/ ..", "a/. ", " ./b", `a\..\b`, `a\.`, `a\.b`, " ", "\u3000", " a",
		"a/x .. y", ".\u00a0", "..\u2005", strings.Repeat("x", 256), "é/" + strings.Repeat("é", 128), "a\\\\b", "...", "x__XLDIR__", "x__XLDIR__/y"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		want := storage.ValidateKey(key) == nil && strings.TrimSpace(key) != "" && !strings.HasSuffix(key, "__XLDIR__")
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || len(seg) > 255 {
				want = false
			}
		}
		for _, seg := range strings.FieldsFunc(key, func(r rune) bool { return r == '/' || r == '\\' }) {
			b := []byte(seg)
			for len(b) > 0 && unicode.IsSpace(rune(b[0])) {
				b = b[1:]
			}
			for len(b) > 0 && unicode.IsSpace(rune(b[len(b)-1])) {
				b = b[:len(b)-1]
			}
			if string(b) == "." || string(b) == ".." {
				want = false
			}
		}
		if err := storage.ValidateLocalKey(key); (err == nil) != want {
			t.Fatalf("ValidateLocalKey(%q) = %v, want ok=%v", key, err, want)
		}
	})
}
