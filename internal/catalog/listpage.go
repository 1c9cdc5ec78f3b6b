package catalog

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// Dataset list pages (ADR-128): GET /v1/catalog/datasets with limit,
// after or prefix answers one page in name order, with "next" — the last
// name of the page — when more may follow; it is passed back as after.
// Without any of them the answer is the whole list, as before (every
// caller in this repo and DESIGN.md's plain GET).
const (
	DefaultDatasetsLimit = 100
	MaxDatasetsLimit     = 1000
)

// DatasetsQuery selects a page of the dataset list.
type DatasetsQuery struct {
	// Prefix: only names starting with it ("" all).
	Prefix string
	// After: only names sorting after it ("" from the first).
	After string
	// Limit: at most this many datasets and unreadable ones together
	// (<= 0: DefaultDatasetsLimit; capped at MaxDatasetsLimit).
	Limit int
}

// Paged reports whether v asks for a page (limit, after or prefix given)
// rather than the whole list. One given empty is absent (ADR-111): ?after=
// answered a page of 100, ?limit= a 400.
func datasetsPaged(v url.Values) bool {
	return v.Get("limit") != "" || v.Get("after") != "" || v.Get("prefix") != ""
}

// ParseDatasetsQuery reads limit, after and prefix of GET
// /v1/catalog/datasets: limit 1..MaxDatasetsLimit (absent or empty:
// DefaultDatasetsLimit), after a dataset name or empty, prefix the start
// of a dataset name or empty. Anything else, or a parameter given more
// than once, is a 400 invalid naming the parameter.
func ParseDatasetsQuery(v url.Values) (DatasetsQuery, error) {
	const op = "catalog.list"
	var q DatasetsQuery
	if err := once(op, v, "after", "limit", "prefix"); err != nil {
		return q, err
	}
	q.Limit = DefaultDatasetsLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxDatasetsLimit {
			return q, errs.Errorf(op, errs.Invalid, "limit %q: want an integer from 1 to %d", shorten(s), MaxDatasetsLimit)
		}
		q.Limit = n
	}
	if s := v.Get("after"); s != "" {
		if ValidateName(s) != nil {
			return q, errs.Errorf(op, errs.Invalid, "after %q: want a dataset name (the previous page's next)", shorten(s))
		}
		q.After = s
	}
	// Every non-empty start of a valid name is itself a valid name.
	if s := v.Get("prefix"); s != "" {
		if ValidateName(s) != nil {
			return q, errs.Errorf(op, errs.Invalid, "prefix %q: want the start of a dataset name (a-z, 0-9, _; not starting with a digit; at most 63)", shorten(s))
		}
		q.Prefix = s
	}
	return q, nil
}

// ListPage is one page of the dataset list (ADR-128): the live datasets
// and unreadable ones (ADR-093) whose names start with q.Prefix and sort
// after q.After, in name order, at most q.Limit of them together; Next is
// the page's last name when more names follow (the next page may then be
// empty, when every later name is a deleted dataset). A dataset that
// exists for a whole walk of pages is on exactly one page: pages are
// ranges of names, whatever is created or deleted meanwhile.
func (c *Catalog) ListPage(ctx context.Context, q DatasetsQuery) (ListResponse, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultDatasetsLimit
	}
	limit = min(limit, MaxDatasetsLimit)
	res := ListResponse{Datasets: []Dataset{}, Unreadable: []Unreadable{}}
	after := q.After
	for {
		need := limit - len(res.Datasets) - len(res.Unreadable)
		// One dataset more than needed tells whether more follow; only
		// the needed ones are read.
		ls, more, err := c.scanLatest(ctx, q.Prefix, after, need+1)
		if err != nil {
			return ListResponse{}, err
		}
		read := ls[:min(need, len(ls))]
		out, bad, err := c.readLatest(ctx, read)
		if err != nil {
			return ListResponse{}, err
		}
		for i, l := range read {
			switch {
			case bad[i] != nil:
				res.Unreadable = append(res.Unreadable, unreadable(l.name, bad[i]))
			case out[i] != nil && !out[i].Deleted:
				res.Datasets = append(res.Datasets, *out[i])
			}
		}
		if len(read) == 0 {
			return res, nil
		}
		after = read[len(read)-1].name
		if len(res.Datasets)+len(res.Unreadable) == limit {
			if len(ls) > len(read) || more {
				res.Next = after
			}
			return res, nil
		}
		if len(ls) == len(read) && !more {
			return res, nil
		}
	}
}

