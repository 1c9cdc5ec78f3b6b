package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

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
// file) and no segment over 255 bytes (NAME_MAX); and what the s3 backend
// cannot store either, so that a key written on the embedded default can
// move to MinIO (production): a segment — between "/" or a backslash —
// that is "." or ".." once the white space around it is trimmed (MinIO
// refuses it), a key of only white space (minio-go refuses it), a key
// ending in MinIODirSuffix (MinIO lists it as another key). The local
// backend and the short-circuit client's direct reads (ADR-015) both apply
// it.
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
	if strings.TrimSpace(key) == "" {
		return errs.Errorf("storage.key", errs.Invalid, "key %q: a key of only white space is not supported (the s3 backend cannot store it)", key)
	}
	if strings.HasSuffix(key, MinIODirSuffix) {
		return MinIODirSuffixError(key)
	}
	if minioDotSegment(key) {
		return errs.Errorf("storage.key", errs.Invalid, "key %q: a . or .. segment (white space around it, or a backslash for a separator) is not supported (MinIO refuses it)", key)
	}
	return nil
}

// MinIODirSuffix is the name under which MinIO stores a key ending in "/"
// ("d/" is kept as "d__XLDIR__"): a key ending in it would be listed, and
// read, as that other key ("x__XLDIR__" lists as "x/").
const MinIODirSuffix = "__XLDIR__"

// MinIODirSuffixError is the refusal of a key ending in MinIODirSuffix,
// the same on every backend.
func MinIODirSuffixError(key string) error {
	return errs.Errorf("storage.key", errs.Invalid, "key %q: a key ending in %s is not supported (MinIO would list it as %q)",
		key, MinIODirSuffix, strings.TrimSuffix(key, MinIODirSuffix)+"/")
}

// minioDotSegment reports whether key has a segment MinIO refuses beyond a
// bare "." or "..": segments end at "/" or a backslash, and the bytes b
// with unicode.IsSpace(rune(b)) around one are trimmed (MinIO's
// hasBadPathComponent).
func minioDotSegment(key string) bool {
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' && key[i] != '\\' {
			continue
		}
		seg := key[start:i]
		for seg != "" && unicode.IsSpace(rune(seg[0])) {
			seg = seg[1:]
		}
		for seg != "" && unicode.IsSpace(rune(seg[len(seg)-1])) {
			seg = seg[:len(seg)-1]
		}
		if seg == "." || seg == ".." {
			return true
		}
		start = i + 1
	}
	return false
}

// LocalETagXattr is the extended attribute in which the local backend keeps
// an object's etag and, after it, its Content-Type (ADR-084): the value is
// the 32 hex digits of the etag, or those, a newline and the type; or,
// until the etag is known (a socket write being hashed), a newline and the
// type. One attribute, so a GET reads both with one fgetxattr(2); set on
// the temp file, it travels with the inode through the rename, so a type
// is never torn from its object nor given to another.
const LocalETagXattr = "user.lakehouse.etag"

// OpenLocalObject opens key read-only beneath dirfd, the local backend's
// object directory, the one way both storaged and the short-circuit
// client's direct reads do (ADR-015): never above dirfd, no symlinks.
// LocalObjectMissing tells which errors mean "no such object".
func OpenLocalObject(dirfd int, key string) (int, error) {
	return unix.Openat2(dirfd, filepath.FromSlash(key), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// LocalObjectMissing reports whether an error of OpenLocalObject means
// there is no object at key (a missing name, a prefix that is an object, a
// symlink, a path escaping the directory).
func LocalObjectMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV)
}

// LocalETag is the etag stored in an open object file's xattr; false when
// it has none (a file written by hand, a file system without xattrs).
func LocalETag(fd int) (string, bool) {
	etag, _, ok := LocalMeta(fd)
	return etag, ok
}

// LocalMeta is the etag and Content-Type stored in an open object file's
// xattr (LocalETagXattr). ok is false when there is no etag (the type may
// still be there: the file is hashed and LocalMetaValue written back).
// One fgetxattr(2) and one allocation, as reading the etag alone took.
func LocalMeta(fd int) (etag, contentType string, ok bool) {
	var b [localMetaMax + 1]byte
	n, err := unix.Fgetxattr(fd, LocalETagXattr, b[:])
	if err != nil {
		return "", "", false
	}
	return ParseLocalMeta(b[:n])
}

// localMetaMax is the longest value LocalMetaValue writes.
const localMetaMax = 32 + 1 + MaxContentTypeBytes

// ParseLocalMeta reads a LocalETagXattr value (LocalMeta).
func ParseLocalMeta(v []byte) (etag, contentType string, ok bool) {
	switch {
	case len(v) > 1 && v[0] == '\n': // first: "\n" + a 31-byte type is 32 bytes too
		return "", string(v[1:]), false
	case len(v) == 32:
		return string(v), "", true
	case len(v) > 33 && v[32] == '\n':
		s := string(v)
		return s[:32], s[33:], true
	}
	return "", "", false
}

// LocalMetaValue is the LocalETagXattr value for etag ("" when not known
// yet) and contentType ("" for none).
func LocalMetaValue(etag, contentType string) []byte {
	if contentType == "" {
		return []byte(etag)
	}
	b := make([]byte, 0, len(etag)+1+len(contentType))
	b = append(b, etag...)
	b = append(b, '\n')
	return append(b, contentType...)
}
