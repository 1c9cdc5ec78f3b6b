package embed

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// Routes registers embedd's routes over svc: all of them, in one place.
// The daemon constructor (providers from [embedd]) is embed/embedd.New;
// it lives in a sub-package because the providers import this one.
func Routes(env *shared.Env, svc Service) func(r chi.Router) {
	h := &handlers{svc: svc}
	return func(r chi.Router) {
		r.Post(RouteEmbed, env.Handle(h.embed))
		r.Get(RouteModels, env.Handle(h.models))
	}
}

type handlers struct {
	svc Service
}

// noQuery is a 400 for any query parameter: no route of embedd takes one
// (ADR-099; POST /v1/embed?model=m embedded with the default model, vectors
// of another space than the caller asked for). hint adds to the message
// (nil: nothing).
func noQuery(op string, r *http.Request, hint func([]string) string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	_, err := shared.QueryParams(op, r.URL.RawQuery, hint)
	return err
}

// bodyHint: POST /v1/embed takes its fields in the JSON body.
func bodyHint([]string) string {
	return `input and model are fields of the JSON body ({"input":"...","model":"..."})`
}

func (h *handlers) embed(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("embed", r, bodyHint); err != nil {
		return err
	}
	var wire wireRequest
	if err := shared.DecodeJSON(r, &wire); err != nil {
		return err
	}
	maxBatch := 0
	if l, ok := h.svc.(interface{ MaxBatch() int }); ok {
		maxBatch = l.MaxBatch()
	}
	input, err := decodeInput(wire.Input, maxBatch)
	if err != nil {
		return err
	}
	resp, err := h.svc.Embed(r.Context(), EmbedRequest{Input: input, Model: wire.Model})
	if err != nil {
		return err
	}
	// Bounded without progress (shared.AnswerStall, as every daemon's
	// answer): a client that sent a batch and never read its vectors
	// (10,000 texts: about 12 MB of JSON) held the handler, the answer and
	// the connection for as long as it stayed connected.
	return shared.WriteJSONAnswer(w, r, http.StatusOK, resp)
}

func (h *handlers) models(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("embed.models", r, nil); err != nil {
		return err
	}
	resp, err := h.svc.Models(r.Context())
	if err != nil {
		return err
	}
	return shared.WriteJSONAnswer(w, r, http.StatusOK, resp)
}
