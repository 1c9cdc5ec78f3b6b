package matrix

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// New is matrixd's constructor for shared.Run: a Matrix over the clients
// of catalogd, queryd, embedd and vectord, state under [matrixd].dir.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	c := env.Config.Matrixd
	m, err := NewMatrix(Deps{
		// An error of each carries its answer's Retry-After (errs.RetryAfter):
		// an upstream that is only starting is asked again soon (upstream.go).
		Catalog: catalog.NewClient(env.Client("catalogd")),
		Query:   query.NewClient(env.Client("queryd")),
		Embed:   embed.NewClient(env.Client("embedd")),
		Vectors: vector.NewClient(env.Client("vectord")),
	}, Options{
		Dir:           env.Config.DataPath(c.Dir, "matrixd"),
		BatchRows:     c.BatchRows,
		PageRows:      c.PageRows,
		PollInterval:  c.PollInterval.Duration,
		Model:         c.Model,
		RowStoreBytes: c.RowStoreBytes,
		Log:           env.Log,
	})
	if err != nil {
		return nil, err
	}
	if err := m.metrics.register(env.Metrics, m); err != nil {
		m.Close(ctx)
		return nil, err
	}
	return &shared.Daemon{Routes: Routes(env, m), Close: m.Close}, nil
}

// Routes registers matrixd's routes over svc: all of them, in one place.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	h := &handlers{svc: svc}
	return func(r chi.Router) {
		r.Post(IndexesPath, env.Handle(h.index))
		r.Get(IndexesPath, env.Handle(h.list))
		r.Get(IndexesPath+"/{dataset}", env.Handle(h.status))
		r.Delete(IndexesPath+"/{dataset}", env.Handle(h.drop))
		r.Post(SearchPath, env.Handle(h.search))
	}
}

type handlers struct{ svc Service }

// noQuery is a 400 for any query parameter: no route of matrixd takes one
// (ADR-099; POST /v1/matrix/search?k=3 answered the default k, ?datasets=x
// searched the body's datasets). hint adds to the message (nil: nothing).
func noQuery(op string, r *http.Request, hint func([]string) string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	_, err := shared.QueryParams(op, r.URL.RawQuery, hint)
	return err
}

// bodyHint: a POST of matrixd takes its fields in the JSON body.
func bodyHint([]string) string { return "this route's fields go in its JSON body" }

// indexHint: Qdrant's ?wait=true makes a write synchronous; an index build
// here always runs in the background.
func indexHint(unknown []string) string {
	for _, k := range unknown {
		if k == "wait" {
			return "the build always runs in the background: poll GET " + IndexesPath + "/{dataset} until its state is ready"
		}
	}
	return bodyHint(unknown)
}

// index answers 202 Accepted: the build runs in the background; poll
// GET /v1/matrix/indexes/{dataset} for its state.
func (h *handlers) index(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("matrix.index", r, indexHint); err != nil {
		return err
	}
	var req IndexRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	st, err := h.svc.Index(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", IndexesPath+"/"+st.Dataset)
	return shared.WriteJSON(w, http.StatusAccepted, st)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("matrix.list", r, nil); err != nil {
		return err
	}
	ls, err := h.svc.List(r.Context())
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, ListResponse{Indexes: ls})
}

func (h *handlers) status(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("matrix.status", r, nil); err != nil {
		return err
	}
	st, err := h.svc.Status(r.Context(), chi.URLParam(r, "dataset"))
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, st)
}

func (h *handlers) drop(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("matrix.drop", r, nil); err != nil {
		return err
	}
	name := chi.URLParam(r, "dataset")
	if err := h.svc.Drop(r.Context(), name); err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, map[string]any{"dataset": name, "dropped": true})
}

// searchBody is SearchRequest as sent: K is a pointer so that "k": 0 (out
// of 1..MaxK) is told apart from an absent k (DefaultK).
type searchBody struct {
	SearchRequest
	K *int `json:"k"`
}

func (h *handlers) search(w http.ResponseWriter, r *http.Request) error {
	var body searchBody
	// A search refused here never reaches Search: counted as its mode's
	// (unknown when the body was not read), not timed.
	refused := func(err error) error {
		if m, ok := h.svc.(*Matrix); ok {
			m.metrics.searched(body.Mode, time.Time{}, err)
		}
		return err
	}
	if err := noQuery("matrix.search", r, bodyHint); err != nil {
		body.Mode = modeUnknown
		return refused(err)
	}
	if err := shared.DecodeJSON(r, &body); err != nil {
		body.Mode = modeUnknown
		return refused(err)
	}
	req := body.SearchRequest
	if body.K != nil {
		if *body.K == 0 {
			return refused(errs.Errorf("matrix.search", errs.Invalid, "k 0: want 1..%d (absent: %d)", MaxK, DefaultK))
		}
		req.K = *body.K
	}
	resp, err := h.svc.Search(r.Context(), req)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, resp)
}
