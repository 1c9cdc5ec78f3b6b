package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// ManifestPrefix is where manifests live in storaged.
const ManifestPrefix = "_catalog/"

// ManifestKey is the storage key of version v of dataset name:
// _catalog/{name}/{version}.json with the version zero-padded to 10 digits
// so that keys list in version order.
func ManifestKey(name string, v int64) string {
	return fmt.Sprintf("%s%s/%010d.json", ManifestPrefix, name, v)
}

// parseManifestKey is the inverse of ManifestKey: ok only for the key
// ManifestKey makes of a valid dataset name and a version >= 1. Any other
// key under _catalog/ (written through storaged by a token holder) is not a
// dataset: "_catalog/BAD/0000000001.json" was listed as a dataset named ""
// (its manifest's empty name) that could be neither read nor deleted.
func parseManifestKey(key string) (name string, v int64, ok bool) {
	rest, ok := strings.CutPrefix(key, ManifestPrefix)
	if !ok {
		return "", 0, false
	}
	name, file, ok := strings.Cut(rest, "/")
	if !ok {
		return "", 0, false
	}
	num, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return "", 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 1 || ValidateName(name) != nil || ManifestKey(name, v) != key {
		return "", 0, false
	}
	return name, v, true
}

// Catalog implements Service over a storage.Store (in catalogd, the
// storage.Client of storaged).
//
// Versions of a dataset are gapless (version N+1 is only ever written
// create-only after N exists, and manifests are never deleted), so the
// latest version is found by probing: the cache remembers the latest
// manifest this instance has seen per dataset, and every read of "the
// latest" HEADs version+1 first (ADR-013); a miss means the cache is
// current, a hit walks forward. Another instance's commit is therefore
// seen on the next read, and this instance's own commit immediately.
type Catalog struct {
	store storage.Store
	now   func() time.Time

	metrics *catalogMetrics // set by New (metrics.go)

	mu     sync.Mutex
	latest map[string]*Dataset // latest known manifest per name (may be a tombstone)
	// infos: the Versions line of each manifest read, by manifest key,
	// with the etag it was read at. Manifests are never rewritten, so a
	// listing then reads only the versions it has not seen: N appends no
	// longer cost N manifests (each naming up to N files) per listing.
	infos map[string]versionEntry
	// top: the latest version number seen per name (a versions page
	// newest first needs the number, not the manifest).
	top map[string]int64
	// disk: the manifest cache in catalogd's data dir (nil: none);
	// pruned: when its stale entries were last removed (UnixNano).
	disk   *manifestCache
	pruned atomic.Int64
}

type versionEntry struct {
	etag string
	info VersionInfo
}

// maxInfos bounds the Versions cache (about 150 bytes an entry); when it
// is full it starts over.
const maxInfos = 1 << 18

var _ Service = (*Catalog)(nil)

// NewCatalog returns a Catalog over store. now may be nil (time.Now).
func NewCatalog(store storage.Store, now func() time.Time) *Catalog {
	if now == nil {
		now = time.Now
	}
	return &Catalog{store: store, now: now, latest: map[string]*Dataset{}, infos: map[string]versionEntry{}, top: map[string]int64{}}
}

// UseManifestCache keeps the latest manifest of each dataset in dir, by key
// and etag, so a list after a restart reads from local disk every manifest
// whose key and etag it already holds (mcache.go). Call before serving.
func (c *Catalog) UseManifestCache(dir string, log *slog.Logger) *Catalog {
	c.disk = newManifestCache(dir, log)
	return c
}

func (c *Catalog) exists(ctx context.Context, name string, v int64) (bool, error) {
	_, err := c.store.Head(ctx, ManifestKey(name, v))
	switch {
	case err == nil:
		return true, nil
	case errs.Is(err, errs.NotFound):
		return false, nil
	}
	return false, err
}

func (c *Catalog) read(ctx context.Context, name string, v int64) (*Dataset, error) {
	d, _, err := c.readInfo(ctx, name, v)
	return d, err
}

// readInfo is read, with the object's etag.
func (c *Catalog) readInfo(ctx context.Context, name string, v int64) (*Dataset, string, error) {
	d, etag, _, err := c.readRaw(ctx, name, v)
	return d, etag, err
}

// readRaw is readInfo with the manifest's bytes.
func (c *Catalog) readRaw(ctx context.Context, name string, v int64) (*Dataset, string, []byte, error) {
	rc, oi, err := c.store.Get(ctx, ManifestKey(name, v), storage.Whole)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, "", nil, errs.Errorf("catalog.get", errs.NotFound, "dataset %q has no version %d", name, v)
		}
		return nil, "", nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return nil, "", nil, err
	}
	d, err := decodeManifest(b, name, v)
	if err != nil {
		return nil, "", nil, err
	}
	return d, oi.ETag, b, nil
}

