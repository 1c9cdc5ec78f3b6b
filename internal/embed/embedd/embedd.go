// Package embedd builds the embedd daemon (:3216): it assembles the
// providers named by [embedd] into an embed.Embedder and serves embed.Routes
// over it. cmd/embedd calls New through shared.Run.
//
// Providers (ADR-030):
//   - provider = "builtin" (embedded default): only the offline builtin
//     provider; the default model is builtin-glove-100d (the shipped
//     default_model names an Ollama model, which builtin cannot serve and
//     leaves alone; any other value is refused when the config loads,
//     ADR-118).
//   - provider = "ollama": Ollama at provider_url is the primary provider and
//     serves default_model and every model builtin does not own; builtin stays
//     registered so "builtin-glove-100d" always resolves, offline.
//
// Limits: max_batch texts per request (413 above), concurrency provider calls
// in flight, cache_entries (about that many cached vectors; <= 0 disables the
// cache). Nothing here contacts Ollama at start: a down Ollama is a 502 on
// the request that needs it, naming the provider, never a startup failure;
// GET /v1/embed/models still answers 200 and names it under "unavailable".
//
// Answers name the weights of their model ("revision": Ollama's digest
// from /api/tags, trusted for ollama.DefaultDigestTTL, 5 s; builtin's
// fixed hash), so matrixd can tell a model pulled again with new weights
// of the same dims (ADR-115).
package embedd

import (
	"context"
	"fmt"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/ollama"
	"lakehouse-go/internal/shared"
)

// ollamaDims is the vector size assumed when sizing the cache for Ollama
// (nomic-embed-text: 768).
const ollamaDims = 768

// digestTTL is the Ollama provider's DigestTTL (0: ollama.DefaultDigestTTL,
// 5 s); tests shorten it.
var digestTTL time.Duration

// New is embedd's constructor for shared.Run.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	m := newMetrics()
	e, err := newEmbedder(env, m)
	if err != nil {
		return nil, err
	}
	if err := m.register(env.Metrics, e); err != nil {
		return nil, err
	}
	return &shared.Daemon{Routes: embed.Routes(env, e)}, nil
}

// NewEmbedder builds the Embedder that [embedd] describes (see the package
// comment). Errors: an unknown provider or a bad provider_url.
func NewEmbedder(env *shared.Env) (*embed.Embedder, error) { return newEmbedder(env, nil) }

// newEmbedder is NewEmbedder counting each provider call in m (nil: not).
func newEmbedder(env *shared.Env, m *metrics) (*embed.Embedder, error) {
	c := env.Config.Embedd
	bi, err := builtin.New()
	if err != nil {
		return nil, fmt.Errorf("builtin embedder: %w", err)
	}
	cfg := embed.Config{MaxBatch: c.MaxBatch, MaxConcurrent: c.Concurrency}
	var providers []embed.Provider
	dims := builtin.Dims
	switch c.Provider {
	case "", "builtin":
		cfg.DefaultModel = builtin.Model
		providers = []embed.Provider{meterBuiltin(bi, m)}
	case "ollama":
		op, err := ollama.New(ollama.Config{URL: c.ProviderURL, DigestTTL: digestTTL})
		if err != nil {
			return nil, err
		}
		cfg.DefaultModel = c.DefaultModel
		if cfg.DefaultModel == "" {
			cfg.DefaultModel = shared.Default("").Embedd.DefaultModel
		}
		providers = []embed.Provider{embed.Provider(op), meterBuiltin(bi, m)}
		if m != nil {
			providers[0] = meteredOllama{op, m}
		}
		dims = ollamaDims
	default:
		return nil, fmt.Errorf("[embedd].provider %q: want builtin or ollama", c.Provider)
	}
	switch {
	case c.CacheEntries <= 0:
		cfg.CacheBytes = -1
	default:
		// about CacheEntries vectors of the primary's size, with a short text each
		cfg.CacheBytes = int64(c.CacheEntries) * int64(4*dims+256)
	}
	e, err := embed.New(cfg, providers...)
	if err != nil {
		return nil, err
	}
	env.Log.Info("embedding providers", "op", "start", "provider", c.Provider, "default_model", cfg.DefaultModel,
		"provider_url", map[bool]string{true: c.ProviderURL}[c.Provider == "ollama"], "cache_bytes", cfg.CacheBytes)
	return e, nil
}
