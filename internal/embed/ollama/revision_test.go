package ollama_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/embed/ollama"
	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// TestRepullWireFormat (ADR-115): a model pulled again with new weights
// shows in /api/tags as Ollama shows it — a new digest and a later
// modified_at, the bytes still json.Marshal of Ollama's api.ListResponse
// — and the provider's Revision (the "revision" of embedd's answers) and
// listing follow the digest once DigestTTL has passed.
func TestRepullWireFormat(t *testing.T) {
	s := fake(t)
	u, _ := url.Parse(s.URL)
	c := api.NewClient(u, &http.Client{Timeout: 5 * time.Second})
	ctx := context.Background()
	const ttl = 200 * time.Millisecond
	p, err := ollama.New(ollama.Config{URL: s.URL, DigestTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	m1 := ollamatest.Model{Name: model, Dims: 768}
	m2 := ollamatest.Model{Name: model, Dims: 768, Revision: "v2"}
	tags := func() api.ListModelResponse {
		t.Helper()
		resp, err := http.Get(s.URL + "/api/tags")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var list api.ListResponse
		if err := json.Unmarshal(raw, &list); err != nil || len(list.Models) != 1 {
			t.Fatalf("tags: %v %s", err, raw)
		}
		if want, _ := json.Marshal(list); string(raw) != string(want) {
			t.Fatalf("tags:\n got %s\nwant %s", raw, want)
		}
		if _, err := c.List(ctx); err != nil {
			t.Fatal(err)
		}
		return list.Models[0]
	}
	before := tags()
	if before.Digest != ollamatest.Digest(m1) || p.Revision(ctx, model) != before.Digest {
		t.Fatalf("before: tags %+v, revision %q", before, p.Revision(ctx, model))
	}
	s.AddModel(m2)
	after := tags()
	if after.Digest != ollamatest.Digest(m2) || after.Digest == before.Digest || !after.ModifiedAt.After(before.ModifiedAt) {
		t.Fatalf("after the re-pull: %+v (before %+v)", after, before)
	}
	show, err := c.Show(ctx, &api.ShowRequest{Model: model})
	if err != nil || !show.ModifiedAt.Equal(after.ModifiedAt) {
		t.Fatalf("show after the re-pull: %v %v", show, err)
	}
	if got := p.Revision(ctx, model); got != before.Digest {
		t.Fatalf("within DigestTTL: revision %q, want the digest known %q", got, before.Digest)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if got := p.Revision(ctx, model); got != after.Digest {
		t.Fatalf("after DigestTTL: revision %q, want %q", got, after.Digest)
	}
	ms, err := p.Models(ctx)
	if err != nil || len(ms) != 1 || ms[0].Revision != after.Digest {
		t.Fatalf("models: %+v %v", ms, err)
	}
}