// decodeManifest reads version v of name from its stored bytes: one JSON
// object a manifest catalogd wrote (checkManifest), else damaged.
func decodeManifest(b []byte, name string, v int64) (*Dataset, error) {
	if len(b) > maxManifestBytes {
		return nil, damaged(name, v, "it is not valid JSON (or over %d MiB): over %d MiB", maxManifestBytes>>20, maxManifestBytes>>20)
	}
	// Most manifests are of encodeManifest's form: their files are
	// parsed without reflection (decodeStored); any other is decoded
	// whole, and its errors said, as before.
	d, ok := decodeStored(b)
	if !ok {
		d = Dataset{}
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			return nil, damaged(name, v, "it is not valid JSON (or over %d MiB): %v", maxManifestBytes>>20, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, damaged(name, v, "it has data after its JSON object")
		}
	}
	if why := checkManifest(&d, name, v); why != "" {
		return nil, damaged(name, v, "%s", why)
	}
	return &d, nil
}

// maxManifestBytes bounds a manifest read.
const maxManifestBytes = 256 << 20

// damaged is the error for a manifest catalogd cannot trust (corrupt, cut,
// or edited through storaged by hand): 502 unavailable naming its key —
// storaged answered with something that is not a manifest (ADR-009's 502),
// and the message must reach the operator, which an internal error's
// does not. It was a 500 "internal error" for bad JSON, and a manifest
// edited to say another version or name, or rows its files do not hold,
// was served as if it were right (ADR-092).
func damaged(name string, v int64, format string, args ...any) error {
	return damagedError{errs.E("catalog.get", errs.Unavailable, http.StatusBadGateway,
		fmt.Sprintf("dataset %q: manifest %s in storage is damaged: %s; it was not written so by catalogd (restore it from a backup)",
			name, ManifestKey(name, v), fmt.Sprintf(format, args...)))}
}

// damagedError marks an error about what storage holds for one dataset —
// a damaged manifest or a gap in its versions (ADR-092) — as opposed to
// storaged failing: the dataset list names such a dataset as unreadable
// and answers the others (ADR-093). It is the *errs.Error it wraps for
// every other purpose (kind, status, message).
type damagedError struct{ error }

func (e damagedError) Unwrap() error { return e.error }

// isDamaged reports whether err is (or wraps) a damagedError.
func isDamaged(err error) bool {
	var d damagedError
	return errors.As(err, &d)
}

// checkManifest says what is wrong with d, read from version v of name
// ("" when nothing): every manifest catalogd writes passes it.
func checkManifest(d *Dataset, name string, v int64) string {
	switch {
	case d.Name != name:
		return fmt.Sprintf("it names dataset %q", shorten(d.Name))
	case d.Version != v:
		return fmt.Sprintf("it says version %d", d.Version)
	case d.BaseVersion < 0 || d.BaseVersion >= v:
		return fmt.Sprintf("base_version %d is not below its version", d.BaseVersion)
	}
	switch d.Mode {
	case "": // written before modes were recorded
	case ModeAppend, ModeReplace, ModeCompact:
		if d.Deleted {
			return fmt.Sprintf("a tombstone with mode %q", d.Mode)
		}
	case "delete":
		if !d.Deleted {
			return "mode delete but not deleted"
		}
	default:
		return fmt.Sprintf("mode %q", shorten(d.Mode))
	}
	if msg := checkIdempotency(d.IdempotencyKey, d.RequestHash); msg != "" {
		return msg
	}
	if d.Deleted {
		if len(d.Files) > 0 || d.RowCount != 0 || d.IdempotencyKey != "" {
			return "a tombstone with files, rows or an idempotency_key"
		}
		return ""
	}
	if len(d.Schema) == 0 {
		return "it has no schema"
	}
	var rows int64
	for i, f := range d.Files {
		if f.Key == "" || f.Rows < 0 || f.Bytes < 0 {
			return fmt.Sprintf("files[%d] has an empty key or negative rows or bytes", i)
		}
		rows += f.Rows
	}
	if rows != d.RowCount {
		return fmt.Sprintf("row_count %d, but its files hold %d rows", d.RowCount, rows)
	}
	if d.Files == nil {
		d.Files = []File{}
	}
	return ""
}

// latestVersion returns the latest version of name (0 when the dataset
// never existed), tombstones included, without reading it: from the
// latest known version it HEADs the next ones; from nothing it probes 1,
// 2, 4, ... and binary-searches the gap (ADR-013).
func (c *Catalog) latestVersion(ctx context.Context, name string) (int64, error) {
	c.mu.Lock()
	v := c.top[name]
	if d := c.latest[name]; d != nil && d.Version > v {
		v = d.Version
	}
	c.mu.Unlock()
	var err error
	if v == 0 {
		if v, err = c.probeFrom(ctx, name, 0); err != nil || v == 0 {
			return 0, err
		}
	} else if v, err = c.walkForward(ctx, name, v); err != nil {
		return 0, err
	}
	c.noteTop(name, v)
	return v, nil
}

