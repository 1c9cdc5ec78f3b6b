package catalog

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// DatasetsPath is the root of catalogd's routes.
const DatasetsPath = "/v1/catalog/datasets"

// New is catalogd's constructor for shared.Run: a Catalog over storaged.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	store := storage.NewClient(env.Client("storaged"), storage.WithConfig(env.Config))
	c := NewCatalog(store, nil).UseManifestCache(ManifestCacheDir(env.Config), env.Log)
	m, err := newCatalogMetrics(env.Metrics, c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return &shared.Daemon{Routes: Routes(env, c)}, nil
}

// Routes registers catalogd's routes over svc: all of them, in one place.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	h := &handlers{svc: svc, log: log}
	if c, ok := svc.(*Catalog); ok {
		h.metrics = c.metrics
	}
	return func(r chi.Router) {
		r.Get(DatasetsPath, env.Handle(h.list))
		// Flat routes, not r.Route: chi registers a mounted sub-router's
		// own path for every method, so a 405 on .../{name} answered
		// "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" (ADR-111).
		// The trailing-slash spelling the sub-router took stays served.
		named := r.With(validName(env))
		for _, p := range []string{DatasetsPath + "/{name}", DatasetsPath + "/{name}/"} {
			named.Get(p, env.Handle(h.get))
			named.Delete(p, env.Handle(h.delete))
		}
		named.Get(DatasetsPath+"/{name}/versions", env.Handle(h.versions))
		named.Post(DatasetsPath+"/{name}/commit", env.Handle(h.commit))
	}
}

// validName rejects a bad dataset name once, for every child route.
func validName(env *shared.Env) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return env.Handle(func(w http.ResponseWriter, r *http.Request) error {
			if err := ValidateName(chi.URLParam(r, "name")); err != nil {
				return err
			}
			next.ServeHTTP(w, r)
			return nil
		})
	}
}

type handlers struct {
	svc     Service
	log     *slog.Logger
	metrics *catalogMetrics // nil: none (metrics.go)
}

// ListResponse is GET /v1/catalog/datasets: DESIGN.md's datasets, and
// (ADR-093) the datasets left out of them because what storage holds for
// them is damaged — always present, [] when there are none, so a reader
// can tell "every dataset" from "every readable dataset".
type ListResponse struct {
	Datasets   []Dataset    `json:"datasets"`
	Unreadable []Unreadable `json:"unreadable"`
	// Next is, on a page (ADR-128: limit, after or prefix given), the
	// page's last name when more may follow: pass it as after. Absent on
	// the last page and on the whole list.
	Next string `json:"next,omitempty"`
}

// pageLister is a Service that answers a page of the dataset list
// (Catalog and Client).
type pageLister interface {
	ListPage(ctx context.Context, q DatasetsQuery) (ListResponse, error)
}

// Unreadable is a dataset the list could not read (ADR-093): its latest
// manifest is damaged or its versions have a gap (ADR-092). GET of it by
// name answers Error as a 502.
type Unreadable struct {
	Name  string          `json:"name"`
	Error UnreadableError `json:"error"`
}

// UnreadableError is DESIGN.md's error object without a request id: the
// error GET of the dataset answers.
type UnreadableError struct {
	Kind    errs.Kind `json:"kind"`
	Message string    `json:"message"`
}

// allLister is a Service that lists the unreadable datasets too (Catalog
// and Client).
type allLister interface {
	ListAll(ctx context.Context) (ListResponse, error)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	if _, err := shared.QueryParams("catalog.list", r.URL.RawQuery, nil, "after", "limit", "prefix"); err != nil {
		return err
	}
	var res ListResponse
	if datasetsPaged(r.URL.Query()) {
		q, err := ParseDatasetsQuery(r.URL.Query())
		if err != nil {
			return err
		}
		l, ok := h.svc.(pageLister)
		if !ok {
			return errs.E("catalog.list", errs.NotImpl, "limit, after and prefix are not served here")
		}
		if res, err = l.ListPage(r.Context(), q); err != nil {
			return err
		}
	} else if l, ok := h.svc.(allLister); ok {
		var err error
		if res, err = l.ListAll(r.Context()); err != nil {
			return err
		}
		h.metrics.listed(res)
	} else {
		ds, err := h.svc.List(r.Context())
		if err != nil {
			return err
		}
		res.Datasets = ds
		h.metrics.listed(res)
	}
	if res.Datasets == nil {
		res.Datasets = []Dataset{}
	}
	if res.Unreadable == nil {
		res.Unreadable = []Unreadable{}
	}
	for _, u := range res.Unreadable {
		h.log.Warn("catalog: dataset left out of the list: unreadable", "dataset", u.Name, "kind", u.Error.Kind, "error", u.Error.Message)
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) error {
	var version int64
	if _, err := shared.QueryParams("catalog.get", r.URL.RawQuery, nil, "version", "as_of"); err != nil {
		return err
	}
	if s := r.URL.Query().Get("as_of"); s != "" {
		return h.getAsOf(w, r, s)
	}
	if s := r.URL.Query().Get("version"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			return errs.Errorf("catalog.get", errs.Invalid, "version %q: want a positive integer", s)
		}
		version = v
	}
	d, err := h.svc.Get(r.Context(), chi.URLParam(r, "name"), version)
	if err != nil {
		return err
	}
	return writeDataset(w, r, d)
}

