package pathway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
	"lakehouse-go/internal/shared"
)

// New is pathwayd's constructor for shared.Run: a Store over
// [pathwayd].state_path (default <data_dir>/pathwayd/state.jsonl) with the
// built-in embedder in process (ADR-053).
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	cfg := env.Config
	p, err := builtin.New()
	if err != nil {
		return nil, err
	}
	emb, err := embed.New(embed.Config{DefaultModel: builtin.Model}, p)
	if err != nil {
		return nil, err
	}
	m := newPathwayMetrics()
	s, _, err := Open(ctx, Options{
		Path:        cfg.DataPath(cfg.Pathwayd.StatePath, "pathwayd/state.jsonl"),
		Embedder:    emb,
		Log:         env.Log,
		wrapJournal: func(w journal.WriteSyncer) journal.WriteSyncer { return timedSync{w, m.fsync} },
	})
	if err != nil {
		return nil, err
	}
	if err := m.register(env.Metrics, s); err != nil {
		s.Close(ctx)
		return nil, err
	}
	s.metrics = m
	// /health is "degraded" while state.jsonl refuses writes (a full disk).
	check := func(context.Context) error { return s.JournalFailed() }
	return &shared.Daemon{Routes: Routes(env, s), Close: s.Close, Check: check}, nil
}

// Routes registers pathwayd's routes over svc: all of them, in one place.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	h := &handlers{svc: svc}
	if s, ok := svc.(*Store); ok {
		h.metrics = s.metrics
	}
	return func(r chi.Router) {
		r.Post(MemoriesPath, env.Handle(h.add))
		r.Get(MemoriesPath, env.Handle(h.list))
		r.Delete(MemoriesPath, env.Handle(h.deleteAll))
		r.Get(MemoriesPath+"/{id}", env.Handle(h.get))
		r.Put(MemoriesPath+"/{id}", env.Handle(h.update))
		r.Delete(MemoriesPath+"/{id}", env.Handle(h.delete))
		r.Get(MemoriesPath+"/{id}/history", env.Handle(h.history))
		r.Post(SearchPath, env.Handle(h.search))
		r.Post(TracesPath, env.Handle(h.appendTrace))
		r.Get(TracesPath+"/{run_id}", env.Handle(h.trace))
	}
}

type handlers struct {
	svc     Service
	metrics *pathwayMetrics // nil: none (metrics.go)
}

func (h *handlers) add(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r, "pathway.add"); err != nil {
		return err
	}
	var req AddRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := h.svc.Add(r.Context(), req)
	if err != nil {
		return err
	}
	for _, e := range res.Results {
		h.metrics.event(e.Event, 1)
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

// queryValues: the named query parameters of r, each at most once
// (shared.QueryOnce; user_id=a&user_id=b listed, or deleted, a's memories
// only), and no other (ADR-097: a Mem0-style ?page=2 answered the first
// page, a misspelt ?limt=5 the default). hint adds to the message naming
// unknown parameters (nil: nothing).
func queryValues(r *http.Request, op string, hint func([]string) string, names ...string) ([]string, error) {
	return shared.QueryParams(op, r.URL.RawQuery, hint, names...)
}

// noQuery is a 400 for any query parameter on a route that takes none
// (POST /memories?user_id=u scoped nothing: the body's ids do).
func noQuery(r *http.Request, op string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	var hint func([]string) string
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		hint = bodyHint
	}
	_, err := queryValues(r, op, hint)
	return err
}

// bodyHint: a POST or PUT of pathwayd takes its fields in the JSON body.
func bodyHint([]string) string { return "this route's fields go in its JSON body" }

// deleteAllHint: list parameters on a delete-all are refused with why
// (DELETE ?user_id=u&limit=1 deleted the whole scope).
func deleteAllHint(unknown []string) string {
	for _, k := range unknown {
		if k == "limit" || k == "order" || k == "after" {
			return "delete-all deletes every memory of the scope: limit, order and after are parameters of the list, not of a delete"
		}
	}
	return ""
}

// listHint: Mem0's platform API pages its lists by number (page,
// page_size); pathwayd pages by cursor, which stays exact while memories
// are added and updated (an offset skips or repeats them).
func listHint(unknown []string) string {
	for _, k := range unknown {
		if k == "page" || k == "page_size" {
			return "pathwayd pages with a cursor, not page numbers: limit=N for the page size, then after=<the previous answer's next> for the next page"
		}
	}
	return ""
}

func scopeOf(r *http.Request, op string) (Scope, ListOptions, error) {
	v, err := queryValues(r, op, listHint, "user_id", "agent_id", "run_id", "limit", "order", "after", "filters")
	if err != nil {
		return Scope{}, ListOptions{}, err
	}
	sc := Scope{UserID: v[0], AgentID: v[1], RunID: v[2]}
	opts := ListOptions{Order: v[4], After: v[5]}
	if v[6] != "" {
		// filters=<JSON> (URL-encoded), the object of a search's filters
		// (ADR-140); parsed, and refused with its path, by List.
		opts.Filters = json.RawMessage(v[6])
	}
	if s := v[3]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return sc, opts, errs.Errorf(op, errs.Invalid, "limit %q: want 1..%d", s, MaxLimit)
		}
		opts.Limit = n
	}
	return sc, opts, nil
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	sc, opts, err := scopeOf(r, "pathway.list")
	if err != nil {
		return err
	}
	res, err := h.svc.List(r.Context(), sc, opts)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

