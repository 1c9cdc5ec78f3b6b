package vector

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

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

// Routes registers vectord's routes over svc: all of them, in one place.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	h := &handlers{svc: svc}
	return func(r chi.Router) {
		r.Get(IndexesPath, env.Handle(h.list))
		r.Route(IndexesPath+"/{name}", func(r chi.Router) {
			r.Use(validIndexName(env))
			r.Put("/", env.Handle(h.create))
			r.Get("/", env.Handle(h.get))
			r.Delete("/", env.Handle(h.drop))
			r.Post("/upsert", env.Handle(h.upsert))
			r.Post("/delete", env.Handle(h.delete))
			r.Post("/search", env.Handle(h.search))
			r.Get("/items/{id}", env.Handle(h.item))
		})
	}
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
	strictBody(r)
	var req UpsertRequest
	// Exact: an integer beyond 2^53 in metadata is refused, not rounded.
	if err := shared.DecodeJSONExact(r, &req); err != nil {
		return err
	}
	n, err := h.svc.Upsert(r.Context(), chi.URLParam(r, "name"), req.Items)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, UpsertResponse{Upserted: n})
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) error {
	strictBody(r)
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
	K *int `json:"k"`
}

func (h *handlers) search(w http.ResponseWriter, r *http.Request) error {
	strictBody(r)
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

// strictBody makes r's body refuse invalid UTF-8 and unpaired surrogate
// escapes (strictText): ids, metadata and filter values that
// encoding/json would turn into U+FFFD and so into one another.
func strictBody(r *http.Request) {
	r.Body = struct {
		io.Reader
		io.Closer
	}{strictText(r.Body), r.Body}
}