func unreadable(name string, err error) Unreadable {
	return Unreadable{Name: name, Error: UnreadableError{Kind: errs.KindOf(err), Message: errs.Message(err)}}
}

// listed is one dataset as the listing of its manifest keys showed it:
// its latest version v, or recheck when the keys listed were not versions
// 1..v (a gap, ADR-092) and the latest is to be found as Get finds it.
type listed struct {
	name    string
	v       int64
	recheck bool
	// etag: the listing's etag of version v's manifest ("" unknown).
	etag string
}

// cutKeys: a dataset with more manifest keys than this on one listing
// page, whose keys run on past the page, has its latest found apart
// (finishCut), and the listing goes on past all its keys: a dataset of
// thousands of versions costs a page, a short listing and a few HEADs,
// not a listing of every version (ADR-013). A dataset with a few keys at
// the end of a page is finished by the next page.
const cutKeys = 16

// maxScanPage is the largest listing page of scanLatest.
const maxScanPage = 1024

// listReadGo bounds the manifests read at once for a list (ADR-137):
// each read is one GET that waits mostly on S3 — on a MinIO or S3 across a
// network, its latency, not its CPU. At 16, 5,000 datasets over an S3 20
// ms away waited at least 6.25 s; at 64, 1.6 s. On a host where MinIO's
// CPU is the bound (about 1 ms a GET) more at once changes nothing, as
// measured (TestCatalogListMeasure). 64 is Hadoop S3A's default thread
// pool; well under S3's 5,500 GETs a second per prefix.
var listReadGo = 64

// scanLatest lists the manifest keys of the datasets whose names start
// with prefix and sort after after, and returns each with its latest
// version as listed, in name order, up to most of them (<= 0: every one);
// more reports that a further dataset was listed. The storaged round
// trips are the listing pages (namesPage keys, then up to maxScanPage
// while no dataset of many versions is met) and, for a dataset
// whose keys run past a page, finishCut's (ADR-131): a cold list of N datasets
// of few versions costs about N/maxScanPage listings, not N lookups of a
// few HEADs and a listing each. Keys list in name order and, within a
// name, in version order: '/' sorts before every name character, and
// "_catalog/{name}0" after every "_catalog/{name}/...".
func (c *Catalog) scanLatest(ctx context.Context, prefix, after string, most int) (out []listed, more bool, err error) {
	from := ""
	if after != "" {
		from = ManifestPrefix + after + "0"
	}
	var cur listed // the dataset whose keys are being listed (name "": none)
	var keys int64 // cur's manifest keys listed
	size := namesPage
	for {
		page, err := c.store.List(ctx, storage.ListOptions{Prefix: ManifestPrefix + prefix, After: from, Limit: size})
		if err != nil {
			return nil, false, err
		}
		onPage := 0 // cur's keys on this page
		last := ""  // the name part of the page's last key, valid or not
		for _, o := range page.Objects {
			if rest, ok := strings.CutPrefix(o.Key, ManifestPrefix); ok {
				if n, _, ok := strings.Cut(rest, "/"); ok {
					last = n
				}
			}
			n, v, ok := parseManifestKey(o.Key)
			if !ok {
				continue
			}
			if n != cur.name {
				if cur.name != "" {
					out = append(out, cur)
				}
				if most > 0 && len(out) == most {
					return out, true, nil
				}
				cur, keys, onPage = listed{name: n}, 0, 0
			}
			keys++
			onPage++
			// Versions are gapless from 1: key number k is version k.
			if v != keys {
				cur.recheck = true
			}
			cur.v, cur.etag = v, o.ETag
		}
		if page.Next == "" {
			if cur.name != "" {
				out = append(out, cur)
			}
			return out, false, nil
		}
		from = page.Next
		// Pages grow while datasets are small: each listing of a local
		// backend reads the whole _catalog/ directory.
		size = min(size*4, maxScanPage)
		switch {
		case cur.name != "" && last == cur.name && onPage > cutKeys:
			size = namesPage
			// cur's keys may run on for thousands of versions.
			if !cur.recheck {
				if err := c.finishCut(ctx, &cur, keys); err != nil {
					return nil, false, err
				}
			}
			// Finished; with most of them, the next page's first dataset
			// (if any) tells that more follow.
			out = append(out, cur)
			cur = listed{}
			if skip := ManifestPrefix + last + "0"; skip > from {
				from = skip
			}
		case last != "" && last != cur.name && ValidateName(last) != nil:
			// Keys that are no manifest of a dataset: skip past them. (A
			// valid name's are not skipped: its manifests may follow a
			// key that is not one, as "_catalog/x/+" sorts first.)
			if skip := ManifestPrefix + last + "0"; skip > from {
				from = skip
			}
		}
	}
}