func (h *handlers) deleteAll(w http.ResponseWriter, r *http.Request) error {
	const op = "pathway.delete_all"
	// Only the ids select what is deleted. Any other parameter is refused
	// rather than ignored: DELETE ?user_id=u&limit=5 deleted all of u's
	// memories, and a misspelt id (?user_id=u&agentid=x) every agent's.
	v, err := queryValues(r, op, deleteAllHint, "user_id", "agent_id", "run_id")
	if err != nil {
		return err
	}
	sc := Scope{UserID: v[0], AgentID: v[1], RunID: v[2]}
	n, err := h.svc.DeleteAll(r.Context(), sc)
	if err != nil {
		return err
	}
	h.metrics.event(EventDelete, n)
	return shared.WriteJSON(w, http.StatusOK, DeleteResponse{Message: "Memories deleted successfully!", Deleted: n})
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) error {
	id, err := shared.PathParam(r, "pathway.get", "id")
	if err != nil {
		return err
	}
	if err := noQuery(r, "pathway.get"); err != nil {
		return err
	}
	m, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, m)
}

func (h *handlers) update(w http.ResponseWriter, r *http.Request) error {
	id, err := shared.PathParam(r, "pathway.update", "id")
	if err != nil {
		return err
	}
	if err := noQuery(r, "pathway.update"); err != nil {
		return err
	}
	var req UpdateRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	m, err := h.svc.Update(r.Context(), id, req)
	if err != nil {
		return err
	}
	h.metrics.event(EventUpdate, 1)
	return shared.WriteJSON(w, http.StatusOK, m)
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := shared.PathParam(r, "pathway.delete", "id")
	if err != nil {
		return err
	}
	if err := noQuery(r, "pathway.delete"); err != nil {
		return err
	}
	if err := h.svc.Delete(r.Context(), id); err != nil {
		return err
	}
	h.metrics.event(EventDelete, 1)
	return shared.WriteJSON(w, http.StatusOK, DeleteResponse{Message: "Memory deleted successfully!", Deleted: 1})
}

func (h *handlers) history(w http.ResponseWriter, r *http.Request) error {
	id, err := shared.PathParam(r, "pathway.history", "id")
	if err != nil {
		return err
	}
	v, err := queryValues(r, "pathway.history", nil, "after", "limit")
	if err != nil {
		return err
	}
	opts := HistoryOptions{After: v[0]}
	if s := v[1]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxHistoryLimit {
			return errs.Errorf("pathway.history", errs.Invalid, "limit %q: want 1..%d", s, MaxHistoryLimit)
		}
		opts.Limit = n
	}
	res, err := h.svc.History(r.Context(), id, opts)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

func (h *handlers) search(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r, "pathway.search"); err != nil {
		return err
	}
	var req SearchRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := h.svc.Search(r.Context(), req)
	if err != nil {
		return err
	}
	if len(req.Fields) == 0 {
		return shared.WriteJSON(w, http.StatusOK, res)
	}
	return shared.WriteJSON(w, http.StatusOK, project(res, req.Fields))
}

// projectedResponse is a SearchResponse whose results hold only the fields
// the request named (ADR-153).
type projectedResponse struct {
	Results []map[string]json.RawMessage `json:"results"`
	Next    string                       `json:"next,omitempty"`
}

// project keeps the named fields of each result (Search has checked the
// names); a field a result leaves out (an absent agent_id) stays out.
func project(res SearchResponse, fields []string) projectedResponse {
	out := projectedResponse{Results: make([]map[string]json.RawMessage, 0, len(res.Results)), Next: res.Next}
	for i := range res.Results {
		b, err := json.Marshal(&res.Results[i])
		var all map[string]json.RawMessage
		if err == nil {
			err = json.Unmarshal(b, &all)
		}
		m := map[string]json.RawMessage{}
		for _, f := range fields {
			if v, ok := all[f]; ok && err == nil {
				m[f] = v
			}
		}
		out.Results = append(out.Results, m)
	}
	return out
}

func (h *handlers) appendTrace(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r, "pathway.traces"); err != nil {
		return err
	}
	var req TraceRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := h.svc.AppendTrace(r.Context(), req)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

func (h *handlers) trace(w http.ResponseWriter, r *http.Request) error {
	runID, err := shared.PathParam(r, "pathway.trace", "run_id")
	if err != nil {
		return err
	}
	v, err := queryValues(r, "pathway.trace", nil, "after", "limit")
	if err != nil {
		return err
	}
	opts := TraceOptions{After: v[0]}
	if s := v[1]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxTraceLimit {
			return errs.Errorf("pathway.trace", errs.Invalid, "limit %q: want 1..%d", s, MaxTraceLimit)
		}
		opts.Limit = n
	}
	t, err := h.svc.Trace(r.Context(), runID, opts)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, t)
}
