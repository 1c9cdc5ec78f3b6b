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

// TestRepullSeenWithinDefaultTTL (ADR-124): with the default DigestTTL a
// model pulled again with new weights was labelled with its old digest
// (and its old weights' vectors served from embedd's cache) for up to
// 30 s, so matrixd ranked an index of the old weights with queries of the
// new ones that long. The default is 5 s: the new digest shows within
// 6 s, at the cost of one GET /api/tags per 5 s while embeds come (not
// one per request).
func TestRepullSeenWithinDefaultTTL(t *testing.T) {
	s := fake(t)
	p, err := ollama.New(ollama.Config{URL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m2 := ollamatest.Model{Name: model, Dims: 768, Revision: "v2"}
	if got := p.Revision(ctx, model); got != ollamatest.Digest(ollamatest.Model{Name: model, Dims: 768}) {
		t.Fatalf("before: revision %q", got)
	}
	tags := s.TagsCalls()
	s.AddModel(m2)
	start := time.Now()
	for p.Revision(ctx, model) != ollamatest.Digest(m2) {
		if time.Since(start) > 6*time.Second {
			t.Fatalf("revision still the old digest %v after the re-pull (DefaultDigestTTL %v)", time.Since(start), ollama.DefaultDigestTTL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := s.TagsCalls() - tags; n != 1 {
		t.Fatalf("%d GET /api/tags in %v of revisions asked every 20 ms, want 1", n, time.Since(start))
	}
	t.Logf("new digest seen after %v", time.Since(start))
}
