package ingestd

// Idempotency-Key on POST /v1/ingest (ADR-123). A request with a key
// records it, with a hash of the request, in the version it commits
// (catalog.Dataset.IdempotencyKey, RequestHash). Before converting, the
// newest ingest.IdempotencyWindow versions are looked at (one versions
// page, read from the manifests' summaries): the key there with the same
// hash answers that version's result (Idempotent-Replayed: true) and
// writes nothing; with another hash it is a 409. Every commit attempt on a
// base is preceded by a look at every version up to that base, so a commit
// that lost the race for a version to the same key's commit (another
// ingestd, or a retry after a lost answer) answers the replay instead of
// committing a second version: a commit lands only on the latest version,
// and every version up to it has been looked at.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
)

// idempotencyKey reads the Idempotency-Key header: "" when absent; a 400
// when sent more than once, empty, too long or not printable ASCII.
func idempotencyKey(h http.Header) (string, error) {
	vs := h.Values(ingest.IdempotencyKeyHeader)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", errs.E("ingest", errs.Invalid, fmt.Sprintf("%s: sent %d times; send one", ingest.IdempotencyKeyHeader, len(vs)))
	}
	if err := catalog.ValidateIdempotencyKey(vs[0]); err != nil {
		return "", errs.E("ingest", errs.Invalid, errs.Message(err))
	}
	return vs[0], nil
}

// requestHash is the hash recorded with a key: the dataset, the mode, the
// format the upload was read as and the SHA-256 of the uploaded bytes (the
// file, not a multipart envelope, whose boundary differs per send).
func requestHash(p ingest.Params, format string, bodySum []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "lakehouse-ingest/1\x00%s\x00%s\x00%s\x00", p.Name, p.Mode, format)
	h.Write(bodySum)
	return hex.EncodeToString(h.Sum(nil))
}

// claimKey marks key as in progress on dataset name in this process; the
// second request with the same key while the first runs is a 409 (it
// would convert and upload for nothing, and lose the commit race to the
// first). release ends the claim.
func (s *Server) claimKey(name, key string) (release func(), err error) {
	k := name + "\x00" + key
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[k] {
		return nil, errs.E("ingest", errs.Conflict, fmt.Sprintf("a request with %s %q on dataset %q is in progress; retry once it has answered (its answer, or a replay of it, will be yours)", ingest.IdempotencyKeyHeader, key, name))
	}
	s.keys[k] = true
	return func() {
		s.mu.Lock()
		delete(s.keys, k)
		s.mu.Unlock()
	}, nil
}

// findKey looks for key in the versions of name after from, newest first,
// at most ingest.IdempotencyWindow of them; latest is the newest version
// the caller knows of (0: unknown), which bounds the page. It returns the
// version holding the key (nil if none) and the newest version looked at
// (every version from there down to from+1, or the window, was seen).
func (s *Server) findKey(ctx context.Context, name, key string, from, latest int64) (*catalog.VersionInfo, int64, error) {
	limit := func(hi int64, seen int) int {
		n := int64(ingest.IdempotencyWindow - seen)
		if hi > 0 {
			n = min(n, hi-from)
		}
		return int(max(n, 1))
	}
	q := catalog.VersionsQuery{Desc: true, Limit: limit(latest, 0)}
	var top int64
	seen := 0
	for {
		page, err := s.opts.Catalog.VersionsPage(ctx, name, q)
		switch {
		case errs.Is(err, errs.NotFound):
			return nil, top, nil // no dataset: no version holds the key
		case err != nil:
			return nil, 0, errs.E("ingest", errs.KindOf(err), "catalogd: looking up the Idempotency-Key", err)
		}
		for i := range page.Versions {
			v := page.Versions[i]
			top = max(top, v.Version)
			if v.Version <= from {
				return nil, top, nil
			}
			if v.IdempotencyKey == key {
				return &v, top, nil
			}
			if seen++; seen >= ingest.IdempotencyWindow {
				return nil, top, nil
			}
		}
		if page.Next <= 1 || len(page.Versions) == 0 {
			return nil, top, nil
		}
		q.After, q.Limit = page.Next, limit(page.Next-1, seen)
	}
}

// mismatch is the answer to a key that committed another request.
func mismatch(name, key string, v int64) error {
	return errs.E("ingest", errs.Conflict, fmt.Sprintf("%s %q was already used on dataset %q for a different request (version %d: another body, mode or format); nothing was written — use a new key for a new request", ingest.IdempotencyKeyHeader, key, name, v))
}

// answerFound answers a request whose key found version found committed:
// the replay of that commit when it was this same request (hash), else
// mismatch's 409. retries and start fill the answer's counters.
func (s *Server) answerFound(ctx context.Context, p ingest.Params, found *catalog.VersionInfo, hash, format string, inBytes int64, retries int, start time.Time) (*ingest.Result, error) {
	if found.RequestHash != hash {
		return nil, mismatch(p.Name, p.IdempotencyKey, found.Version)
	}
	res, err := s.replay(ctx, p, found.Version, format, inBytes)
	if err != nil {
		return nil, err
	}
	res.Retries = retries
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

// replay is the result of the request that committed version v of name
// with this request's key: its files are those v added (an append's after
// its base's, which catalogd keeps first; all of them otherwise).
func (s *Server) replay(ctx context.Context, p ingest.Params, v int64, format string, inBytes int64) (*ingest.Result, error) {
	ds, err := s.opts.Catalog.Get(ctx, p.Name, v)
	if err != nil {
		return nil, errs.E("ingest", errs.KindOf(err), fmt.Sprintf("catalogd: reading version %d, committed earlier with this %s", v, ingest.IdempotencyKeyHeader), err)
	}
	files := ds.Files
	if ds.Mode == ingest.ModeAppend && ds.BaseVersion > 0 {
		base, err := s.opts.Catalog.Get(ctx, p.Name, ds.BaseVersion)
		switch {
		case err == nil && len(base.Files) <= len(files) && sameKeys(base.Files, files[:len(base.Files)]):
			files = files[len(base.Files):]
		case err == nil, errs.Is(err, errs.NotFound): // a re-create over a tombstone: all of them
		default:
			return nil, errs.E("ingest", errs.KindOf(err), fmt.Sprintf("catalogd: reading version %d", ds.BaseVersion), err)
		}
	}
	res := &ingest.Result{Dataset: p.Name, Version: ds.Version, Mode: ds.Mode, Format: format, InBytes: inBytes,
		Schema: ds.Schema, Files: append([]catalog.File{}, files...), IdempotencyKey: p.IdempotencyKey, IdempotentReplayed: true}
	for _, f := range files {
		res.Rows += f.Rows
		res.Bytes += f.Bytes
	}
	return res, nil
}

func sameKeys(a, b []catalog.File) bool {
	for i := range a {
		if a[i].Key != b[i].Key {
			return false
		}
	}
	return true
}
