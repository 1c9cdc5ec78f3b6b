// Package storage is the contract of storaged (:3211), Lakehouse-Go's object
// store: the Store interface every backend implements (storage/local on a
// directory, storage/s3 on MinIO or any S3), key validation, the HTTP routes
// of DESIGN.md (Routes) and the typed Client that catalogd, ingestd, queryd,
// vectord and matrixd use to reach storaged. The Client implements Store, so
// callers and tests do not care whether they hold a backend or a remote
// daemon.
package storage

import (
	"context"
	"io"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	ETag     string    `json:"etag"` // content hash (local: xxh3-128 hex; s3: the S3 ETag), unquoted
	Modified time.Time `json:"modified"`
	// Path is the object's absolute file path when the backend is local
	// (see local.ObjectPath), "" for s3. queryd reads Parquet files at this
	// path directly. The file at Path is replaced atomically by a later Put
	// (rename), so an open file handle always sees one whole version.
	Path string `json:"path,omitempty"`
	// ContentType is the media type given at Put, DefaultContentType when
	// none was given, as Put, Get and Head return it; "" in List pages (S3's
	// listing has none). Not part of DESIGN.md's PUT and list answers:
	// storaged's HTTP answers carry it as the Content-Type header of GET and
	// HEAD only (ADR-084).
	ContentType string `json:"content_type,omitempty"`
}

// PutOptions modify Put.
type PutOptions struct {
	// CreateOnly makes the write fail with Conflict (HTTP 412) when the key
	// already exists (If-None-Match: *). The check and the write are one
	// atomic step: of two concurrent create-only writers exactly one wins.
	CreateOnly bool
	// IfMatch makes the write a compare-and-swap (If-Match on PUT, as
	// S3 and MinIO take it): it lands only if the key is an object whose
	// etag is IfMatch ("*": any object), checked and written as one
	// atomic step; Conflict (HTTP 412) when the etag differs, NotFound
	// (404) when there is no object (ADR-108). The etag is unquoted.
	IfMatch string
	// ContentType is stored with the object and answered on GET and HEAD
	// (ADR-084); "" stores none and GET answers DefaultContentType.
	// ValidateContentType says what is accepted.
	ContentType string
	// ContentMD5 is the base64 MD5 of the body the caller sent
	// (Content-MD5, RFC 1864, as S3 takes it); "" checks none. A body
	// whose MD5 differs is refused with Invalid (HTTP 400, S3's
	// BadDigest) and nothing is written (ADR-150). ParseContentMD5 says
	// what is accepted.
	ContentMD5 string
}

// DeleteOptions modify a delete (DeleteWith).
type DeleteOptions struct {
	// IfMatch makes the delete conditional (If-Match on DELETE, as AWS S3
	// takes it): the key is removed only if it is an object whose etag is
	// IfMatch ("*": any object), checked and removed as one atomic step;
	// Conflict (HTTP 412) when the etag differs, NotFound (404) when there
	// is no object, and nothing is removed (ADR-154). The etag is
	// unquoted; "" deletes unconditionally.
	IfMatch string
}

// ConditionalDeleter is a backend that evaluates DeleteOptions atomically
// against concurrent writes of the key (the local backend, the typed
// Client). The s3 backend is not one: MinIO ignores If-Match on
// DeleteObject, and a HEAD before the delete could remove an object
// written between the two, so storaged refuses If-Match on DELETE there.
type ConditionalDeleter interface {
	// DeleteWith removes key as opts allow. Errors: as Delete, and
	// Conflict with status 412 or NotFound as DeleteOptions.IfMatch says.
	DeleteWith(ctx context.Context, key string, opts DeleteOptions) error
}

// DefaultContentType is what GET and HEAD answer for an object stored
// without a Content-Type (RFC 2046's type for arbitrary bytes; what minio-go
// stores for a PUT without one).
const DefaultContentType = "application/octet-stream"

// MaxContentTypeBytes bounds a stored Content-Type (ADR-084).
const MaxContentTypeBytes = 1024

// GetOptions select a byte range: Length bytes from Offset; Length <= 0
// reads from Offset to the end. The zero value reads the whole object.
type GetOptions struct {
	Offset int64
	Length int64
}

// Whole is the GetOptions that read the whole object.
var Whole = GetOptions{}

