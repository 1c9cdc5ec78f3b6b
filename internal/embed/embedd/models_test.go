package embedd_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// getModels is GET /v1/embed/models over HTTP.
func getModels(t *testing.T, base string) embed.ModelsResponse {
	t.Helper()
	resp, err := http.Get(base + embed.RouteModels)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ms embed.ModelsResponse
	if resp.StatusCode != 200 || json.Unmarshal(raw, &ms) != nil {
		t.Fatalf("GET models: %d %s", resp.StatusCode, raw)
	}
	return ms
}

// TestModelsListsEmbeddingModelsOnly: GET /v1/embed/models lists Ollama's
// embedding models, not its chat models, whether Ollama's /api/show
// answers "capabilities" (current) or only model_info (older); each model
// is asked about once per digest. Before: every model of /api/tags was
// listed, llama3.1 beside nomic-embed-text.
func TestModelsListsEmbeddingModelsOnly(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		fake := ollamatest.New(
			ollamatest.Model{Name: ollamaModel, Dims: 768},
			ollamatest.Model{Name: "llama3.1:8b", Dims: 4096, Chat: true},
			ollamatest.Model{Name: "mxbai-embed-large", Dims: 1024, Family: "bert"},
		)
		fake.SetLegacy(legacy)
		cfg := config(t)
		cfg.Embedd.Provider = "ollama"
		cfg.Embedd.ProviderURL = fake.URL
		_, s := start(t, cfg)
		ms := getModels(t, s.URL())
		got := map[string]embed.ModelInfo{}
		for _, m := range ms.Models {
			got[m.Name] = m
		}
		if len(ms.Models) != 3 || ms.Unavailable != nil {
			t.Fatalf("legacy=%v: want builtin and the two embedding models, got %+v", legacy, ms)
		}
		if m := got[ollamaModel+":latest"]; !m.Default || m.Dims != 768 || m.Provider != "ollama" {
			t.Errorf("legacy=%v: default model listed as %+v (want default, dims 768 from model_info)", legacy, m)
		}
		if m := got["mxbai-embed-large:latest"]; m.Dims != 1024 {
			t.Errorf("legacy=%v: mxbai-embed-large listed as %+v", legacy, m)
		}
		if _, ok := got[builtin.Model]; !ok {
			t.Errorf("legacy=%v: builtin missing: %+v", legacy, ms.Models)
		}
		if _, ok := got["llama3.1:8b"]; ok {
			t.Errorf("legacy=%v: the chat model llama3.1:8b is listed", legacy)
		}
		shows := len(fake.Shows())
		if shows != 3 {
			t.Errorf("legacy=%v: %d /api/show calls for 3 models", legacy, shows)
		}
		getModels(t, s.URL())
		if n := len(fake.Shows()); n != shows {
			t.Errorf("legacy=%v: a second listing asked /api/show again (%d calls): the answer is kept by digest", legacy, n-shows)
		}
		// a model pulled again (new digest) is asked about again
		fake.AddModel(ollamatest.Model{Name: "mxbai-embed-large", Dims: 1024, Family: "bert", Revision: "2"})
		getModels(t, s.URL())
		if n := len(fake.Shows()); n != shows+1 {
			t.Errorf("legacy=%v: after a re-pull: %d more /api/show calls, want 1", legacy, n-shows)
		}
		fake.Close()
	}
}

// TestRepulledModelNotServedFromCache: a model pulled again with new
// weights of the same length (a new digest in /api/tags) gets vectors of
// its new weights once the digests are refreshed (DigestTTL), not the
// cached ones of the old weights; within DigestTTL, one GET /api/tags
// serves every embed request. Before: the old vectors were served until
// the cache evicted them.
func TestRepulledModelNotServedFromCache(t *testing.T) {
	const ttl = 300 * time.Millisecond
	embedd.SetDigestTTL(t, ttl)
	fake, base := startOverOllama(t, 768)
	m1 := ollamatest.Model{Name: ollamaModel, Dims: 768}
	code, r, bad := post(t, base, inputs("old text"))
	consistent(t, "first", code, r, bad, 1, 768)
	if want := ollamatest.VectorOf(m1, "old text"); r.Embeddings[0][0] != want[0] {
		t.Fatal("first answer is not the fake's vector")
	}
	m2 := ollamatest.Model{Name: ollamaModel, Dims: 768, Revision: "new weights"}
	fake.AddModel(m2)
	time.Sleep(ttl + 50*time.Millisecond)
	code, r, bad = post(t, base, inputs("old text", "new text"))
	consistent(t, "after the re-pull", code, r, bad, 2, 768)
	for i, text := range []string{"old text", "new text"} {
		want := ollamatest.VectorOf(m2, text)
		for d := range want {
			if r.Embeddings[i][d] != want[d] {
				t.Fatalf("%q after the re-pull: dim %d is %v, want %v (the new weights' vector)", text, d, r.Embeddings[i][d], want[d])
			}
		}
	}
	// cached again, under the new digest
	calls := len(fake.Calls())
	code, r, bad = post(t, base, inputs("old text"))
	consistent(t, "cached", code, r, bad, 1, 768)
	if len(fake.Calls()) != calls {
		t.Errorf("the new weights' vector was not cached")
	}
}

// TestDigestNotAskedPerRequest: the digests cost one GET /api/tags per
// DigestTTL (default 5 s), not one per embed request.
func TestDigestNotAskedPerRequest(t *testing.T) {
	fake, base := startOverOllama(t, 768)
	for i := range 20 {
		code, r, bad := post(t, base, inputs("text", string(rune('a'+i))))
		consistent(t, "request", code, r, bad, 2, 768)
	}
	if n := fake.TagsCalls(); n != 1 {
		t.Fatalf("%d GET /api/tags for 20 embed requests, want 1", n)
	}
}

// TestDigestRefreshConcurrent: embed requests and model listings in
// parallel while the digests expire every millisecond and the model is
// pulled again: every answer is whole (run with -race).
func TestDigestRefreshConcurrent(t *testing.T) {
	embedd.SetDigestTTL(t, time.Millisecond)
	fake, base := startOverOllama(t, 16)
	done := make(chan error, 9)
	for g := range 8 {
		go func() {
			for i := range 20 {
				resp, err := http.Post(base+embed.RouteEmbed, "application/json",
					strings.NewReader(inputs("shared text", fmt.Sprintf("text %d %d", g, i))))
				if err != nil {
					done <- err
					return
				}
				var r embed.EmbedResponse
				err = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || r.Dims != 16 || len(r.Embeddings) != 2 {
					done <- fmt.Errorf("goroutine %d request %d: %d %v %+v", g, i, resp.StatusCode, err, r.Dims)
					return
				}
			}
			done <- nil
		}()
	}
	go func() {
		for i := range 10 {
			fake.AddModel(ollamatest.Model{Name: ollamaModel, Dims: 16, Revision: fmt.Sprint(i)})
			resp, err := http.Get(base + embed.RouteModels)
			if err != nil {
				done <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				done <- fmt.Errorf("GET models: %d", resp.StatusCode)
				return
			}
		}
		done <- nil
	}()
	for range 9 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
