package matrix_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
)

// TestStatusShowsModelRepull (ADR-124): the Ollama model behind an index
// is pulled again with new weights of the same dims. Before, GET of the
// index status said nothing until a search or a refresh met the change
// (and those saw it only after embedd's digest TTL); a client watching
// the status alone never learned it. Now the status asks embedd's model
// listing (at most once per ModelCheckEvery for every status and list
// call together, bounded by 2 s) and shows the conflict naming both
// revisions; the listing also refreshes embedd's digests, so the next
// search is the 409 at once (embedd's own TTL not waited for). Many
// status calls cost Ollama one /api/tags per period, not one each. A
// POST rebuilds, and a listing asked before the rebuild recorded the new
// revision does not flag the rebuilt index.
func TestStatusShowsModelRepull(t *testing.T) {
	const model = "nomic-embed-text-v2-moe"
	const every = 400 * time.Millisecond
	matrix.SetModelCheckEvery(t, every)
	m1 := ollamatest.Model{Name: model, Dims: 8}
	m2 := ollamatest.Model{Name: model, Dims: 8, Revision: "v2"}
	st, ol := ollamaStack(t, 0, nil, m1)
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	if before.ModelRevision != ollamatest.Digest(m1) || before.VectorError != nil {
		t.Fatalf("built: %+v", before)
	}

	// A client polling the status hard: Ollama sees one /api/tags per
	// period, whoever asks.
	tags := ol.TagsCalls()
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := st.mx.Status(ctx, "docs"); err != nil {
					t.Error(err)
				}
				if _, err := st.mx.List(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	periods := int(time.Since(start)/every) + 1
	if n := ol.TagsCalls() - tags; n > periods {
		t.Fatalf("200 status calls in %v made %d GET /api/tags, want at most %d", time.Since(start), n, periods)
	}

	ol.AddModel(m2)
	var s matrix.IndexStatus
	for deadline := time.Now().Add(3 * every); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if s, err = st.mx.Status(ctx, "docs"); err != nil {
			t.Fatal(err)
		}
		if s.VectorError != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %v after the re-pull still without vector_error: %+v", 3*every, s)
		}
	}
	msg := s.VectorError.Message
	if s.VectorError.Kind != "conflict" || s.State != matrix.StateReady || !strings.Contains(msg, short(ollamatest.Digest(m1))) ||
		!strings.Contains(msg, short(ollamatest.Digest(m2))) || !strings.Contains(msg, "POST "+matrix.IndexesPath) {
		t.Fatalf("status after the re-pull: %+v", s)
	}
	t.Logf("status: %s", msg)
	list, err := st.mx.List(ctx)
	if err != nil || len(list) != 1 || list[0].VectorError == nil || list[0].VectorError.Message != msg {
		t.Fatalf("list after the re-pull: %+v %v", list, err)
	}
	// embedd (default digest TTL) knows the new digest already.
	code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: "fresh warehouse text", Datasets: []string{"docs"}, Mode: matrix.ModeVector})
	if code != http.StatusConflict {
		t.Fatalf("vector search after the status showed the re-pull: %d %v", code, got)
	}

	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after := st.waitReady(t, "docs", before.Version)
	for deadline := time.Now().Add(time.Minute); after.ModelRevision != ollamatest.Digest(m2); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no rebuild: %+v", after)
		}
		after = st.waitReady(t, "docs", before.Version)
	}
	for end := time.Now().Add(3 * every); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s, err := st.mx.Status(ctx, "docs"); err != nil || s.VectorError != nil || s.ModelRevision != ollamatest.Digest(m2) {
			t.Fatalf("status after the rebuild: %+v %v", s, err)
		}
	}
	if res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zqab warehouse row", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1}); err != nil || len(res.Results) != 1 {
		t.Fatalf("vector search after the rebuild: %+v %v", res, err)
	}
}

// TestStatusShowsModelRepullOtherSpelling (ADR-147): [embedd].default_model
// written in another form Ollama accepts for the model it lists
// ("library/" namespace, another case, no tag): the index records that
// spelling as its model, and the status still finds the model in embedd's
// listing (Ollama's name rules decide identity) and shows a re-pull.
// Before: only the same name, in any case, with or without ":latest"
// matched, so the status never showed the re-pull of such a model.
func TestStatusShowsModelRepullOtherSpelling(t *testing.T) {
	const every = 200 * time.Millisecond
	matrix.SetModelCheckEvery(t, every)
	m1 := ollamatest.Model{Name: "nomic-embed-text-v2-moe", Dims: 8}
	m2 := ollamatest.Model{Name: "nomic-embed-text-v2-moe", Dims: 8, Revision: "v2"}
	for _, def := range []string{"library/Nomic-Embed-Text-v2-moe", "registry.ollama.ai/library/nomic-embed-text-v2-moe:latest"} {
		t.Run(def, func(t *testing.T) {
			st, ol := ollamaStack(t, 0, func(cfg *shared.Config) { cfg.Embedd.DefaultModel = def }, m1)
			ctx := context.Background()
			_, before := st.indexDocs(t, compactRows(0, 20, ""))
			if before.Model != def || before.ModelRevision != ollamatest.Digest(m1) || before.VectorError != nil {
				t.Fatalf("built: %+v", before)
			}
			ol.AddModel(m2)
			for deadline := time.Now().Add(10 * every); ; time.Sleep(20 * time.Millisecond) {
				s, err := st.mx.Status(ctx, "docs")
				if err != nil {
					t.Fatal(err)
				}
				if s.VectorError != nil {
					if !strings.Contains(s.VectorError.Message, short(ollamatest.Digest(m2))) {
						t.Fatalf("status after the re-pull: %+v", s.VectorError)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status %v after the re-pull still without vector_error: %+v", 10*every, s)
				}
			}
		})
	}
}