// SuffixGetter is a backend that reads the last n bytes of an object (a
// suffix Range, bytes=-n) in one call: storaged would otherwise ask for the
// size first and read from it second, two calls between which the object
// can be replaced (a spurious 416, or bytes of another version). offset is
// where the returned bytes start in the object (max(0, Size-n)); an empty
// object is an empty read at offset 0. n > 0. Errors: as Get.
type SuffixGetter interface {
	GetSuffix(ctx context.Context, key string, n int64) (rc io.ReadCloser, info ObjectInfo, offset int64, err error)
}

// ListOptions select a page of keys in byte order.
type ListOptions struct {
	Prefix string // only keys starting with Prefix
	After  string // only keys strictly greater than After (the previous page's Next)
	Limit  int    // at most Limit objects; <= 0 means DefaultListLimit, capped at MaxListLimit
}

// List limits.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// ListPage is one page of List; Next is "" on the last page, else the value
// to pass as After for the next page.
type ListPage struct {
	Objects []ObjectInfo `json:"objects"`
	Next    string       `json:"next"`
}

// ValidateContentType checks a Content-Type given at Put: at most
// MaxContentTypeBytes of printable ASCII (space and tab allowed inside);
// "" means none. A control character (the socket path has no HTTP parser to
// refuse it), a byte over 0x7E or an absurd length is Invalid: such a value
// would be stored and sent back verbatim in every GET's header.
func ValidateContentType(ct string) error {
	if len(ct) > MaxContentTypeBytes {
		return errs.Errorf("storage.put", errs.Invalid, "Content-Type of %d bytes: at most %d are stored", len(ct), MaxContentTypeBytes)
	}
	for i := 0; i < len(ct); i++ {
		if c := ct[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return errs.Errorf("storage.put", errs.Invalid, "Content-Type %q: byte 0x%02x at offset %d is not printable ASCII", ct, c, i)
		}
	}
	if ct != "" && strings.TrimSpace(ct) != ct {
		return errs.Errorf("storage.put", errs.Invalid, "Content-Type %q: white space around the value", ct)
	}
	return nil
}

// ContentTypeOf is the Content-Type GET and HEAD answer for an object
// stored with ct.
func ContentTypeOf(ct string) string {
	if ct == "" {
		return DefaultContentType
	}
	return ct
}

// Store is an object store. Every method validates the key (ValidateKey) and
// returns *errs.Error values of the kinds listed; any backend failure not
// listed is Unavailable (the backend cannot be reached, or the bucket is
// missing: the message names the endpoint and bucket, runbook word
// "NoSuchBucket") or Internal.
type Store interface {
	// Put streams r into key. size is the exact length when known, -1 when
	// not (the body is streamed in bounded parts; memory stays flat). The
	// object becomes visible whole or not at all: a reader never sees a
	// partial object and a failed or interrupted Put leaves the previous
	// object (if any) in place.
	// Errors: Invalid (bad key; body shorter or longer than size),
	// Conflict with status 412 (CreateOnly and the key exists),
	// Unavailable, Timeout (ctx).
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)

	// Get opens key for reading (a byte range of it with opts). The returned
	// info describes the whole object (Size is its full size). The caller
	// must Close the reader.
	// Errors: Invalid (bad key; Offset beyond the end: status 416),
	// NotFound, Unavailable.
	Get(ctx context.Context, key string, opts GetOptions) (io.ReadCloser, ObjectInfo, error)

	// Head returns key's metadata without reading it.
	// Errors: Invalid, NotFound, Unavailable.
	Head(ctx context.Context, key string) (ObjectInfo, error)

	// Delete removes key. Deleting a missing key succeeds (S3 semantics).
	// Errors: Invalid, Unavailable.
	Delete(ctx context.Context, key string) error

	// List returns one page of objects in byte order of their keys.
	// Errors: Invalid (bad limit), Unavailable.
	List(ctx context.Context, opts ListOptions) (ListPage, error)
}

// ListAll pages through List and calls fn for every object under prefix,
// stopping at the first error fn returns.
func ListAll(ctx context.Context, s Store, prefix string, fn func(ObjectInfo) error) error {
	after := ""
	for {
		page, err := s.List(ctx, ListOptions{Prefix: prefix, After: after, Limit: MaxListLimit})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}
