package shared

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
)

// NotImplemented builds a daemon whose routes under prefix answer 501 with
// the error body: honest about a daemon whose issue has not landed yet,
// never a fake success. /health and /metrics work as for every daemon.
func NotImplemented(prefix string) Builder {
	return func(ctx context.Context, env *Env) (*Daemon, error) {
		h := func(w http.ResponseWriter, r *http.Request) {
			errs.WriteHTTP(w, r, nil, errs.Errorf(env.Name, errs.NotImpl, "%s %s: %s is not implemented yet in this release", r.Method, r.URL.Path, env.Name))
		}
		return &Daemon{Routes: func(r chi.Router) {
			r.HandleFunc(prefix, h)
			r.HandleFunc(prefix+"/*", h)
		}}, nil
	}
}