// cutList is the listing page of a dataset's own keys that finishes one
// whose keys ran past a listing page (finishCut).
const cutList = 64

// finishCut finds the latest version of cur, whose keys ran past the end
// of a listing page after keys of them (the last, version cur.v): one
// listing of its own keys after that one, which ends a dataset of tens of
// versions, else probes from the latest listed or seen (probeFrom: HEADs
// and a listing). A gap sets cur.recheck.
func (c *Catalog) finishCut(ctx context.Context, cur *listed, keys int64) error {
	page, err := c.store.List(ctx, storage.ListOptions{Prefix: ManifestPrefix + cur.name + "/", After: ManifestKey(cur.name, cur.v), Limit: cutList})
	if err != nil {
		return err
	}
	for _, o := range page.Objects {
		if n, v, ok := parseManifestKey(o.Key); ok && n == cur.name {
			keys++
			if v != keys {
				cur.recheck = true
			}
			cur.v, cur.etag = v, o.ETag
		}
	}
	if cur.recheck || page.Next == "" {
		return nil
	}
	c.mu.Lock()
	lo := max(cur.v, c.top[cur.name])
	if d := c.latest[cur.name]; d != nil {
		lo = max(lo, d.Version)
	}
	c.mu.Unlock()
	v, err := c.probeFrom(ctx, cur.name, lo)
	switch {
	case err == nil:
		if v != cur.v {
			cur.v, cur.etag = v, ""
		}
	case isDamaged(err):
		cur.recheck = true
	default:
		return err
	}
	return nil
}

// readLatest reads the manifest of each dataset at its listed latest
// version, listReadGo at a time: out[i] nil for one with no manifest,
// bad[i] set for a damaged one; any other error fails it all. A manifest
// this instance already holds at that version or later (its own commit,
// or an earlier read) is not read again: a warm list costs only its
// listing pages. A dataset listed with a gap is looked up as Get does.
func (c *Catalog) readLatest(ctx context.Context, ls []listed) ([]*Dataset, []error, error) {
	out := make([]*Dataset, len(ls))
	bad := make([]error, len(ls))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listReadGo)
	for i, l := range ls {
		g.Go(func() error {
			var d *Dataset
			var err error
			if l.recheck {
				d, err = c.latestManifest(gctx, l.name)
			} else {
				d, err = c.manifestAt(gctx, l.name, l.v, l.etag)
			}
			switch {
			case err == nil:
				out[i] = d
			case errs.Is(err, errs.NotFound):
			case isDamaged(err):
				bad[i] = err
			default:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return out, bad, nil
}

// manifestAt returns the manifest of name at version v, listed as its
// latest, or the latest this instance holds when that is newer (its own
// commit after the listing): never an older one. etag, when known (the
// listing's), lets the manifest cache on disk answer instead of storaged;
// a manifest read from storaged is put in that cache.
func (c *Catalog) manifestAt(ctx context.Context, name string, v int64, etag string) (*Dataset, error) {
	c.mu.Lock()
	cached := c.latest[name]
	c.mu.Unlock()
	if cached != nil && cached.Version == v {
		return cached, nil
	}
	if cached != nil && cached.Version > v {
		// Listed older than what this instance holds: its own commit
		// made after the listing, or a manifest it read since removed
		// behind its back (then the listing is right). One HEAD, only
		// in this case, tells which; the list never serves a version
		// storage no longer has.
		ok, err := c.exists(ctx, name, cached.Version)
		if err != nil {
			return nil, err
		}
		if ok {
			return cached, nil
		}
		c.forget(name)
	}
	key := ManifestKey(name, v)
	if b := c.disk.get(name, key, etag); b != nil {
		// An entry whose bytes are not a right manifest (written so
		// by hand) is ignored: the read below replaces it.
		if d, err := decodeManifest(b, name, v); err == nil {
			c.remember(d)
			c.noteTop(name, v)
			return d, nil
		}
	}
	d, tag, b, err := c.readRaw(ctx, name, v)
	if err != nil {
		if isDamaged(err) {
			c.disk.drop(name)
		}
		return nil, err
	}
	c.disk.put(name, key, tag, b)
	c.remember(d)
	c.noteTop(name, v)
	return d, nil
}
