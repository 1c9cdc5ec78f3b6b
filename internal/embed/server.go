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

type handlers struct{ svc Service }

func (h *handlers) embed(w http.ResponseWriter, r *http.Request) error {
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
	return shared.WriteJSON(w, http.StatusOK, resp)
}

func (h *handlers) models(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.svc.Models(r.Context())
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, resp)
}
