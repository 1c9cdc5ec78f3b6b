package local_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// FuzzKey checks ValidateKey against DESIGN.md's rules and that no key the
// local backend accepts can leave <dir>/data.
//
//	go test -fuzz=FuzzKey -fuzztime=30s ./internal/storage/local/
func FuzzKey(f *testing.F) {
	for _, k := range []string{"a", "a/b.parquet", "../x", "a/../b", "/abs", "a//b", "./a", "a/.", "..", "...", "a/..b",
		"nul\x00", "\x7f", "é/ü", "a\\..\\b", strings.Repeat("x", 1024), strings.Repeat("y", 1025), "\xff", "a/\u0085"} {
		f.Add(k)
	}
	root := f.TempDir()
	store, err := local.Open(root, nil)
	if err != nil {
		f.Fatal(err)
	}
	data := filepath.Join(root, "data")
	f.Fuzz(func(t *testing.T, key string) {
		err := storage.ValidateKey(key)
		valid := key != "" && len(key) <= 1024 && utf8.ValidString(key) && key[0] != '/'
		if valid {
			for _, r := range key {
				if r == 0 || unicode.IsControl(r) {
					valid = false
				}
			}
			for _, s := range strings.Split(key, "/") {
				if s == ".." {
					valid = false
				}
			}
		}
		if (err == nil) != valid {
			t.Fatalf("ValidateKey(%q) = %v, want valid=%v", key, err, valid)
		}
		p, perr := local.ObjectPath(root, key)
		if err != nil && perr == nil {
			t.Fatalf("ObjectPath accepted invalid key %q", key)
		}
		if perr != nil {
			return
		}
		rel, rerr := filepath.Rel(data, p)
		if rerr != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
			t.Fatalf("key %q maps to %s, outside %s", key, p, data)
		}
		if filepath.ToSlash(rel) != key {
			t.Fatalf("key %q maps to %s: two keys could share a file", key, rel)
		}
		// Round trip through the real store (small body).
		if _, err := store.Put(context.Background(), key, bytes.NewReader([]byte(key)), int64(len(key)), storage.PutOptions{}); err == nil {
			store.Delete(context.Background(), key)
		}
	})
}
