package ollama_test

import (
	"context"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/ollama"
	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// listed returns the entry of name in p's listing, and how long it took.
func listed(t *testing.T, p *ollama.Provider, name string) (embed.ModelInfo, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // longer than embed.DefaultModelsTimeout: showTimeout alone must bound
	defer cancel()
	start := time.Now()
	ms, err := p.Models(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == name {
			return m, took
		}
	}
	t.Fatalf("%s not listed: %+v", name, ms)
	return embed.ModelInfo{}, took
}

// TestShowBoundedAndFailOpen (ADR-141): an Ollama that does not answer
// /api/show in time lists its models with dims unknown (0) within
// showTimeout, and is not asked again at every listing but after
// showRetry; the dims of an answer under the digest listed fill in
// meanwhile; a prompt /api/show gives model_info's embedding_length
// before any embedding; a model_info without the key leaves dims
// unknown until an embedding. Before: a hung /api/show held every listing
// for the whole ModelsTimeout (5 s).
func TestShowBoundedAndFailOpen(t *testing.T) {
	ollama.SetShowTimes(t, 300*time.Millisecond, 2*time.Second)
	f := fake(t)
	f.SetShowDelay(time.Minute)
	p, err := ollama.New(ollama.Config{URL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	name := model + ":latest"
	m, took := listed(t, p, name)
	if m.Dims != 0 || took > 10*time.Second {
		t.Fatalf("hung /api/show: listed %+v after %v; want dims 0 within ~300ms (showTimeout), not the listing's 20 s", m, took)
	}
	shows := len(f.Shows())
	if m, took = listed(t, p, name); m.Dims != 0 || took > 5*time.Second || len(f.Shows()) != shows {
		t.Fatalf("second listing: %+v after %v, %d more /api/show; want it at once, none", m, took, len(f.Shows())-shows)
	}
	if _, err := p.Embed(context.Background(), model, []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	if m, _ = listed(t, p, name); m.Dims != 768 {
		t.Fatalf("after an embedding: %+v, want the answer's 768", m)
	}
	f.SetShowDelay(0)
	time.Sleep(2100 * time.Millisecond)
	f.AddModel(ollamatest.Model{Name: "mxbai-embed-large", Dims: 1024, Family: "bert"})
	f.AddModel(ollamatest.Model{Name: "no-length", Dims: 384, Family: "bert", NoLength: true})
	if m, _ = listed(t, p, name); m.Dims != 768 || len(f.Shows()) < shows+3 {
		t.Fatalf("after showRetry: %+v, %d more /api/show (want 3 or more: asked again)", m, len(f.Shows())-shows)
	}
	if m, _ = listed(t, p, "mxbai-embed-large:latest"); m.Dims != 1024 {
		t.Fatalf("never embedded: %+v, want model_info's 1024", m)
	}
	if m, _ = listed(t, p, "no-length:latest"); m.Dims != 0 {
		t.Fatalf("model_info without embedding_length: %+v, want dims 0", m)
	}
	if _, err := p.Embed(context.Background(), "no-length", []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	if m, _ = listed(t, p, "no-length:latest"); m.Dims != 384 {
		t.Fatalf("no-length after an embedding: %+v, want 384", m)
	}
}
