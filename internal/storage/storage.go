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
	"time"
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
}

// PutOptions modify Put.
type PutOptions struct {
	// CreateOnly makes the write fail with Conflict (HTTP 412) when the key
	// already exists (If-None-Match: *). The check and the write are one
	// atomic step: of two concurrent create-only writers exactly one wins.
	CreateOnly bool
	// ContentType is stored where the backend supports it (s3); optional.
	ContentType string
}

// GetOptions select a byte range: Length bytes from Offset; Length <= 0
// reads from Offset to the end. The zero value reads the whole object.
type GetOptions struct {
	Offset int64
	Length int64
}

// Whole is the GetOptions that read the whole object.
var Whole = GetOptions{}

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
