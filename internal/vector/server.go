package vector

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// Bounds of New's wait for the load before it serves: startGrace while
// attempts fail for want of storage (storaged may be starting alongside:
// no 503s to the first callers of a normal start), startWait while the
// first attempt is still reading (large indexes).
const (
	startGrace = 2 * time.Second
	startWait  = 30 * time.Second
)

// New is vectord's constructor for shared.Run: indexes loaded from
// storaged's snapshots plus the local write-ahead log, snapshots in the
// background, a last snapshot on shutdown.
//
// New waits for the load (see startGrace, startWait), so a normal start
// serves its indexes from its first request. When storage stays
// unavailable (storaged or S3 down, bucket missing) vectord serves anyway:
// /health answers 200 "degraded" with the reason (Daemon.Check), every
// index route answers 503 naming what failed, and the load is retried in
// the background until it succeeds. An index whose snapshot is damaged
// beyond what the log can rebuild is held unservable (ADR-095): the
// others are served, /health says "degraded" naming it. A log whose
// header is damaged still stops the start.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	cfg := env.Config.Vectord
	objects := storage.NewClient(env.StreamClient("storaged"), storage.WithConfig(env.Config))
	var st *Store // set below, before a scrape can ask
	if env.Metrics != nil {
		if err := registerMetrics(env.Metrics, func() *Store { return st }); err != nil {
			return nil, err
		}
	}
	st, err := Start(env.Log, objects, env.Config.DataPath(cfg.Dir, "vectord"))
	if err != nil {
		return nil, err
	}
	if err := st.await(ctx, startGrace, startWait); err != nil {
		if !retryable(err) || ctx.Err() != nil {
			st.stopLoader()
			if !st.ready.Load() {
				st.lock.Unlock()
				return nil, err
			}
		} else {
			env.Log.Warn("serving before the vector indexes are loaded: index requests answer 503 until they are", "op", "vector.load", "err", err.Error())
		}
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Run(runCtx, cfg.SnapshotInterval.Duration, int64(cfg.SnapshotOps))
	}()
	return &shared.Daemon{
		Routes: Routes(env, st),
		// /health: "degraded" with the reason until the indexes are
		// loaded, and while the log refuses appends.
		Check: func(context.Context) error { return st.health("vector.load") },
		Close: func(ctx context.Context) error {
			stop()
			<-done
			return st.Close(ctx)
		},
	}, nil
}

