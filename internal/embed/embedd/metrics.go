package embedd

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/ollama"
	"lakehouse-go/internal/errs"
)

// metrics are embedd's domain metrics on /metrics (ADR-160): texts the
// providers embedded and the errors they answered, by provider (builtin,
// ollama) and error kind, and the vector cache's hits, misses, entries
// and bytes (read from the cache at each scrape). No model name or text.
type metrics struct {
	texts  *prometheus.CounterVec // provider
	calls  *prometheus.CounterVec // provider
	errors *prometheus.CounterVec // provider, kind
}

func newMetrics() *metrics {
	return &metrics{
		texts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_embedd_texts_embedded_total",
			Help: "Texts a provider embedded (cache misses sent upstream and answered), by provider."},
			[]string{"provider"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_embedd_provider_requests_total",
			Help: "Calls to a provider (one per batch of up to the chunk size), by provider, whatever their outcome."},
			[]string{"provider"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_embedd_provider_errors_total",
			Help: "Provider calls that failed, by provider and kind (unavailable: the backend is down or answered wrong; timeout; not_found: no such model; invalid: a text refused)."},
			[]string{"provider", "kind"}),
	}
}

func (m *metrics) register(reg prometheus.Registerer, e *embed.Embedder) error {
	if reg == nil {
		return nil
	}
	stat := func(f func(embed.CacheStats) float64) func() float64 {
		return func() float64 { return f(e.Cache().Stats()) }
	}
	for _, c := range []prometheus.Collector{m.texts, m.calls, m.errors,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_embedd_cache_hits_total",
			Help: "Texts answered from embedd's vector cache."},
			stat(func(s embed.CacheStats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_embedd_cache_misses_total",
			Help: "Texts looked up in the vector cache and not found (embedded by a provider)."},
			stat(func(s embed.CacheStats) float64 { return float64(s.Misses) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_embedd_cache_entries",
			Help: "Vectors held in the cache."},
			stat(func(s embed.CacheStats) float64 { return float64(s.Entries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_embedd_cache_bytes",
			Help: "Bytes the cache accounts for its vectors and texts ([embedd].cache_entries bounds it)."},
			stat(func(s embed.CacheStats) float64 { return float64(s.Bytes) })),
	} {
		if err := reg.Register(c); err != nil {
			return errs.E("embedd", errs.Internal, err)
		}
	}
	return nil
}

// embedded records one provider call.
func (m *metrics) embedded(provider string, n int, err error) {
	m.calls.WithLabelValues(provider).Inc()
	if err != nil {
		m.errors.WithLabelValues(provider, string(errs.KindOf(err))).Inc()
		return
	}
	m.texts.WithLabelValues(provider).Add(float64(n))
}

// The metered providers embed the concrete provider, so the Embedder's
// checks of optional interfaces (ModelOwner, Revisioner...) find the same
// methods; only Embed is counted.
type meteredBuiltin struct {
	*builtin.Provider
	m *metrics
}

func (p meteredBuiltin) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	v, err := p.Provider.Embed(ctx, model, texts)
	p.m.embedded(p.Name(), len(texts), err)
	return v, err
}

type meteredOllama struct {
	*ollama.Provider
	m *metrics
}

func (p meteredOllama) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	v, err := p.Provider.Embed(ctx, model, texts)
	p.m.embedded(p.Name(), len(texts), err)
	return v, err
}

func meterBuiltin(p *builtin.Provider, m *metrics) embed.Provider {
	if m == nil {
		return p
	}
	return meteredBuiltin{p, m}
}
