// Package shared is the harness every Lakehouse-Go daemon runs in, and
// nothing else: config (lakehouse.toml + env), slog logging, the middleware
// chain (request id -> recoverer -> access log -> metrics -> allowed_ips ->
// auth -> Langfuse -> observer report -> timeout/body limit, defined once in
// Server.router), GET /health, GET /metrics, the start gates, graceful
// shutdown, and the base HTTP Client that every daemon's typed client wraps.
//
// A daemon is a Builder:
//
//	func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
//		svc := ...                                  // the daemon's Service
//		return &shared.Daemon{
//			Routes: func(r chi.Router) {            // all routes in one place
//				r.Post("/v1/thing", env.Handle(h.create))
//			},
//			Close: svc.Close,                       // flush after draining
//		}, nil
//	}
//
// and its main is one statement: os.Exit(shared.Run("thingd", thing.New)).
// Handlers return errors (env.Handle writes DESIGN.md's error body);
// payloads are decoded with DecodeJSON (which calls Validate) and answered
// with WriteJSON. Other daemons are reached with env.Client(name) (JSON, 60 s
// timeout) or env.StreamClient(name) (streams, bounded by ctx), wrapped by
// the daemon's typed client in its contract package.
//
// Tests start daemons in-process with Start on port 0 (bind "127.0.0.1:0")
// and drive them through the same typed clients.
package shared
