// Package storaged builds the storaged daemon (:3211): it opens the backend
// named by [storaged].backend (storage/local or storage/s3) and serves
// storage.Routes over it, and, for the local backend, the short-circuit
// socket that hands same-host clients open files (socket.go, ADR-015).
// cmd/storaged calls New through shared.Run.
package storaged

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// New is storaged's constructor for shared.Run.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	store, closeFn, err := OpenBackend(ctx, env)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(env.Metrics)
	if err != nil {
		closeFn()
		return nil, err
	}
	backend := "local"
	if _, ok := store.(*local.Store); !ok {
		backend = "s3"
	}
	d := &shared.Daemon{
		Routes: storage.Routes(env, meter(store, backend, m)),
		Close:  func(context.Context) error { return closeFn() },
	}
	// /health says "degraded", naming the endpoint and bucket, while the
	// s3 backend cannot reach S3 or the bucket is missing (still 200:
	// storaged itself is alive and answers every request with the 503).
	if c, ok := store.(interface{ Check(context.Context) error }); ok {
		d.Check = c.Check
	}
	// The short-circuit socket (ADR-015): local backend only.
	if ls, ok := store.(*local.Store); ok {
		if path := env.Config.StoragedSocket(); path != "" {
			if sc := listenSC(path, ls, env.Log, env.Config.Storaged.IdleTimeout.Duration); sc != nil {
				sc.metrics = m
				d.Serve = func(ln net.Listener, srv *http.Server, hooks *shared.RequestHooks) shared.Serving {
					sc.start(hooks)
					return &serving{srv: srv, ln: ln, sc: sc}
				}
			}
		}
	}
	return d, nil
}

// OpenBackend opens the configured backend. An unreachable S3 is not an
// error here: it is logged, and requests answer unavailable until it is back.
func OpenBackend(ctx context.Context, env *shared.Env) (storage.Store, func() error, error) {
	cfg := env.Config
	switch cfg.Storaged.Backend {
	case "", "local":
		dir := cfg.DataPath(cfg.Storaged.Dir, "objects")
		s, err := local.Open(dir, env.Log)
		if err != nil {
			return nil, nil, err
		}
		env.Log.Info("storage backend", "op", "start", "backend", "local", "dir", s.Dir())
		return s, s.Close, nil
	case "s3":
		return openS3(ctx, env)
	}
	return nil, nil, fmt.Errorf("[storaged].backend %q: want local or s3", cfg.Storaged.Backend)
}
