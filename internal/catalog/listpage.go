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

// Paged reports whether v asks for a page (limit, after or prefix given,
// even empty) rather than the whole list.
func datasetsPaged(v url.Values) bool {
	return v.Has("limit") || v.Has("after") || v.Has("prefix")
}

// ParseDatasetsQuery reads limit, after and prefix of GET
// /v1/catalog/datasets: limit 1..MaxDatasetsLimit (absent:
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
	if v.Has("limit") {
		s := v.Get("limit")
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
		// One name more than needed tells whether more follow.
		names, more, err := c.namesFrom(ctx, q.Prefix, after, need+1)
		if err != nil {
			return ListResponse{}, err
		}
		out, bad, err := c.latestOf(ctx, names)
		if err != nil {
			return ListResponse{}, err
		}
		for i, n := range names {
			if len(res.Datasets)+len(res.Unreadable) == limit {
				res.Next = names[i-1]
				return res, nil
			}
			switch {
			case bad[i] != nil:
				res.Unreadable = append(res.Unreadable, unreadable(n, bad[i]))
			case out[i] != nil && !out[i].Deleted:
				res.Datasets = append(res.Datasets, *out[i])
			}
		}
		if !more || len(names) == 0 {
			return res, nil
		}
		after = names[len(names)-1]
		if len(res.Datasets)+len(res.Unreadable) == limit {
			res.Next = after
			return res, nil
		}
	}
}

func unreadable(name string, err error) Unreadable {
	return Unreadable{Name: name, Error: UnreadableError{Kind: errs.KindOf(err), Message: errs.Message(err)}}
}

// latestOf reads the latest manifest of each name, 8 at a time: out[i]
// nil for a name with no manifest, bad[i] set for a damaged one; any
// other error fails it all.
func (c *Catalog) latestOf(ctx context.Context, names []string) ([]*Dataset, []error, error) {
	out := make([]*Dataset, len(names))
	bad := make([]error, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, n := range names {
		g.Go(func() error {
			d, err := c.latestManifest(gctx, n)
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

// namesFrom lists up to max (<= 0: every) dataset names starting with
// prefix and sorting after after, skipping over each dataset's versions
// as names does; more reports that the listing was not exhausted. A
// name's keys sort in name order: '/' sorts before every name character,
// and "_catalog/{name}0" after every "_catalog/{name}/...".
func (c *Catalog) namesFrom(ctx context.Context, prefix, after string, max int) (names []string, more bool, err error) {
	from := ""
	if after != "" {
		from = ManifestPrefix + after + "0"
	}
	for {
		page, err := c.store.List(ctx, storage.ListOptions{Prefix: ManifestPrefix + prefix, After: from, Limit: namesPage})
		if err != nil {
			return nil, false, err
		}
		last := ""
		for _, o := range page.Objects {
			if n, _, ok := parseManifestKey(o.Key); ok && (len(names) == 0 || names[len(names)-1] != n) {
				if max > 0 && len(names) == max {
					return names, true, nil
				}
				names = append(names, n)
			}
			if rest, ok := strings.CutPrefix(o.Key, ManifestPrefix); ok {
				if n, _, ok := strings.Cut(rest, "/"); ok {
					last = n
				}
			}
		}
		if page.Next == "" {
			return names, false, nil
		}
		from = page.Next
		if last != "" && ManifestPrefix+last+"0" > from {
			from = ManifestPrefix + last + "0"
		}
	}
}