// asOfGetter is a Service that reads the version current at a time
// (Catalog and Client).
type asOfGetter interface {
	GetAsOf(ctx context.Context, name string, t time.Time) (Dataset, error)
}

// getAsOf answers GET .../{name}?as_of=<RFC 3339> (ADR-092): the version
// that was the latest at that time; not with version.
func (h *handlers) getAsOf(w http.ResponseWriter, r *http.Request, s string) error {
	const op = "catalog.get"
	if r.URL.Query().Get("version") != "" { // ?version= is absent (ADR-111)
		return errs.E(op, errs.Invalid, "give version or as_of, not both")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errs.Errorf(op, errs.Invalid, "as_of %q: want an RFC 3339 time such as 2026-11-29T21:05:00Z", shorten(s))
	}
	g, ok := h.svc.(asOfGetter)
	if !ok {
		return errs.E(op, errs.NotImpl, "as_of is not served here")
	}
	d, err := g.GetAsOf(r.Context(), chi.URLParam(r, "name"), t)
	if err != nil {
		return err
	}
	return writeDataset(w, r, d)
}

func (h *handlers) versions(w http.ResponseWriter, r *http.Request) error {
	if _, err := shared.QueryParams("catalog.versions", r.URL.RawQuery, nil, "after", "limit", "order"); err != nil {
		return err
	}
	q, err := ParseVersionsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := h.svc.VersionsPage(r.Context(), chi.URLParam(r, "name"), q)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

// ParseVersionsQuery reads after, limit and order of GET .../versions:
// after a version >= 0, limit 1..MaxVersionsLimit (absent:
// DefaultVersionsLimit), order asc (the default) or desc. Anything else,
// or a parameter given more than once, is a 400 invalid naming the
// parameter (the first of two values was used, silently).
func ParseVersionsQuery(v url.Values) (VersionsQuery, error) {
	const op = "catalog.versions"
	var q VersionsQuery
	if err := once(op, v, "after", "limit", "order"); err != nil {
		return q, err
	}
	if s := v.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return q, errs.Errorf(op, errs.Invalid, "after %q: want a version (an integer >= 0)", shorten(s))
		}
		q.After = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxVersionsLimit {
			return q, errs.Errorf(op, errs.Invalid, "limit %q: want an integer from 1 to %d", shorten(s), MaxVersionsLimit)
		}
		q.Limit = n
	}
	switch s := v.Get("order"); s {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, errs.Errorf(op, errs.Invalid, "order %q: want asc or desc", shorten(s))
	}
	return q, nil
}

func (h *handlers) commit(w http.ResponseWriter, r *http.Request) error {
	if _, err := shared.QueryParams("catalog.commit", r.URL.RawQuery, nil); err != nil {
		return err
	}
	var req CommitRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		h.metrics.commit("unknown", err)
		return err
	}
	d, err := h.svc.Commit(r.Context(), chi.URLParam(r, "name"), req)
	h.metrics.commit(req.Mode, err)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, d)
}

// once is a 400 invalid naming the keys of v that are not keys (ADR-092)
// or are given more than once (shared.QueryOnce: ?purge=false&purge=true
// kept the files; ?version=1&version=2 answered version 1), for a caller
// holding parsed values (ParseVersionsQuery). A route checks its raw query
// with shared.QueryParams first: r.URL.Query() drops a pair with a ';' or
// a bad %-escape without a word, so ?version=1;x answered the latest
// version and DELETE ?purge=true;x deleted without purging.
func once(op string, v url.Values, keys ...string) error {
	if err := shared.KnownParams(op, v, nil, keys...); err != nil {
		return err
	}
	_, err := shared.QueryOnce(op, v, keys...)
	return err
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) error {
	var opts DeleteOptions
	if _, err := shared.QueryParams("catalog.delete", r.URL.RawQuery, nil, "purge"); err != nil {
		return err
	}
	switch p := r.URL.Query().Get("purge"); p {
	case "", "false", "0":
	case "true", "1":
		opts.Purge = true
	default:
		return errs.Errorf("catalog.delete", errs.Invalid, "purge %q: want true or false", p)
	}
	if im := r.Header.Values("If-Match"); len(im) > 0 {
		tag, err := deleteIfMatchField(im)
		if err != nil {
			return err
		}
		opts.IfMatch = tag
	}
	res, err := h.svc.Delete(r.Context(), chi.URLParam(r, "name"), opts)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

// deleteIfMatchField reads a DELETE's If-Match field lines: "*" or one
// entity tag (a dataset's ETag, `"name.N"`), kept as sent, W/ included (a
// weak tag never matches: 412). A list of tags or a field outside the
// grammar is a 400: ignored, a DELETE with a stale tag deleted whatever
// the latest version was (ADR-150).
func deleteIfMatchField(lines []string) (string, error) {
	v := strings.Trim(strings.Join(lines, ","), " \t") // OWS: space and tab only
	if v == "*" {
		return v, nil
	}
	tag, rest, ok := scanEntityTag(v)
	if !ok || strings.Trim(rest, " \t") != "" {
		return "", errs.Errorf("catalog.delete", errs.Invalid,
			"If-Match %q: send one entity tag (the dataset's ETag, \"name.N\") or *", v)
	}
	if strings.HasPrefix(v, "W/") {
		return "W/" + tag, nil
	}
	return tag, nil
}
