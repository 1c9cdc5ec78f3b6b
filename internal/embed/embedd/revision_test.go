package embedd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// rawEmbed is POST /v1/embed of body as raw JSON fields (so a test sees the
// wire, not what a Go struct kept of it).
func rawEmbed(t *testing.T, base, body string) map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Post(base+embed.RouteEmbed, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]json.RawMessage
	if resp.StatusCode != 200 || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("POST /v1/embed %s: %d %s", body, resp.StatusCode, raw)
	}
	return m
}

func revisionOf(t *testing.T, m map[string]json.RawMessage) string {
	t.Helper()
	var s string
	if r, ok := m["revision"]; !ok || json.Unmarshal(r, &s) != nil || s == "" {
		t.Fatalf("answer without a revision: %v", keys(m))
	}
	return s
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestRevisionInAnswers (ADR-115): POST /v1/embed answers and
// GET /v1/embed/models entries name the weights they come from, an extra
// "revision" beside DESIGN.md's fields: Ollama's digest from /api/tags
// (what `ollama list` shows as ID), a new one once a model pulled again
// with new weights of the same dims is seen; builtin's fixed hash. Before
// there was no such field, so a client could not tell a re-pulled model
// of the same dims from the old one.
func TestRevisionInAnswers(t *testing.T) {
	const ttl = 300 * time.Millisecond
	embedd.SetDigestTTL(t, ttl)
	fake, base := startOverOllama(t, 768)
	m1 := ollamatest.Model{Name: ollamaModel, Dims: 768}

	a := rawEmbed(t, base, inputs("some text"))
	for _, k := range []string{"model", "dims", "embeddings"} {
		if _, ok := a[k]; !ok {
			t.Fatalf("answer lost %q: %v", k, keys(a))
		}
	}
	if got := revisionOf(t, a); got != ollamatest.Digest(m1) {
		t.Fatalf("revision %q, want the digest /api/tags lists %q", got, ollamatest.Digest(m1))
	}
	b := rawEmbed(t, base, `{"input":"x","model":"`+builtin.Model+`"}`)
	brev := revisionOf(t, b)
	if !hex64.MatchString(brev) {
		t.Fatalf("builtin revision %q: want 64 hex digits", brev)
	}

	ms := getModels(t, base)
	for _, m := range ms.Models {
		want := ""
		switch m.Name {
		case ollamaModel + ":latest":
			want = ollamatest.Digest(m1)
		case builtin.Model:
			want = brev
		}
		if m.Revision != want {
			t.Errorf("GET models: %s has revision %q, want %q", m.Name, m.Revision, want)
		}
	}

	m2 := ollamatest.Model{Name: ollamaModel, Dims: 768, Revision: "new weights"}
	fake.AddModel(m2)
	time.Sleep(ttl + 50*time.Millisecond)
	a = rawEmbed(t, base, inputs("some text"))
	if got := revisionOf(t, a); got != ollamatest.Digest(m2) {
		t.Fatalf("after the re-pull: revision %q, want the new digest %q", got, ollamatest.Digest(m2))
	}
	if b := rawEmbed(t, base, `{"input":"x","model":"`+builtin.Model+`"}`); revisionOf(t, b) != brev {
		t.Fatal("builtin's revision changed")
	}
}

// TestRevisionBackNotServedFromCache (ADR-115): a vector Ollama computed
// with new weights while embedd still believed the old digest (within
// DigestTTL of a pull) was cached under the old digest; when the old
// weights came back (pulled again, the same digest), that vector of the
// other weights was served for the old digest until the cache forgot it.
// Now every change of a model's revision starts a new cache generation:
// nothing cached under another revision is served.
func TestRevisionBackNotServedFromCache(t *testing.T) {
	const ttl = 400 * time.Millisecond
	embedd.SetDigestTTL(t, ttl)
	fake, base := startOverOllama(t, 768)
	m1 := ollamatest.Model{Name: ollamaModel, Dims: 768}
	m2 := ollamatest.Model{Name: ollamaModel, Dims: 768, Revision: "v2"}
	same := func(what string, got, want []float32) {
		t.Helper()
		for d := range want {
			if got[d] != want[d] {
				t.Fatalf("%s: dim %d is %v, want %v", what, d, got[d], want[d])
			}
		}
	}

	code, r, bad := post(t, base, inputs("first"))
	consistent(t, "before", code, r, bad, 1, 768)
	// Pulled again; embedd's digests are still the old ones for up to ttl.
	fake.AddModel(m2)
	code, r, bad = post(t, base, inputs("window text"))
	consistent(t, "within the TTL", code, r, bad, 1, 768)
	same("within the TTL (Ollama answers with its new weights)", r.Embeddings[0], ollamatest.VectorOf(m2, "window text"))
	time.Sleep(ttl + 50*time.Millisecond)
	code, r, bad = post(t, base, inputs("second"))
	consistent(t, "after the refresh", code, r, bad, 1, 768)
	if r.Revision != ollamatest.Digest(m2) {
		t.Fatalf("after the refresh: revision %q, want %q", r.Revision, ollamatest.Digest(m2))
	}
	// The old weights come back under the old digest.
	fake.AddModel(m1)
	time.Sleep(ttl + 50*time.Millisecond)
	code, r, bad = post(t, base, inputs("window text", "first"))
	consistent(t, "old weights back", code, r, bad, 2, 768)
	if r.Revision != ollamatest.Digest(m1) {
		t.Fatalf("old weights back: revision %q, want %q", r.Revision, ollamatest.Digest(m1))
	}
	same("old weights back: a text embedded within the TTL", r.Embeddings[0], ollamatest.VectorOf(m1, "window text"))
	same("old weights back: a text embedded before", r.Embeddings[1], ollamatest.VectorOf(m1, "first"))
}
