package ollama_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/ollama"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/errs"
)

const model = "nomic-embed-text-v2-moe"

func fake(t *testing.T) *ollamatest.Server {
	s := ollamatest.New(ollamatest.Model{Name: model, Dims: 768})
	t.Cleanup(s.Close)
	return s
}

func newProvider(t *testing.T, u string, timeout time.Duration) *ollama.Provider {
	p, err := ollama.New(ollama.Config{URL: u, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWireFormat checks the fake against Ollama's own types: the bytes it
// writes are what json.Marshal of api.EmbedResponse / api.ListResponse (as
// gin's c.JSON writes them) gives for the same values, and the official
// client decodes them.
func TestWireFormat(t *testing.T) {
	s := fake(t)
	post := func(body string) (int, string, []byte) {
		resp, err := http.Post(s.URL+"/api/embed", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	code, ct, got := post(`{"model":"` + model + `","input":["hello","world"]}`)
	want, _ := json.Marshal(api.EmbedResponse{
		Model: model,
		Embeddings: [][]float32{
			ollamatest.Vector(model+":latest", "hello", 768),
			ollamatest.Vector(model+":latest", "world", 768),
		},
		TotalDuration: ollamatest.TotalDuration, LoadDuration: ollamatest.LoadDuration, PromptEvalCount: 6,
	})
	if code != 200 || ct != "application/json; charset=utf-8" || string(got) != string(want) {
		t.Errorf("embed: %d %q\n got %.200s\nwant %.200s", code, ct, got, want)
	}
	code, _, got = post(`{"model":"nope","input":"x"}`)
	if code != 404 || string(got) != `{"error":"model \"nope\" not found, try pulling it first"}` {
		t.Errorf("missing model: %d %s", code, got)
	}
	code, _, got = post(`{"model":"` + model + `","input":[1]}`)
	if code != 400 || string(got) != `{"error":"invalid input type"}` {
		t.Errorf("bad input: %d %s", code, got)
	}
	code, _, got = post(`{"model":"` + model + `","input":""}`)
	if code != 200 || string(got) != `{"model":"`+model+`","embeddings":[]}` {
		t.Errorf("empty input: %d %s", code, got)
	}

	resp, err := http.Get(s.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var list api.ListResponse
	if err := json.Unmarshal(got, &list); err != nil || len(list.Models) != 1 || list.Models[0].Name != model+":latest" {
		t.Fatalf("tags: %v %s", err, got)
	}
	want, _ = json.Marshal(list) // round trip through Ollama's own type is identity
	if string(got) != string(want) {
		t.Errorf("tags:\n got %s\nwant %s", got, want)
	}

	// and the official client reads both
	u, _ := url.Parse(s.URL)
	c := api.NewClient(u, &http.Client{Timeout: 5 * time.Second})
	er, err := c.Embed(context.Background(), &api.EmbedRequest{Model: model, Input: []string{"a", "b", "c"}})
	if err != nil || len(er.Embeddings) != 3 || len(er.Embeddings[0]) != 768 {
		t.Fatalf("client embed: %v", err)
	}
	if _, err := c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedBatched(t *testing.T) {
	s := fake(t)
	p := newProvider(t, s.URL, 5*time.Second)
	texts := []string{"one", "two", "three"}
	v, err := p.Embed(context.Background(), model, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range texts {
		w := ollamatest.Vector(model+":latest", x, 768)
		for d := range w {
			if v[i][d] != w[d] {
				t.Fatalf("vector %d differs", i)
			}
		}
	}
	calls := s.Calls()
	if len(calls) != 1 || len(calls[0].Inputs) != 3 || calls[0].Model != model {
		t.Errorf("calls = %+v", calls)
	}
	ms, err := p.Models(context.Background())
	if err != nil || len(ms) != 1 || ms[0].Name != model+":latest" || ms[0].Dims != 768 || ms[0].Provider != "ollama" {
		t.Errorf("models = %+v, %v", ms, err)
	}
}

func TestErrors(t *testing.T) {
	s := fake(t)
	down := ollamatest.New()
	downURL := down.URL
	down.Close()

	tests := []struct {
		name    string
		url     string
		model   string
		setup   func()
		timeout time.Duration
		kind    errs.Kind
		status  int
		msg     []string
	}{
		{"model missing", s.URL, "all-minilm", nil, 5 * time.Second, errs.NotFound, 404,
			[]string{"ollama at " + s.URL, "model all-minilm", "not found", "ollama pull all-minilm"}},
		{"ollama down", downURL, model, nil, 5 * time.Second, errs.Unavailable, 502,
			[]string{"ollama at " + downURL, "model " + model, "connection refused"}},
		{"ollama 500", s.URL, model, func() { s.SetFail(500) }, 5 * time.Second, errs.Unavailable, 502,
			[]string{"ollama at", "HTTP 500", "llama runner"}},
		{"slow ollama", s.URL, model, func() { s.SetFail(0); s.SetDelay(time.Second) }, 100 * time.Millisecond, errs.Timeout, 504,
			[]string{"ollama at", "timed out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			_, err := newProvider(t, tt.url, tt.timeout).Embed(context.Background(), tt.model, []string{"x"})
			if errs.KindOf(err) != tt.kind || errs.StatusOf(err) != tt.status {
				t.Fatalf("err = %v (kind %s, status %d)", err, errs.KindOf(err), errs.StatusOf(err))
			}
			for _, m := range tt.msg {
				if !strings.Contains(errs.Message(err), m) {
					t.Errorf("message %q lacks %q", errs.Message(err), m)
				}
			}
		})
	}
	s.SetDelay(0)
	if _, err := newProvider(t, downURL, time.Second).Models(context.Background()); errs.StatusOf(err) != 502 {
		t.Errorf("models while down: %v", err)
	}
	if _, err := ollama.New(ollama.Config{URL: "localhost:11434"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("bad url: %v", err)
	}
}

// TestEmbedderOverOllama routes the default model to Ollama and the builtin
// model to builtin, batches, and reports Ollama down as 502.
func TestEmbedderOverOllama(t *testing.T) {
	s := fake(t)
	bi, err := builtin.New()
	if err != nil {
		t.Fatal(err)
	}
	e, err := embed.New(embed.Config{DefaultModel: model, ChunkSize: 100}, newProvider(t, s.URL, 5*time.Second), bi)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	texts := make([]any, 250)
	for i := range texts {
		texts[i] = "text " + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	r, err := e.Embed(ctx, embed.EmbedRequest{Input: texts})
	if err != nil || r.Model != model || r.Dims != 768 || len(r.Embeddings) != 250 {
		t.Fatalf("%v %s %d %d", err, r.Model, r.Dims, len(r.Embeddings))
	}
	if n := len(s.Calls()); n != 3 {
		t.Errorf("%d ollama calls for 250 texts in chunks of 100", n)
	}
	r, err = e.Embed(ctx, embed.EmbedRequest{Input: texts})
	if err != nil || len(s.Calls()) != 3 {
		t.Errorf("second identical request should be all cache hits: %v, %d calls", err, len(s.Calls()))
	}
	r, err = e.Embed(ctx, embed.EmbedRequest{Input: "hello", Model: builtin.Model})
	if err != nil || r.Dims != 100 || r.Model != builtin.Model {
		t.Errorf("builtin route: %v %+v", err, r.Model)
	}
	ms, err := e.Models(ctx)
	if err != nil || len(ms.Models) != 2 || !ms.Models[0].Default || ms.Models[0].Dims != 768 {
		t.Errorf("models: %v %+v", err, ms)
	}
	_, err = e.Embed(ctx, embed.EmbedRequest{Input: "x", Model: "missing-model"})
	if errs.StatusOf(err) != 404 || !strings.Contains(errs.Message(err), "missing-model") {
		t.Errorf("missing model: %v", err)
	}
	s.Close()
	_, err = e.Embed(ctx, embed.EmbedRequest{Input: "new text"})
	if errs.StatusOf(err) != 502 || !strings.Contains(errs.Message(err), "ollama") {
		t.Errorf("down: %v", err)
	}
	// Models while down: builtin's listed, Ollama named; with Ollama the
	// only provider, nothing can be listed: its 502.
	ms, err = e.Models(ctx)
	if err != nil || len(ms.Models) != 2 || len(ms.Unavailable) != 1 || ms.Unavailable[0].Provider != "ollama" {
		t.Errorf("models while down: %v %+v", err, ms)
	}
	alone, _ := embed.New(embed.Config{DefaultModel: model}, newProvider(t, s.URL, 5*time.Second))
	if _, err := alone.Models(ctx); errs.StatusOf(err) != 502 || !strings.Contains(errs.Message(err), "unreachable") {
		t.Errorf("models, only provider down: %v", err)
	}
}

// An Ollama that accepts connections and never answers (hung, or a
// firewall that swallows) costs the models listing ModelsTimeout, not the
// provider client's whole timeout: builtin's models are listed and Ollama
// is named.
func TestModelsWithHungOllama(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	bi, err := builtin.New()
	if err != nil {
		t.Fatal(err)
	}
	e, err := embed.New(embed.Config{DefaultModel: model, ModelsTimeout: 300 * time.Millisecond},
		newProvider(t, "http://"+ln.Addr().String(), 2*time.Minute), bi)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ms, err := e.Models(context.Background())
	took := time.Since(t0)
	if err != nil || len(ms.Unavailable) != 1 || ms.Unavailable[0].Provider != "ollama" ||
		!strings.Contains(ms.Unavailable[0].Error, "within 300ms") {
		t.Fatalf("models with a hung ollama: %v %+v", err, ms)
	}
	if took > 2*time.Second {
		t.Fatalf("listing took %v", took)
	}
	hasBuiltin := false
	for _, m := range ms.Models {
		hasBuiltin = hasBuiltin || m.Name == builtin.Model
	}
	if !hasBuiltin {
		t.Fatalf("builtin not listed: %+v", ms)
	}
}

// TestShowWireFormat checks the fake's POST /api/show against Ollama's own
// api.ShowResponse (the round trip through it is identity, as gin's
// c.JSON writes it), its 404, and that the official client reads it.
func TestShowWireFormat(t *testing.T) {
	s := ollamatest.New(ollamatest.Model{Name: model, Dims: 768}, ollamatest.Model{Name: "llama3.1:8b", Dims: 4096, Chat: true})
	t.Cleanup(s.Close)
	show := func(body string) (int, string, []byte) {
		resp, err := http.Post(s.URL+"/api/show", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	for _, tc := range []struct {
		name string
		caps []string
	}{{model, []string{"embedding"}}, {"llama3.1:8b", []string{"completion", "tools"}}} {
		code, ct, got := show(`{"model":"` + tc.name + `"}`)
		var sr api.ShowResponse
		if err := json.Unmarshal(got, &sr); err != nil || code != 200 || ct != "application/json; charset=utf-8" {
			t.Fatalf("show %s: %d %q %v %s", tc.name, code, ct, err, got)
		}
		if want, _ := json.Marshal(sr); string(got) != string(want) {
			t.Errorf("show %s:\n got %s\nwant %s", tc.name, got, want)
		}
		if fmt.Sprint(sr.Capabilities) != fmt.Sprint(tc.caps) {
			t.Errorf("show %s: capabilities %v", tc.name, sr.Capabilities)
		}
	}
	s.SetLegacy(true)
	if _, _, got := show(`{"model":"` + model + `"}`); strings.Contains(string(got), "capabilities") || !strings.Contains(string(got), `"nomic-bert-moe.pooling_type":1`) {
		t.Errorf("legacy show: %s", got)
	}
	if code, _, got := show(`{"model":"nope"}`); code != 404 || string(got) != `{"error":"model 'nope' not found"}` {
		t.Errorf("show missing: %d %s", code, got)
	}
	if code, _, got := show(`{}`); code != 400 || string(got) != `{"error":"model is required"}` {
		t.Errorf("show without model: %d %s", code, got)
	}
	u, _ := url.Parse(s.URL)
	c := api.NewClient(u, &http.Client{Timeout: 5 * time.Second})
	if sr, err := c.Show(context.Background(), &api.ShowRequest{Model: model}); err != nil || sr.Details.Family != "nomic-bert-moe" {
		t.Fatalf("client show: %v", err)
	}
}