// registerMetrics adds vectord's own series to /metrics: the indexes it
// holds (ADR-095), what the reload of a held index did (ADR-105): looks at
// its object, reads of it, loads; and the recoveries of indexes held for a
// damaged log record, with the records they accepted as lost (ADR-116).
func registerMetrics(reg prometheus.Registerer, store func() *Store) error {
	held := func(f func(*Store) float64) func() float64 {
		return func() float64 {
			if s := store(); s != nil {
				return f(s)
			}
			return 0
		}
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_vectord_unreadable_indexes", Help: "Indexes vectord holds but cannot serve (listed under unreadable)."},
			held(func(s *Store) float64 { return float64(len(s.unreadable())) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_vectord_held_checks_total", Help: "Looks (a storaged HEAD) at a held index's snapshot object, at most one a second per index."},
			held(func(s *Store) float64 { return float64(s.heldChecks.Load()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_vectord_held_reads_total", Help: "Reads of a held index's snapshot object after it changed."},
			held(func(s *Store) float64 { return float64(s.heldReads.Load()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_vectord_held_reloads_total", Help: "Held indexes loaded and served again after their snapshot object changed."},
			held(func(s *Store) float64 { return float64(s.heldLoaded.Load()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_vectord_recovered_indexes_total", Help: "Indexes held for a damaged write-ahead log record that an operator recovered (POST .../recover)."},
			held(func(s *Store) float64 { return float64(s.recovered.Load()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_vectord_recover_lost_records_total", Help: "Write-ahead log records in damaged frames that recoveries accepted as lost (each may have been a change of the recovered index)."},
			held(func(s *Store) float64 { return float64(s.lostRecords.Load()) })),
	} {
		if err := reg.Register(c); err != nil {
			return errs.E("vector.New", errs.Internal, err)
		}
	}
	return nil
}

// Routes registers vectord's routes over svc: all of them, in one place.
// None but the scroll (GET .../items: after, limit, with_vector, filter)
// takes a query parameter: each refuses one (noQuery, ADR-101) before it
// reads the body or asks svc anything, so on an index vectord holds
// (ADR-095) too; the scroll refuses any other the same way.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	h := &handlers{svc: svc}
	return func(r chi.Router) {
		r.Get(IndexesPath, env.Handle(noQuery("vector.ListIndexes", nil, h.list)))
		r.Route(IndexesPath+"/{name}", func(r chi.Router) {
			r.Use(validIndexName(env))
			r.Put("/", env.Handle(noQuery("vector.CreateIndex", say("dims, metric, m and ef_construction are fields of the JSON body"), h.create)))
			r.Get("/", env.Handle(noQuery("vector.GetIndex", nil, h.get)))
			r.Delete("/", env.Handle(noQuery("vector.DeleteIndex", nil, h.drop)))
			r.Post("/upsert", env.Handle(noQuery("vector.Upsert", say(`the items are the JSON body's "items"`), h.upsert)))
			r.Post("/delete", env.Handle(noQuery("vector.Delete", say(`the ids are the JSON body's "ids"`), h.delete)))
			r.Post("/search", env.Handle(noQuery("vector.Search", say("vector, k, ef, filter and score_threshold are fields of the JSON body"), h.search)))
			r.Get("/items", env.Handle(retryWhileLoading(h.scroll)))
			r.Get("/items/{id}", env.Handle(noQuery("vector.GetItem", say("a '?' in an id is sent as %3F"), h.item)))
			r.Post("/recover", env.Handle(noQuery("vector.Recover", say(`accept_loss is a field of the JSON body`), h.recover)))
		})
	}
}

// noQuery is next behind a 400 invalid for any query parameter, or a query
// that does not parse (shared.QueryParams): no route of vectord takes one.
// They were ignored: DELETE .../{name}?wait=true dropped the index, PUT
// .../{name}?metric=l2 created a cosine one, POST .../search?k=1 answered
// the default k (ADR-101). The message names them, then what a Qdrant user
// meant by theirs (qdrantHints), then hint's.
func noQuery(op string, hint func([]string) string, next shared.HandlerFunc) shared.HandlerFunc {
	next = retryWhileLoading(next)
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.RawQuery == "" {
			return next(w, r)
		}
		_, err := shared.QueryParams(op, r.URL.RawQuery, func(unknown []string) string {
			parts := qdrantHints(unknown)
			if hint != nil {
				if h := hint(unknown); h != "" {
					parts = append(parts, h)
				}
			}
			return strings.Join(parts, "; ")
		})
		if err != nil {
			return err
		}
		return next(w, r)
	}
}

// retryWhileLoading answers next's 503 of indexes not loaded yet
// (notReady) with Retry-After: 1, so that a caller (matrixd's index jobs,
// an HTTP client that honours it) asks again soon instead of taking
// vectord for down.
func retryWhileLoading(next shared.HandlerFunc) shared.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := next(w, r)
		if errors.Is(err, errNotLoaded) {
			w.Header().Set("Retry-After", "1")
		}
		return err
	}
}

// say is a hint that always says s.
func say(s string) func([]string) string { return func([]string) string { return s } }

// qdrantHints answers the parameters a Qdrant user sends with its points
// and collections calls, in this order: ?wait= and ?ordering= on writes,
// ?consistency= on reads, ?timeout= on any. vectord is one node whose every
// write is durable before it is answered (ADR-041).
func qdrantHints(unknown []string) []string {
	var out []string
	if slices.Contains(unknown, "wait") || slices.Contains(unknown, "ordering") {
		out = append(out, "every create, drop, upsert and delete is answered only once it is applied and durable in vectord's write-ahead log (fsynced), those on one index in the order they are answered: there is nothing to wait for and no ordering to choose")
	}
	if slices.Contains(unknown, "consistency") {
		out = append(out, "vectord is one node: every read sees every acknowledged write")
	}
	if slices.Contains(unknown, "timeout") {
		out = append(out, "vectord takes no timeout: set a deadline on your HTTP client")
	}
	return out
}

func validIndexName(env *shared.Env) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return env.Handle(func(w http.ResponseWriter, r *http.Request) error {
			if err := ValidateIndexName(chi.URLParam(r, "name")); err != nil {
				return err
			}
			next.ServeHTTP(w, r)
			return nil
		})
	}
}

type handlers struct{ svc Service }

// Validate implements shared.Validator.
func (r *CreateIndexRequest) Validate() error {
	if r.Dims <= 0 {
		return errs.Errorf("vector.create", errs.Invalid, "dims = %d: want a positive number of dimensions", r.Dims)
	}
	switch r.Metric {
	case "", "cosine", "l2", "dot":
	default:
		return errs.Errorf("vector.create", errs.Invalid, "metric %q: want cosine, l2 or dot", r.Metric)
	}
	return nil
}

// Validate implements shared.Validator.
func (r *SearchRequest) Validate() error {
	if len(r.Vector) == 0 {
		return errs.Errorf("vector.search", errs.Invalid, "vector: empty")
	}
	return nil
}

// allLister is a Service that lists the indexes it cannot serve too
// (Store and Client).
type allLister interface {
	ListAll(ctx context.Context) (ListResponse, error)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	var res ListResponse
	if l, ok := h.svc.(allLister); ok {
		var err error
		if res, err = l.ListAll(r.Context()); err != nil {
			return err
		}
	} else {
		out, err := h.svc.ListIndexes(r.Context())
		if err != nil {
			return err
		}
		res.Indexes = out
	}
	if res.Indexes == nil {
		res.Indexes = []IndexInfo{}
	}
	if res.Unreadable == nil {
		res.Unreadable = []Unreadable{}
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateIndexRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	out, err := h.svc.CreateIndex(r.Context(), chi.URLParam(r, "name"), req)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) error {
	out, err := h.svc.GetIndex(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) drop(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteIndex(r.Context(), chi.URLParam(r, "name")); err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, map[string]string{"deleted": chi.URLParam(r, "name")})
}

func (h *handlers) upsert(w http.ResponseWriter, r *http.Request) error {
	var req upsertBody
	// Exact: an integer beyond 2^53 in metadata is refused, not rounded.
	if err := shared.DecodeJSONExact(r, &req); err != nil {
		return err
	}
	n, err := h.svc.Upsert(r.Context(), chi.URLParam(r, "name"), req.items())
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, UpsertResponse{Upserted: n})
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) error {
	var req DeleteRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	n, err := h.svc.Delete(r.Context(), chi.URLParam(r, "name"), req.IDs)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, DeleteResponse{Deleted: n})
}

// searchBody is SearchRequest as sent: K is a pointer so that "k": 0 (out
// of range, ADR-042) is told apart from an absent k (DefaultK).
type searchBody struct {
	SearchRequest
	K      *int       `json:"k"`
	Vector wireVector `json:"vector"` // ADR-154
}

// Validate implements shared.Validator (SearchRequest's, on the vector
// as read, after a number beyond float32's range).
func (b *searchBody) Validate() error {
	if err := b.Vector.rangeError("vector.search", "vector"); err != nil {
		return err
	}
	b.SearchRequest.Vector = b.Vector.v
	return b.SearchRequest.Validate()
}

func (h *handlers) search(w http.ResponseWriter, r *http.Request) error {
	var body searchBody
	if err := shared.DecodeJSONExact(r, &body); err != nil {
		return err
	}
	req := body.SearchRequest
	if body.K != nil {
		if *body.K == 0 {
			return errs.Errorf("vector.search", errs.Invalid, "k = 0: want 1..%d (absent: %d)", MaxK, DefaultK)
		}
		req.K = *body.K
	}
	res, err := h.svc.Search(r.Context(), chi.URLParam(r, "name"), req)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, SearchResponse{Results: res})
}

func (h *handlers) item(w http.ResponseWriter, r *http.Request) error {
	id, err := shared.PathParam(r, "vector.GetItem", "id")
	if err != nil {
		return err
	}
	it, err := h.svc.GetItem(r.Context(), chi.URLParam(r, "name"), id)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, it)
}

// scroller is a Service that pages through an index (Store and Client).
type scroller interface {
	Scroll(ctx context.Context, name string, req ScrollRequest) (ScrollResponse, error)
}

func (h *handlers) scroll(w http.ResponseWriter, r *http.Request) error {
	req, err := parseScrollQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	sc, ok := h.svc.(scroller)
	if !ok {
		return errs.Errorf("vector.Scroll", errs.Internal, "this vector service cannot scroll")
	}
	out, err := sc.Scroll(r.Context(), chi.URLParam(r, "name"), req)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, out)
}
