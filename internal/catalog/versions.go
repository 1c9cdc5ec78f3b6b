package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// Versions pages (ADR-013 "Thousands of versions"): GET .../versions
// answers at most limit versions (DefaultVersionsLimit, at most
// MaxVersionsLimit) in version order, or newest first with order=desc,
// and "next" — the last version of the page — when more follow; it is
// passed back as after.
const (
	DefaultVersionsLimit = 100
	MaxVersionsLimit     = 1000
)

// VersionsQuery selects a page of versions.
type VersionsQuery struct {
	// After: only versions after it in the page order (greater when
	// ascending, smaller when Desc); 0 starts at the first (or the latest).
	After int64
	// Limit: at most this many (<= 0: DefaultVersionsLimit; capped at
	// MaxVersionsLimit).
	Limit int
	// Desc lists newest first.
	Desc bool
}

// VersionsResponse is GET /v1/catalog/datasets/{name}/versions: one page.
type VersionsResponse struct {
	Name     string        `json:"name"`
	Versions []VersionInfo `json:"versions"`
	// Next is the last version of this page when more follow (absent on
	// the last page): pass it as after.
	Next int64 `json:"next,omitempty"`
}

// manifest is how a manifest is stored: the Dataset's fields with its
// summary first — file_count and bytes, derived from files — and the
// schema and files last, so a versions listing reads the first
// summaryBytes of each manifest, not its whole file list (a manifest of
// an append names every file of the dataset). Decoding it as a Dataset
// ignores the two summary fields.
type manifest struct {
	Name        string    `json:"name"`
	Version     int64     `json:"version"`
	RowCount    int64     `json:"row_count"`
	FileCount   int       `json:"file_count"`
	Bytes       int64     `json:"bytes"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Mode        string    `json:"mode,omitempty"`
	BaseVersion int64     `json:"base_version"`
	Deleted     bool      `json:"deleted,omitempty"`
	// Before schema and files, so a versions listing reads them from the
	// summary (ADR-123).
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	RequestHash    string   `json:"request_hash,omitempty"`
	Schema         []Column `json:"schema"`
	Files          []File   `json:"files"`
}

// encodeManifest is the stored form of d: json.MarshalIndent(manifest,
// "", " ") byte for byte, with the files — every file of the dataset on
// an append — written directly rather than through reflection and a
// second indenting pass over the whole (ADR-131: 5,000 files took about
// 20 ms of each commit; FuzzEncodeManifest compares the two).
func encodeManifest(d *Dataset) ([]byte, error) {
	head, err := json.MarshalIndent(manifest{Name: d.Name, Version: d.Version, RowCount: d.RowCount, FileCount: len(d.Files),
		Bytes: d.Bytes(), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Mode: d.Mode, BaseVersion: d.BaseVersion,
		Deleted: d.Deleted, IdempotencyKey: d.IdempotencyKey, RequestHash: d.RequestHash, Schema: d.Schema}, "", " ")
	if err != nil || d.Files == nil {
		return head, err
	}
	// head ends with the nil files: `"files": null` and "\n}".
	const tail = `"files": null` + "\n}"
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, fmt.Errorf("encode manifest: unexpected end %q", head[max(0, len(head)-32):])
	}
	b := append(make([]byte, 0, len(head)+len(d.Files)*(len(fileEntry)+64)), head[:len(head)-len(tail)]...)
	b = append(b, `"files": [`...)
	for i, f := range d.Files {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n  {\n   \"key\": "...)
		if plainJSON(f.Key) {
			b = append(append(append(b, '"'), f.Key...), '"')
		} else {
			key, err := json.Marshal(f.Key)
			if err != nil {
				return nil, err
			}
			b = append(b, key...)
		}
		b = append(b, ",\n   \"rows\": "...)
		b = strconv.AppendInt(b, f.Rows, 10)
		b = append(b, ",\n   \"bytes\": "...)
		b = strconv.AppendInt(b, f.Bytes, 10)
		b = append(b, "\n  }"...)
	}
	if len(d.Files) > 0 {
		b = append(b, "\n "...)
	}
	return append(b, "]\n}"...), nil
}

// plainJSON reports whether json.Marshal writes s as itself in quotes:
// printable ASCII without '"', '\\' or the HTML characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// fileEntry is the fixed text of one encoded file.
const fileEntry = "\n  {\n   \"key\": ,\n   \"rows\": ,\n   \"bytes\": \n  },"

// summaryBytes is how much of a manifest a versions listing reads first;
// a manifest whose summary does not fit (or one written before the summary
// was stored first) is read whole.
const summaryBytes = 2048

// parseSummary reads the versions line of a manifest from its first bytes
// b (possibly cut anywhere): ok only when the manifest is of the stored
// form above and every summary field came before "schema" or "files".
func parseSummary(b []byte) (info VersionInfo, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return VersionInfo{}, false
	}
	var haveVersion, haveCount, haveBytes bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return VersionInfo{}, false
		}
		key, isKey := tok.(string)
		if !isKey {
			return VersionInfo{}, false
		}
		var dst any
		switch key {
		case "schema", "files":
			return info, haveVersion && haveCount && haveBytes
		case "version":
			dst, haveVersion = &info.Version, true
		case "mode":
			dst = &info.Mode
		case "row_count":
			dst = &info.RowCount
		case "file_count":
			dst, haveCount = &info.FileCount, true
		case "bytes":
			dst, haveBytes = &info.Bytes, true
		case "updated_at":
			dst = &info.UpdatedAt
		case "deleted":
			dst = &info.Deleted
		case "idempotency_key":
			dst = &info.IdempotencyKey
		case "request_hash":
			dst = &info.RequestHash
		default:
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			return VersionInfo{}, false
		}
	}
	return VersionInfo{}, false
}

func summarize(d *Dataset) VersionInfo {
	return VersionInfo{Version: d.Version, Mode: d.Mode, RowCount: d.RowCount, FileCount: len(d.Files),
		Bytes: d.Bytes(), UpdatedAt: d.UpdatedAt, Deleted: d.Deleted, IdempotencyKey: d.IdempotencyKey, RequestHash: d.RequestHash}
}

// readSummary is the versions line of version v of name and the etag of
// the manifest it came from: its first summaryBytes, else all of it.
func (c *Catalog) readSummary(ctx context.Context, name string, v int64) (VersionInfo, string, error) {
	rc, oi, err := c.store.Get(ctx, ManifestKey(name, v), storage.GetOptions{Length: summaryBytes})
	switch {
	case err == nil:
		b, rerr := io.ReadAll(io.LimitReader(rc, summaryBytes))
		rc.Close()
		if rerr == nil && oi.ETag != "" {
			if info, ok := parseSummary(b); ok && info.Version == v {
				return info, oi.ETag, nil
			}
		}
	case errs.Is(err, errs.NotFound):
		return VersionInfo{}, "", errs.Errorf("catalog.versions", errs.NotFound, "dataset %q has no version %d", name, v)
	case !errs.Is(err, errs.Invalid):
		return VersionInfo{}, "", err
	}
	// No summary (or a range the store refused, as for an empty object):
	// the whole manifest, whose read says what is wrong with it.
	d, etag, err := c.readInfo(ctx, name, v)
	if err != nil {
		return VersionInfo{}, "", err
	}
	return summarize(d), etag, nil
}

// VersionsPage is one page of the versions of name (ADR-013): the
// manifests' keys are listed from the page's first (a listing that starts
// after a key, not one of every version), and each manifest not read
// before at that etag is read up to its summary.
func (c *Catalog) VersionsPage(ctx context.Context, name string, q VersionsQuery) (VersionsResponse, error) {
	const op = "catalog.versions"
	if err := ValidateName(name); err != nil {
		return VersionsResponse{}, err
	}
	if q.After < 0 {
		return VersionsResponse{}, errs.Errorf(op, errs.Invalid, "after %d: want a version >= 0", q.After)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultVersionsLimit
	}
	limit = min(limit, MaxVersionsLimit)
	res := VersionsResponse{Name: name, Versions: []VersionInfo{}}

	// from: the listing starts after version from-1; want: keys to list.
	var from, hi int64
	var want int
	if q.Desc {
		latest, err := c.latestVersion(ctx, name)
		if err != nil {
			return VersionsResponse{}, err
		}
		if latest == 0 {
			return VersionsResponse{}, errs.Errorf(op, errs.NotFound, "dataset %q not found", name)
		}
		hi = latest
		if q.After > 0 {
			hi = min(latest, q.After-1)
		}
		if hi < 1 {
			return res, nil
		}
		from = max(1, hi-int64(limit)+1)
		want = int(hi - from + 1)
	} else {
		from, want = q.After+1, limit+1 // one more says whether a next page exists
	}
	prefix := ManifestPrefix + name + "/"
	type listed struct {
		v    int64
		etag string
	}
	var vs []listed
	after := ManifestKey(name, from-1)
	for len(vs) < want {
		page, err := c.store.List(ctx, storage.ListOptions{Prefix: prefix, After: after, Limit: want - len(vs)})
		if err != nil {
			return VersionsResponse{}, err
		}
		past := false // newest first: a key after hi (only with a gap below it) ends the listing
		for _, o := range page.Objects {
			n, v, ok := parseManifestKey(o.Key)
			if q.Desc && ok && n == name && v > hi {
				past = true
				break
			}
			if ok && n == name && o.Key == ManifestKey(name, v) && len(vs) < want {
				vs = append(vs, listed{v, o.ETag})
			}
		}
		if past || page.Next == "" || len(page.Objects) == 0 {
			break
		}
		after = page.Next
	}
	if len(vs) == 0 && !q.Desc {
		// None at all, or none after q.After: is there a dataset?
		if latest, err := c.latestVersion(ctx, name); err != nil {
			return VersionsResponse{}, err
		} else if latest == 0 {
			return VersionsResponse{}, errs.Errorf(op, errs.NotFound, "dataset %q not found", name)
		}
	}
	if q.Desc {
		slices.Reverse(vs)
		if from > 1 && len(vs) > 0 {
			res.Next = vs[len(vs)-1].v
		}
	} else if len(vs) > limit {
		vs = vs[:limit]
		res.Next = vs[limit-1].v
	}

	out := make([]VersionInfo, len(vs))
	var todo []int
	c.mu.Lock()
	for i, l := range vs {
		if e, ok := c.infos[ManifestKey(name, l.v)]; ok && e.etag == l.etag && l.etag != "" {
			out[i] = e.info
		} else {
			todo = append(todo, i)
		}
	}
	c.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, i := range todo {
		g.Go(func() error {
			info, etag, err := c.readSummary(gctx, name, vs[i].v)
			if err != nil {
				return err
			}
			out[i] = info
			if etag != "" {
				c.mu.Lock()
				if len(c.infos) >= maxInfos {
					clear(c.infos)
				}
				c.infos[ManifestKey(name, vs[i].v)] = versionEntry{etag, info}
				c.mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return VersionsResponse{}, err
	}
	res.Versions = out
	return res, nil
}

// namesPage is the listing page of the dataset list (scanLatest).
const namesPage = 256

// allVersions gathers every version of name from page, MaxVersionsLimit
// at a time, for the Catalog and for the Client alike.
func allVersions(ctx context.Context, name string, page func(context.Context, string, VersionsQuery) (VersionsResponse, error)) ([]VersionInfo, error) {
	var all []VersionInfo
	q := VersionsQuery{Limit: MaxVersionsLimit}
	for {
		p, err := page(ctx, name, q)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Versions...)
		if p.Next <= q.After { // the last page (0), or a server that does not page
			return all, nil
		}
		q.After = p.Next
	}
}