// probeFrom returns the latest version of name given that version lo
// exists (0: nothing known): it HEADs lo+1, lo+2, lo+4, ... and
// binary-searches the gap (ADR-013), then checks with one listing that no
// version follows a gap (checkNoGap).
func (c *Catalog) probeFrom(ctx context.Context, name string, lo int64) (int64, error) {
	base, hi := lo, lo+1
	for off := int64(1); ; {
		ok, err := c.exists(ctx, name, hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		off *= 2
		lo, hi = hi, base+off
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := c.exists(ctx, name, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	// The probe assumes versions are gapless; a manifest removed
	// behind catalogd's back (a partial restore, a hand delete) hides
	// every version after it, and a commit would then write into the
	// gap: acknowledged, and shadowed by the versions after it.
	return c.checkNoGap(ctx, name, lo, false)
}

// noteTop records v as the latest version of name seen, unless a later
// one is known.
func (c *Catalog) noteTop(name string, v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v > c.top[name] {
		if len(c.top) >= maxInfos {
			clear(c.top)
		}
		c.top[name] = v
	}
}

// checkNoGap lists the manifest keys of name after version v, the latest
// the probe found, and returns the latest version: a key listed there is a
// commit made since the probe (then v+1 exists now, and the walk goes on)
// or a gap — version v+1 missing while a later one exists, which versions
// never have (ADR-013) — a 502 naming both keys.
//
// With base (a commit on version v >= 1), the same listing starts at v's
// own key, and v missing is errBaseGone: a manifest this instance read
// (and caches) removed behind its back — the commit would write v+1 into
// the gap v left, acknowledged, and a restarted catalogd would answer 502.
func (c *Catalog) checkNoGap(ctx context.Context, name string, v int64, base bool) (int64, error) {
	base = base && v >= 1
	for {
		after := ManifestKey(name, v)
		if base {
			after = ManifestKey(name, v-1)
		}
		page, err := c.store.List(ctx, storage.ListOptions{Prefix: ManifestPrefix + name + "/", After: after, Limit: 16})
		if err != nil {
			return 0, err
		}
		var later int64
		seen := false
		for _, o := range page.Objects {
			n, w, ok := parseManifestKey(o.Key)
			if !ok || n != name {
				continue
			}
			if w == v {
				seen = true
			} else if w > v {
				later = w
				break
			}
		}
		if base && !seen {
			return 0, errBaseGone
		}
		base = false
		if later == 0 {
			return v, nil
		}
		if v, err = c.walkForward(ctx, name, v); err != nil {
			return 0, err
		}
		if v < later {
			return 0, damagedError{errs.E("catalog.get", errs.Unavailable, http.StatusBadGateway,
				fmt.Sprintf("dataset %q: the catalog in storage has a gap: manifest %s is missing but %s exists (versions are gapless; restore the missing manifest from a backup)",
					name, ManifestKey(name, v+1), ManifestKey(name, later)))}
		}
	}
}

// walkForward returns the last version of the run of manifests after v
// that exist (v when v+1 does not).
func (c *Catalog) walkForward(ctx context.Context, name string, v int64) (int64, error) {
	for {
		ok, err := c.exists(ctx, name, v+1)
		if err != nil || !ok {
			return v, err
		}
		v++
	}
}

// latestManifest returns the latest manifest of name (nil when the
// dataset never existed), tombstones included.
//
// A 404 for the version the lookup found means its manifest was removed
// behind catalogd's back after this instance saw it (a foreign manifest an
// operator deleted through storaged: ADR-013 says manifests are never
// deleted, but the raw storage API allows it). The cache then says a
// version that is not there, and walking forward from it never comes back:
// every GET and commit was a 404 until a restart. Such a 404 drops what is
// cached of name and looks the latest up again from storaged (the cold
// probe, with its gap check), as a conflict does; the hot path (a cached
// latest: one HEAD of the next version) is unchanged.
func (c *Catalog) latestManifest(ctx context.Context, name string) (*Dataset, error) {
	for attempt := 0; ; attempt++ {
		v, err := c.latestVersion(ctx, name)
		if err != nil || v == 0 {
			return nil, err
		}
		d, err := c.manifestAt(ctx, name, v, "")
		if err == nil || !errs.Is(err, errs.NotFound) || attempt >= 2 {
			return d, err
		}
		c.forget(name)
	}
}

// forget drops what this instance holds of name's latest version (the
// manifest and the number): a manifest it saw is gone from storage. The
// next lookup probes storaged cold (ADR-013); dropping is always safe, a
// concurrent commit of this instance is found again by that probe.
func (c *Catalog) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.latest, name)
	delete(c.top, name)
}

// remember caches d as the latest of its dataset unless a newer one is known.
func (c *Catalog) remember(d *Dataset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.latest[d.Name]; cur == nil || cur.Version < d.Version {
		c.latest[d.Name] = d
	}
}

// Get implements Service.Get.
func (c *Catalog) Get(ctx context.Context, name string, version int64) (Dataset, error) {
	if err := ValidateName(name); err != nil {
		return Dataset{}, err
	}
	if version < 0 {
		return Dataset{}, errs.Errorf("catalog.get", errs.Invalid, "version %d: want >= 1 (or 0 for the latest)", version)
	}
	if version > 0 {
		d, err := c.read(ctx, name, version)
		if err != nil {
			return Dataset{}, err
		}
		if d.Deleted {
			return Dataset{}, errs.Errorf("catalog.get", errs.NotFound, "dataset %q version %d is the tombstone of its deletion", name, version)
		}
		return *d, nil
	}
	d, err := c.latestManifest(ctx, name)
	if err != nil {
		return Dataset{}, err
	}
	if d == nil {
		return Dataset{}, errs.Errorf("catalog.get", errs.NotFound, "dataset %q not found", name)
	}
	if d.Deleted {
		return Dataset{}, errs.Errorf("catalog.get", errs.NotFound, "dataset %q not found (deleted at version %d)", name, d.Version)
	}
	return *d, nil
}

// GetAsOf returns the version of name that was the latest at t (ADR-092,
// Delta Lake's timestampAsOf, Iceberg's FOR SYSTEM_TIME AS OF): the newest
// version whose updated_at is at or before t. Versions are walked newest
// first a page at a time (their summaries are cached by etag). NotFound
// when the dataset had no version yet at t, or was deleted then (the
// version at t is a tombstone). Commit times come from the committing
// catalogd's clock; with clocks apart, the newest version stamped at or
// before t is the answer.
func (c *Catalog) GetAsOf(ctx context.Context, name string, t time.Time) (Dataset, error) {
	const op = "catalog.get"
	if err := ValidateName(name); err != nil {
		return Dataset{}, err
	}
	q := VersionsQuery{Limit: MaxVersionsLimit, Desc: true}
	var first VersionInfo
	for {
		page, err := c.VersionsPage(ctx, name, q)
		if err != nil {
			return Dataset{}, err
		}
		for _, v := range page.Versions {
			if v.UpdatedAt.After(t) {
				first = v
				continue
			}
			if v.Deleted {
				return Dataset{}, errs.Errorf(op, errs.NotFound, "dataset %q was deleted at %s: version %d, committed %s, is the tombstone of its deletion",
					name, t.UTC().Format(time.RFC3339Nano), v.Version, v.UpdatedAt.UTC().Format(time.RFC3339Nano))
			}
			return c.Get(ctx, name, v.Version)
		}
		if page.Next == 0 {
			break
		}
		q.After = page.Next
	}
	return Dataset{}, errs.Errorf(op, errs.NotFound, "dataset %q has no version at or before %s: its first, version %d, was committed %s",
		name, t.UTC().Format(time.RFC3339Nano), first.Version, first.UpdatedAt.UTC().Format(time.RFC3339Nano))
}

// List implements Service.List: the readable datasets of ListAll (its
// Unreadable are logged by the HTTP handler and returned by ListAll).
func (c *Catalog) List(ctx context.Context) ([]Dataset, error) {
	res, err := c.ListAll(ctx)
	return res.Datasets, err
}

// ListAll is the dataset list (ADR-093): the latest version of every live
// dataset, and the datasets whose latest could not be read because what
// storage holds for them is damaged (a manifest that is not one catalogd
// wrote, a gap in the versions; ADR-092), each with its error. One damaged
// dataset failed the whole list with its 502. Any other error — storaged
// down or failing, a timeout — fails the whole list, as nothing read then
// can be trusted to be complete. The names and latest versions come from
// one listing of the manifest keys that skips over the versions of a
// dataset of many (scanLatest), the manifests from reads of those
// versions (readLatest; ADR-131).
func (c *Catalog) ListAll(ctx context.Context) (ListResponse, error) {
	ls, _, err := c.scanLatest(ctx, "", "", 0)
	if err != nil {
		return ListResponse{}, err
	}
	out, bad, err := c.readLatest(ctx, ls)
	if err != nil {
		return ListResponse{}, err
	}
	res := ListResponse{Datasets: []Dataset{}, Unreadable: []Unreadable{}}
	for i, d := range out {
		switch {
		case bad[i] != nil:
			res.Unreadable = append(res.Unreadable, unreadable(ls[i].name, bad[i]))
		case d != nil && !d.Deleted:
			res.Datasets = append(res.Datasets, *d)
		}
	}
	c.pruneDisk(ls)
	return res, nil
}

// pruneDisk removes from the manifest cache the entries of datasets a
// whole listing no longer shows (a catalog wiped behind catalogd's back):
// after the first whole list, then at most once an hour.
func (c *Catalog) pruneDisk(ls []listed) {
	if c.disk == nil {
		return
	}
	now := time.Now().UnixNano()
	last := c.pruned.Load()
	if last != 0 && now-last < int64(time.Hour) || !c.pruned.CompareAndSwap(last, now) {
		return
	}
	keep := make(map[string]bool, len(ls))
	for _, l := range ls {
		keep[l.name] = true
	}
	c.disk.prune(keep)
}

// Versions implements Service.Versions: every version, page by page.
func (c *Catalog) Versions(ctx context.Context, name string) ([]VersionInfo, error) {
	return allVersions(ctx, name, c.VersionsPage)
}

// Commit implements Service.Commit.
func (c *Catalog) Commit(ctx context.Context, name string, req CommitRequest) (Dataset, error) {
	const op = "catalog.commit"
	if err := ValidateName(name); err != nil {
		return Dataset{}, err
	}
	if err := req.ValidateFor(name); err != nil {
		return Dataset{}, err
	}
	latest, err := c.latestManifest(ctx, name)
	if err != nil {
		return Dataset{}, err
	}
	var base *Dataset // the live version the commit builds on (nil: create)
	// carried: on a compact of an older version, the files the appends
	// since then added, kept after the compacted ones.
	var carried []File
	var next int64 = 1
	if latest != nil {
		next = latest.Version + 1
		switch {
		case latest.Deleted && (req.BaseVersion == 0 || req.BaseVersion == latest.Version):
			// Re-create after a delete: versions continue after the tombstone.
		case latest.Deleted:
			return Dataset{}, errs.Errorf(op, errs.Conflict, "dataset %q was deleted at version %d: base_version %d is not the latest; use base_version 0 to re-create it", name, latest.Version, req.BaseVersion)
		case req.BaseVersion == 0:
			return Dataset{}, errs.Errorf(op, errs.Conflict, "dataset %q already exists at version %d: base_version 0 creates a new dataset; commit on base_version %d", name, latest.Version, latest.Version)
		case req.BaseVersion > latest.Version:
			// Not a lost race: no reload makes it right (ADR-092).
			return Dataset{}, errs.Errorf(op, errs.Conflict, "base_version %d of dataset %q is beyond the latest version (%d): there is no version %d; commit on base_version %d", req.BaseVersion, name, latest.Version, req.BaseVersion, latest.Version)
		case req.BaseVersion != latest.Version && req.Mode != ModeCompact:
			return Dataset{}, errs.Errorf(op, errs.Conflict, "base_version %d of dataset %q is not the latest (%d): reload and retry", req.BaseVersion, name, latest.Version)
		case req.BaseVersion != latest.Version:
			// A compaction of an older version, carried over the appends
			// committed since (ADR-013 "Compact commits").
			b, err := c.compactBase(ctx, name, req.BaseVersion, latest)
			if err != nil {
				return Dataset{}, err
			}
			base, carried = b, latest.Files[len(b.Files):]
		default:
			base = latest
		}
	} else if req.BaseVersion != 0 {
		return Dataset{}, errs.Errorf(op, errs.Conflict, "dataset %q does not exist: base_version %d is not the latest; use base_version 0 to create it", name, req.BaseVersion)
	}
	if req.Mode == ModeCompact {
		if err := checkCompact(name, base, req); err != nil {
			return Dataset{}, err
		}
	}

	files := append([]File(nil), req.Files...)
	now := c.now().UTC()
	d := Dataset{Name: name, Version: next, Schema: req.Schema, Mode: req.Mode, BaseVersion: req.BaseVersion,
		CreatedAt: now, UpdatedAt: now, IdempotencyKey: req.IdempotencyKey, RequestHash: req.RequestHash}
	if base != nil {
		d.CreatedAt = base.CreatedAt
		if req.Mode == ModeAppend {
			if diff := schemaDiff(base.Schema, req.Schema); diff != "" {
				return Dataset{}, errs.Errorf(op, errs.Invalid, "append to %q: the schema differs from version %d: %s", name, base.Version, diff)
			}
			d.Schema = base.Schema
			have := map[string]bool{}
			for _, f := range base.Files {
				have[f.Key] = true
			}
			for _, f := range files {
				if have[f.Key] {
					return Dataset{}, errs.Errorf(op, errs.Invalid, "append to %q: file %q is already in version %d", name, f.Key, base.Version)
				}
			}
		}
	}
	// The files last: the checks above cost no I/O. Names compare exactly
	// (on append d.Schema's names equal req.Schema's).
	if err := c.checkFiles(ctx, files, d.Schema); err != nil {
		return Dataset{}, err
	}
	if base != nil && req.Mode == ModeAppend {
		files = append(append([]File(nil), base.Files...), files...)
	}
	if len(carried) > 0 {
		have := map[string]bool{}
		for _, f := range carried {
			have[f.Key] = true
		}
		for _, f := range files {
			if have[f.Key] {
				return Dataset{}, errs.Errorf(op, errs.Invalid, "compact %q: file %q was appended after version %d; a compaction rewrites only that version's files", name, f.Key, req.BaseVersion)
			}
		}
		files = append(files, carried...)
	}
	d.Files = files
	if d.Files == nil {
		d.Files = []File{}
	}
	for _, f := range d.Files {
		d.RowCount += f.Rows
	}
	if len(carried) > 0 && d.RowCount != latest.RowCount {
		return Dataset{}, errs.Errorf(op, errs.Internal, "compact %q: carried over to version %d it would hold %d rows, not its %d", name, latest.Version, d.RowCount, latest.RowCount)
	}
	// A gap above the base (a manifest removed behind catalogd's back after
	// this instance last looked) would take the version: acknowledged, and
	// shadowed by the later versions at once. One listing finds it; a
	// commit made since the lookup is the create-only race's 409 below.
	if _, err := c.checkNoGap(ctx, name, next-1, true); err != nil {
		if errors.Is(err, errBaseGone) {
			// The cached latest is gone from storage: look it up again,
			// and the caller reloads and retries on what is there.
			c.forget(name)
			return Dataset{}, errs.Errorf(op, errs.Conflict, "version %d of dataset %q is no longer in storage (its manifest was removed behind catalogd's back): reload and retry", next-1, name)
		}
		return Dataset{}, err
	}
	if err := c.write(ctx, &d); err != nil {
		return Dataset{}, err
	}
	return d, nil
}

// errBaseGone: a commit's base manifest is not in storage (checkNoGap).
var errBaseGone = errors.New("catalog: the base manifest is gone")

// compactBase returns version bv of name when a compact on it can be
// carried over to latest (ADR-013 "Compact commits"): bv is live, every
// version after it up to latest is an append (no replace, compact or
// delete), its files are the first files of latest, and latest has its
// schema exactly. Appends only add files at the end and keep the schema
// (Commit), so the rows of latest are bv's rows followed by the appended
// ones, and a rewrite of bv's files followed by the appended files holds
// latest's rows in latest's order. Anything else is a Conflict, as a stale
// base_version always was.
func (c *Catalog) compactBase(ctx context.Context, name string, bv int64, latest *Dataset) (*Dataset, error) {
	const op = "catalog.commit"
	stale := func(why string, args ...any) error {
		return errs.Errorf(op, errs.Conflict, "base_version %d of dataset %q is not the latest (%d) and the compaction cannot be carried over: %s; compact again",
			bv, name, latest.Version, fmt.Sprintf(why, args...))
	}
	next := bv + 1
	q := VersionsQuery{After: bv, Limit: MaxVersionsLimit}
	for next <= latest.Version {
		page, err := c.VersionsPage(ctx, name, q)
		if err != nil {
			return nil, err
		}
		for _, v := range page.Versions {
			if v.Version > latest.Version {
				break
			}
			if v.Version != next {
				return nil, stale("version %d is missing", next)
			}
			if v.Deleted || v.Mode != ModeAppend {
				mode := v.Mode
				if v.Deleted {
					mode = "delete"
				}
				return nil, stale("version %d is a %s, not an append", v.Version, mode)
			}
			next++
		}
		if next > latest.Version || page.Next == 0 || page.Next <= q.After {
			break
		}
		q.After = page.Next
	}
	if next <= latest.Version {
		return nil, stale("version %d is missing", next)
	}
	b, err := c.read(ctx, name, bv)
	if err != nil {
		return nil, err
	}
	if b.Deleted {
		return nil, stale("version %d is the tombstone of a delete", bv)
	}
	if len(b.Files) > len(latest.Files) {
		return nil, stale("version %d has %d files, version %d only %d", bv, len(b.Files), latest.Version, len(latest.Files))
	}
	for i, f := range b.Files {
		if g := latest.Files[i]; g.Key != f.Key || g.Rows != f.Rows || g.Bytes != f.Bytes {
			return nil, stale("file %d of version %d is not file %d of version %d", i+1, bv, i+1, latest.Version)
		}
	}
	if !slices.Equal(b.Schema, latest.Schema) {
		return nil, stale("the schema of version %d is not version %d's", latest.Version, bv)
	}
	return b, nil
}

// checkCompact applies the rules of a compact commit (ADR-013 "Compact
// commits") that need no I/O: a live base version, its schema exactly
// (names, types, date formats), and files holding its rows.
func checkCompact(name string, base *Dataset, req CommitRequest) error {
	const op = "catalog.commit"
	if base == nil {
		return errs.Errorf(op, errs.Invalid, "compact %q: a compaction rewrites a live version; base_version %d is not one (create with append or replace)", name, req.BaseVersion)
	}
	if !slices.Equal(base.Schema, req.Schema) {
		diff := schemaDiff(base.Schema, req.Schema)
		if diff == "" { // same names, types equal but for case, or a format differs
			for i, c := range req.Schema {
				if c != base.Schema[i] {
					diff = fmt.Sprintf("column %d is %s in the dataset but %s in the commit", i+1, columnText(base.Schema[i]), columnText(c))
					break
				}
			}
		}
		return errs.Errorf(op, errs.Invalid, "compact %q: the schema differs from version %d (a compaction keeps it exactly): %s", name, base.Version, diff)
	}
	var rows int64
	for _, f := range req.Files {
		rows += f.Rows
	}
	if rows != base.RowCount {
		return errs.Errorf(op, errs.Invalid, "compact %q: the files hold %d rows, version %d has %d; a compaction keeps every row", name, rows, base.Version, base.RowCount)
	}
	return nil
}

// columnText is c for a message: "name" TYPE [format 'f'].
func columnText(c Column) string {
	s := fmt.Sprintf("%q %s", c.Name, c.Type)
	if c.Format != "" {
		s += fmt.Sprintf(" (format %q)", c.Format)
	}
	return s
}

// write stores d create-only; losing the race is Conflict (409).
func (c *Catalog) write(ctx context.Context, d *Dataset) error {
	b, err := encodeManifest(d)
	if err != nil {
		return errs.E("catalog.commit", errs.Internal, err)
	}
	key := ManifestKey(d.Name, d.Version)
	oi, err := c.store.Put(ctx, key, bytes.NewReader(b), int64(len(b)),
		storage.PutOptions{CreateOnly: true, ContentType: "application/json"})
	if err != nil {
		if errs.Is(err, errs.Conflict) {
			return errs.Errorf("catalog.commit", errs.Conflict, "another commit to %q won version %d: reload and retry", d.Name, d.Version)
		}
		return err
	}
	c.remember(d)
	c.disk.put(d.Name, key, strings.Trim(oi.ETag, `"`), b)
	return nil
}

// checkFiles verifies each file (ADR-013): it exists in storage (a commit
// is only visible after its files exist), its size is Bytes (0: filled in
// from storage), and it is a Parquet file whose footer holds Rows rows and
// the schema's column names, in order. Files are checked a few at a time;
// the first problem found is the answer, an Invalid naming the file.
func (c *Catalog) checkFiles(ctx context.Context, files []File, schema []Column) error {
	const op = "catalog.commit"
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxFooterCheckGo)
	for i := range files {
		g.Go(func() error {
			f := &files[i]
			info, err := c.store.Head(gctx, f.Key)
			if err != nil {
				return fileErr(f.Key, err)
			}
			if f.Bytes == 0 {
				f.Bytes = info.Size
			} else if f.Bytes != info.Size {
				return errs.Errorf(op, errs.Invalid, "file %q: bytes %d, but the stored object has %d", f.Key, f.Bytes, info.Size)
			}
			foot, err := readFooter(gctx, c.store, f.Key, info.Size)
			if err != nil {
				return fileErr(f.Key, err)
			}
			if foot.NumRows != f.Rows {
				return errs.Errorf(op, errs.Invalid, "file %q: rows %d, but its Parquet footer says %d", f.Key, f.Rows, foot.NumRows)
			}
			if diff := columnsDiff(foot.Columns, schema); diff != "" {
				return errs.Errorf(op, errs.Invalid, "file %q does not match the schema: %s", f.Key, diff)
			}
			return nil
		})
	}
	return g.Wait()
}

