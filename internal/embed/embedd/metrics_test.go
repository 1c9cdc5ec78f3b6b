package embedd_test

import (
	"context"
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/testutil/metricstest"
)

// TestEmbedMetrics: embedd's /metrics after real requests, with Ollama a
// fake server: texts embedded by provider (cache misses only), the cache's
// hits and misses, and a call to a stopped Ollama as a provider error of
// kind unavailable.
func TestEmbedMetrics(t *testing.T) {
	const model = "nomic-embed-text-v2-moe"
	fake := ollamatest.New(ollamatest.Model{Name: model, Dims: 768})
	defer fake.Close()
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = fake.URL
	c, s := start(t, cfg)
	ctx := context.Background()
	if _, err := c.Embed(ctx, embed.EmbedRequest{Input: []string{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Embed(ctx, embed.EmbedRequest{Input: []string{"a", "b"}}); err != nil { // cached
		t.Fatal(err)
	}
	if _, err := c.Embed(ctx, embed.EmbedRequest{Input: "x", Model: builtin.Model}); err != nil {
		t.Fatal(err)
	}
	fake.Close()
	if _, err := c.Embed(ctx, embed.EmbedRequest{Input: "not cached yet"}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("ollama down: %v", err)
	}
	m := metricstest.Scrape(t, s.URL())
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lakehouse_embedd_texts_embedded_total", []string{"provider", "ollama"}, 3},
		{"lakehouse_embedd_texts_embedded_total", []string{"provider", "builtin"}, 1},
		{"lakehouse_embedd_provider_requests_total", []string{"provider", "ollama"}, 2},
		{"lakehouse_embedd_provider_errors_total", []string{"provider", "ollama", "kind", "unavailable"}, 1},
		{"lakehouse_embedd_cache_hits_total", nil, 2},
		{"lakehouse_embedd_cache_misses_total", nil, 5},
		{"lakehouse_embedd_cache_entries", nil, 4},
	} {
		if got, ok := m.Value(tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if m.Get("lakehouse_embedd_cache_bytes") <= 0 {
		t.Errorf("cache_bytes = 0 with 4 vectors cached")
	}
	m.Lint(t, "lakehouse_embedd_")
}
