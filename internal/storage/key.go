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

// ValidateLocalKey adds the local backend's rules to ValidateKey: no empty
// or "." segment (a file system would fold them, so two keys would share a
// file) and no segment over 255 bytes (NAME_MAX). The local backend and the
// short-circuit client's direct reads (ADR-015) both apply it.
func ValidateLocalKey(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return errs.Errorf("storage.key", errs.Invalid, "key %q: empty path segment (// or a trailing /) is not supported by the local backend", key)
		case seg == ".":
			return errs.Errorf("storage.key", errs.Invalid, "key %q: a . segment is not supported by the local backend", key)
		case len(seg) > 255:
			return errs.Errorf("storage.key", errs.Invalid, "key %q: a path segment is longer than 255 bytes (local backend)", key)
		}
	}
	return nil
}

// LocalETagXattr is the extended attribute in which the local backend keeps
// an object's etag.
const LocalETagXattr = "user.lakehouse.etag"
