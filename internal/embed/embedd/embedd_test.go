package embedd_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
)

func config(t *testing.T) *shared.Config { return inproc.Config(t) }

// start runs embedd through the real harness and returns its typed client.
func start(t *testing.T, cfg *shared.Config) (*embed.Client, *shared.Server) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := shared.Start(context.Background(), "embedd", cfg, embedd.New, io.Discard)
	if err != nil {
		t.Fatalf("start embedd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cfg.Embedd.URL = s.URL()
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(10 * time.Second)}
	return embed.NewClient(env.Client("embedd")), s
}

func cosine(a, b []float32) float64 {
	var d float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
	}
	return d
}

func TestBuiltinDaemon(t *testing.T) {
	c, s := start(t, config(t))
	ctx := context.Background()

	r, err := c.Embed(ctx, embed.EmbedRequest{Input: "forklift operator"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != builtin.Model || r.Dims != builtin.Dims || len(r.Embeddings) != 1 || len(r.Embeddings[0]) != builtin.Dims {
		t.Fatalf("single: model %q dims %d n %d", r.Model, r.Dims, len(r.Embeddings))
	}
	r, err = c.Embed(ctx, embed.EmbedRequest{Input: []string{"forklift driver", "forklift operator", "tax accountant"}})
	if err != nil || len(r.Embeddings) != 3 {
		t.Fatalf("batch: %v %d", err, len(r.Embeddings))
	}
	if near, far := cosine(r.Embeddings[0], r.Embeddings[1]), cosine(r.Embeddings[0], r.Embeddings[2]); near <= far {
		t.Errorf("forklift driver~operator %.3f <= driver~accountant %.3f", near, far)
	}
	// The same vector through the wire as in process.
	bi, _ := builtin.New()
	want := make([]float32, builtin.Dims)
	bi.EmbedOne("forklift driver", want)
	for i := range want {
		if want[i] != r.Embeddings[0][i] {
			t.Fatalf("dim %d: wire %v, in process %v", i, r.Embeddings[0][i], want[i])
		}
	}

	ms, err := c.Models(ctx)
	if err != nil || len(ms.Models) != 1 || ms.Models[0].Name != builtin.Model || !ms.Models[0].Default || ms.Models[0].Dims != builtin.Dims {
		t.Fatalf("models: %v %+v", err, ms)
	}

	for _, tc := range []struct {
		name string
		req  embed.EmbedRequest
		kind errs.Kind
		msg  string
	}{
		{"no input", embed.EmbedRequest{}, errs.Invalid, `"input" is required`},
		{"empty array", embed.EmbedRequest{Input: []string{}}, errs.Invalid, "empty array"},
		{"blank text", embed.EmbedRequest{Input: []string{"ok", "  "}}, errs.Invalid, "input[1] is empty"},
		{"number", embed.EmbedRequest{Input: 3}, errs.Invalid, "a number"},
		{"unknown model", embed.EmbedRequest{Input: "x", Model: "nope"}, errs.NotFound, "nope"},
		{"too many", embed.EmbedRequest{Input: make([]string, embed.DefaultMaxBatch+1)}, errs.TooLarge, "exceeds the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Embed(ctx, tc.req)
			if errs.KindOf(err) != tc.kind || !strings.Contains(errs.Message(err), tc.msg) {
				t.Errorf("got %v (%s), want %s containing %q", err, errs.KindOf(err), tc.kind, tc.msg)
			}
		})
	}

	// Raw HTTP: the error body of DESIGN.md and unknown fields refused.
	resp, err := http.Post(s.URL()+embed.RouteEmbed, "application/json", strings.NewReader(`{"input":"x","modle":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body errs.Body
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body.Error.Kind != errs.Invalid || !strings.Contains(body.Error.Message, "modle") {
		t.Errorf("unknown field: %d %+v", resp.StatusCode, body)
	}
}

func TestOllamaDaemon(t *testing.T) {
	const model = "nomic-embed-text-v2-moe"
	fake := ollamatest.New(ollamatest.Model{Name: model, Dims: 768})
	defer fake.Close()
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = fake.URL
	c, s := start(t, cfg)
	ctx := context.Background()

	r, err := c.Embed(ctx, embed.EmbedRequest{Input: []string{"a", "b"}})
	if err != nil || r.Model != model || r.Dims != 768 || len(r.Embeddings) != 2 {
		t.Fatalf("default model via ollama: %v %+v", err, r.Model)
	}
	if got := ollamatest.Vector(model+":latest", "a", 768); got[0] != r.Embeddings[0][0] {
		t.Errorf("vector differs from what the fake served")
	}
	if calls := fake.Calls(); len(calls) != 1 || len(calls[0].Inputs) != 2 {
		t.Errorf("want one batched /api/embed call, got %+v", calls)
	}
	// builtin stays available under its own model name, without Ollama.
	r, err = c.Embed(ctx, embed.EmbedRequest{Input: "x", Model: builtin.Model})
	if err != nil || r.Dims != builtin.Dims {
		t.Fatalf("builtin beside ollama: %v", err)
	}
	ms, err := c.Models(ctx)
	if err != nil || len(ms.Models) != 2 || ms.Unavailable != nil {
		t.Fatalf("models: %v %+v", err, ms)
	}

	// Ollama down -> 502 naming the provider; builtin still answers.
	fake.Close()
	_, err = c.Embed(ctx, embed.EmbedRequest{Input: "not cached yet"})
	if errs.KindOf(err) != errs.Unavailable || errs.StatusOf(err) != http.StatusBadGateway || !strings.Contains(errs.Message(err), "ollama") {
		t.Fatalf("ollama down: %v (status %d)", err, errs.StatusOf(err))
	}
	if !strings.Contains(errs.Message(err), fake.URL) {
		t.Errorf("message should name the provider URL: %q", errs.Message(err))
	}
	// The models list still answers 200: builtin's model, the configured
	// default (dims unknown), and Ollama named as unavailable.
	ms, err = c.Models(ctx)
	if err != nil || len(ms.Models) != 2 || ms.Models[0].Name != builtin.Model || ms.Models[0].Dims != builtin.Dims ||
		ms.Models[1].Name != model || !ms.Models[1].Default || ms.Models[1].Provider != "ollama" || ms.Models[1].Dims != 0 {
		t.Fatalf("models with ollama down: %v %+v", err, ms)
	}
	if len(ms.Unavailable) != 1 || ms.Unavailable[0].Provider != "ollama" || !strings.Contains(ms.Unavailable[0].Error, fake.URL) ||
		!strings.Contains(ms.Unavailable[0].Error, "unreachable") {
		t.Fatalf("unavailable = %+v", ms.Unavailable)
	}
	resp, err := http.Get(s.URL() + embed.RouteModels)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"unavailable":[{"provider":"ollama","error":"ollama at `+fake.URL+`: unreachable: `) {
		t.Fatalf("GET models, ollama down: %d %s", resp.StatusCode, raw)
	}
	if _, err := c.Embed(ctx, embed.EmbedRequest{Input: "x", Model: builtin.Model}); err != nil {
		t.Errorf("builtin with ollama down: %v", err)
	}
}

func TestBadProviderURLFailsStart(t *testing.T) {
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = "ftp://nowhere"
	_, err := shared.Start(context.Background(), "embedd", cfg, embedd.New, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "provider_url") {
		t.Fatalf("want a start error naming provider_url, got %v", err)
	}
}
