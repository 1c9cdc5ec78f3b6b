package storage

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
)

// MaxKeyBytes is the longest key DESIGN.md allows.
const MaxKeyBytes = 1024

// ValidateKey checks key against DESIGN.md: non-empty UTF-8, at most 1024
// bytes, no ".." segment, no leading "/", no NUL, no control characters.
// The error is Invalid and says what is wrong.
func ValidateKey(key string) error {
	if err := checkKey(key); err != nil {
		return errs.E("storage.key", errs.Invalid, err.Error())
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key")
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("key of %d bytes is longer than %d bytes", len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not valid UTF-8", key)
	case key[0] == '/':
		return fmt.Errorf("key %q starts with /", key)
	}
	for i, r := range key {
		if r == 0 {
			return fmt.Errorf("key %q has a NUL byte at offset %d", key, i)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("key %q has a control character %U at offset %d", key, r, i)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." {
			return fmt.Errorf("key %q has a .. segment", key)
		}
	}
	return nil
}