// fileErr words an error about a commit's file: storage's Invalid and
// NotFound, and any problem with the content, are the caller's (Invalid,
// naming the file); other storage errors pass on.
func fileErr(key string, err error) error {
	const op = "catalog.commit"
	var e *errs.Error
	switch {
	case errs.Is(err, errs.NotFound):
		return errs.Errorf(op, errs.Invalid, "file %q does not exist in storage; upload it before committing", key)
	case errs.Is(err, errs.Invalid):
		return errs.E(op, errs.Invalid, fmt.Sprintf("file %q", key), err)
	case errors.As(err, &e), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return errs.Errorf(op, errs.Invalid, "file %q is not a valid Parquet file: %v", key, err)
}

// schemaDiff says how b differs from a ("" when equal). Names compare
// exactly, types case-insensitively (DuckDB type names are).
func schemaDiff(a, b []Column) string {
	var diffs []string
	for i := 0; i < max(len(a), len(b)); i++ {
		switch {
		case i >= len(a):
			diffs = append(diffs, fmt.Sprintf("extra column %d %q %s", i+1, b[i].Name, b[i].Type))
		case i >= len(b):
			diffs = append(diffs, fmt.Sprintf("missing column %d %q %s", i+1, a[i].Name, a[i].Type))
		case a[i].Name != b[i].Name || !strings.EqualFold(a[i].Type, b[i].Type):
			diffs = append(diffs, fmt.Sprintf("column %d is %q %s in the dataset but %q %s in the commit", i+1, a[i].Name, a[i].Type, b[i].Name, b[i].Type))
		}
		if len(diffs) >= 5 {
			diffs = append(diffs, "...")
			break
		}
	}
	return strings.Join(diffs, "; ")
}

// Delete implements Service.Delete (ADR-012).
func (c *Catalog) Delete(ctx context.Context, name string, opts DeleteOptions) (DeleteResult, error) {
	const op = "catalog.delete"
	if err := ValidateName(name); err != nil {
		return DeleteResult{}, err
	}
	var tomb Dataset
	for attempt := 0; ; attempt++ {
		latest, err := c.latestManifest(ctx, name)
		if err != nil {
			return DeleteResult{}, err
		}
		if latest == nil {
			return DeleteResult{}, errs.Errorf(op, errs.NotFound, "dataset %q not found", name)
		}
		if latest.Deleted {
			if !opts.Purge {
				return DeleteResult{}, errs.Errorf(op, errs.NotFound, "dataset %q not found (deleted at version %d)", name, latest.Version)
			}
			if err := deleteIfMatch(name, opts.IfMatch, latest.Version); err != nil {
				return DeleteResult{}, err
			}
			// Purge after a plain delete: the tombstone is there; delete
			// the files it kept. Nothing is written, so this can be
			// repeated (deleted_files then counts what was still there).
			tomb = *latest
			break
		}
		if err := deleteIfMatch(name, opts.IfMatch, latest.Version); err != nil {
			return DeleteResult{}, err
		}
		// As a commit's: the tombstone must not go into a gap (a manifest
		// removed behind catalogd's back), where it is acknowledged and
		// shadowed by the versions after it, or into the gap its cached
		// latest left.
		if _, err := c.checkNoGap(ctx, name, latest.Version, true); err != nil {
			if !errors.Is(err, errBaseGone) {
				return DeleteResult{}, err
			}
			c.forget(name)
			if attempt >= 10 {
				return DeleteResult{}, errs.Errorf(op, errs.Conflict, "version %d of dataset %q is no longer in storage (its manifest was removed behind catalogd's back): nothing deleted; retry", latest.Version, name)
			}
			continue
		}
		now := c.now().UTC()
		tomb = Dataset{Name: name, Version: latest.Version + 1, Schema: []Column{}, Files: []File{},
			CreatedAt: latest.CreatedAt, UpdatedAt: now, BaseVersion: latest.Version, Mode: "delete", Deleted: true}
		err = c.write(ctx, &tomb)
		if err == nil {
			break
		}
		if !errs.Is(err, errs.Conflict) || attempt >= 10 {
			return DeleteResult{}, err
		}
	}
	res := DeleteResult{Name: name, Version: tomb.Version, Purged: opts.Purge}
	if !opts.Purge {
		return res, nil
	}
	n, err := c.purge(ctx, name, tomb.Version)
	res.DeletedFiles = n
	return res, err
}

// deleteIfMatch is a DELETE's If-Match (DeleteOptions.IfMatch) against the
// latest version v of name: "" and "*" hold, an entity tag holds when it is
// ETag(name, v); anything else is a 412 conflict naming the version there is.
func deleteIfMatch(name, ifMatch string, v int64) error {
	if ifMatch == "" || ifMatch == "*" || ifMatch == ETag(name, v) {
		return nil
	}
	return errs.E("catalog.delete", errs.Conflict, errs.StatusPrecondition, fmt.Sprintf(
		"dataset %q: If-Match %s is not its latest version's tag %s: nothing deleted", name, ifMatch, ETag(name, v)))
}

// purge deletes the data files of the versions of name before the tombstone
// at version tomb, back to the previous tombstone (older incarnations were
// handled by their own delete), and returns how many existed. Only keys
// under DatasetPrefix(name) are deleted: a manifest written before commits
// were held to that prefix may name another dataset's file, which is not
// this purge's to delete.
func (c *Catalog) purge(ctx context.Context, name string, tomb int64) (int, error) {
	prefix := DatasetPrefix(name)
	keys := map[string]bool{}
	for v := tomb - 1; v >= 1; v-- {
		d, err := c.read(ctx, name, v)
		if err != nil {
			return 0, err
		}
		if d.Deleted {
			break
		}
		for _, f := range d.Files {
			if strings.HasPrefix(f.Key, prefix) {
				keys[f.Key] = true
			}
		}
	}
	var deleted atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxFooterCheckGo)
	for k := range keys {
		g.Go(func() error {
			if _, err := c.store.Head(gctx, k); err != nil {
				if errs.Is(err, errs.NotFound) {
					return nil // purged before
				}
				return err
			}
			if err := c.store.Delete(gctx, k); err != nil {
				return err
			}
			deleted.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return int(deleted.Load()), err
}
