package matrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/embed/ollama"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// revisionTTL is how long the embedd of these tests trusts Ollama's
// digests (ollama.DefaultDigestTTL is 5 s).
const revisionTTL = 300 * time.Millisecond

// embeddWithTTL is embedd as embedd.New builds it for provider "ollama"
// (the real Ollama provider and builtin under embed.Embedder, its cache
// on, embed.Routes), but trusting Ollama's digests for ttl only.
func embeddWithTTL(ttl time.Duration) shared.Builder {
	return func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		c := env.Config.Embedd
		op, err := ollama.New(ollama.Config{URL: c.ProviderURL, DigestTTL: ttl})
		if err != nil {
			return nil, err
		}
		bi, err := builtin.New()
		if err != nil {
			return nil, err
		}
		e, err := embed.New(embed.Config{DefaultModel: c.DefaultModel}, op, bi)
		if err != nil {
			return nil, err
		}
		return &shared.Daemon{Routes: embed.Routes(env, e)}, nil
	}
}

// restartEmbedd stops embedd and starts b on the same port.
func (st *stack) restartEmbedd(t *testing.T, b shared.Builder) {
	t.Helper()
	st.restart(t, "embedd", b)
}

// waitFailed polls the status until it is failed.
func (st *stack) waitFailed(t *testing.T, dataset string) matrix.IndexStatus {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		s, err := st.mx.Status(context.Background(), dataset)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == matrix.StateFailed {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not fail: %+v", dataset, s)
		}
	}
}

// short is a digest as the 409s show it.
func short(d string) string { return d[:12] }

// TestModelRepulledSameDims (ADR-115): the Ollama model behind a dataset's
// vector index is pulled again with new weights of the same dims (a new
// digest in /api/tags, as `ollama pull` of an updated model gives).
// Before, nothing noticed: searches ranked the old weights' index with
// the new weights' query vectors (silently meaningless), an append mixed
// the two in one index. Now, once embedd sees the new digest (its digest
// TTL), vector and hybrid searches are a 409 conflict naming the dataset,
// both revisions and POST /v1/matrix/indexes (the query embedd had cached
// under the old digest included), keyword search works, the status shows
// it, an append is refused whole and not run again each poll, a restart
// keeps it, and a POST rebuilds with the new weights and records their
// revision. Real embedd (Ollama provider, cache on) over the fake Ollama
// speaking Ollama's wire protocol; everything else the real stack.
func TestModelRepulledSameDims(t *testing.T) {
	const model = "nomic-embed-text-v2-moe"
	m1 := ollamatest.Model{Name: model, Dims: 8}
	m2 := ollamatest.Model{Name: model, Dims: 8, Revision: "v2"}
	st, ol := ollamaStack(t, revisionTTL, func(c *shared.Config) { c.Matrixd.BatchRows = 5 }, m1)
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	if before.Dims != 8 || before.ModelRevision != ollamatest.Digest(m1) {
		t.Fatalf("built: %+v (want model_revision %s)", before, ollamatest.Digest(m1))
	}
	code, got := st.rawJSON(t, http.MethodGet, matrix.IndexesPath+"/docs", nil)
	if code != 200 || got["model_revision"] != ollamatest.Digest(m1) {
		t.Fatalf("GET status: %d %v", code, got)
	}
	const cached = "zqab warehouse row" // embedd caches its vector now
	if res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: cached, Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1}); err != nil || len(res.Results) != 1 || res.Results[0].ID != "d1" {
		t.Fatalf("vector search before the re-pull: %+v %v", res, err)
	}

	ol.AddModel(m2)
	time.Sleep(revisionTTL + 100*time.Millisecond)

	want := func(msg string) bool {
		return strings.Contains(msg, `"docs"`) && strings.Contains(msg, short(ollamatest.Digest(m1))) &&
			strings.Contains(msg, short(ollamatest.Digest(m2))) && strings.Contains(msg, model) &&
			strings.Contains(msg, "POST "+matrix.IndexesPath) && !strings.Contains(msg, "  ")
	}
	for i, q := range []string{cached, "warehouse row 7", cached} {
		mode := []string{matrix.ModeVector, matrix.ModeHybrid}[i%2]
		code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: q, Datasets: []string{"docs"}, Mode: mode})
		e, _ := got["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != http.StatusConflict || e["kind"] != "conflict" || !want(msg) || !strings.Contains(msg, `mode "keyword"`) {
			t.Fatalf("%s search %q after the re-pull: %d %v", mode, q, code, got)
		}
		t.Logf("%s search: %d %s", mode, code, msg)
	}
	if res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword, K: 5}); err != nil || len(res.Results) != 5 {
		t.Fatalf("keyword search: %+v %v", res, err)
	}
	s, err := st.mx.Status(ctx, "docs")
	if err != nil || s.State != matrix.StateReady || s.VectorError == nil || s.VectorError.Kind != "conflict" || !want(s.VectorError.Message) ||
		s.ModelRevision != ollamatest.Digest(m1) {
		t.Fatalf("status after the re-pull: %+v %v", s, err)
	}

	// An append refresh is refused whole.
	st.ingest(t, "docs", "append", "id,txt,n\nd100,zanzibar appended,100\n")
	failed := st.waitFailed(t, "docs")
	if !want(failed.Error) || failed.Version != before.Version || failed.VectorError == nil {
		t.Fatalf("failed refresh: %+v", failed)
	}
	t.Logf("failed refresh: %s", failed.Error)
	if res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword}); err != nil || len(res.Results) != 0 {
		t.Fatalf("the refused append reached the keyword index: %+v %v", res, err)
	}
	time.Sleep(time.Second) // 5 polls: not run again
	if again, _ := st.mx.Status(ctx, "docs"); !again.FinishedAt.Equal(failed.FinishedAt) || again.State != matrix.StateFailed {
		t.Fatalf("the refused refresh ran again: %+v then %+v", failed, again)
	}

	// A restart keeps it.
	st.restartMatrixd(t)
	if s, err := st.mx.Status(ctx, "docs"); err != nil || s.VectorError == nil || !want(s.VectorError.Message) {
		t.Fatalf("status after a restart: %+v %v", s, err)
	}
	code, got = st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: cached, Datasets: []string{"docs"}})
	if code != http.StatusConflict {
		t.Fatalf("hybrid search after a restart: %d %v", code, got)
	}

	// The way out: POST rebuilds in full with the new weights, from an
	// empty vector index: while it runs, vector search ranks only rows
	// embedded with the new weights (before, every old row's vector stayed
	// in the index and was ranked against new query vectors until the
	// rebuild reached it). The rebuild is held at its third batch of 5.
	const held = "zqad warehouse row" // d3: ids in order d0 d1 d10..d19 d2 d3
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ol.SetAnswer(func(model string, in []string) (int, []byte) {
		if slices.Contains(in, held) {
			once.Do(func() { close(entered) })
			<-release
		}
		return 0, nil
	})
	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the rebuild did not reach its third batch")
	}
	vc := vector.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
	info, err := vc.GetIndex(ctx, matrix.VectorIndex("docs"))
	close(release)
	if err != nil || info.Count != 10 {
		t.Fatalf("vector index during the rebuild: %+v %v; want the 10 rows embedded with the new weights so far", info, err)
	}
	after := st.waitReady(t, "docs", failed.TargetVersion)
	ol.SetAnswer(nil)
	if after.ModelRevision != ollamatest.Digest(m2) || after.Refresh != "full" || after.VectorError != nil || after.Docs != 21 {
		t.Fatalf("after the rebuild: %+v", after)
	}
	for q, id := range map[string]string{cached: "d1", "zanzibar appended": "d100"} {
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: q, Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1})
		if err != nil || len(res.Results) != 1 || res.Results[0].ID != id {
			t.Fatalf("vector search %q after the rebuild: %+v %v", q, res, err)
		}
	}
}

// TestDefaultModelChangedSameDims (ADR-115): [embedd].default_model is
// changed to another model of the same dims and embedd restarted. Before,
// the append refresh embedded the new rows with the other model into the
// old model's index (same dims, so nothing failed: their vectors ranked
// at random). Now the append is refused whole with a 409 naming both
// models and POST /v1/matrix/indexes; searches still ask the index's
// model by name and work; a POST rebuilds with the new default.
func TestDefaultModelChangedSameDims(t *testing.T) {
	small := ollamatest.Model{Name: "small-embed", Dims: 8}
	other := ollamatest.Model{Name: "other-embed", Dims: 8}
	st, _ := ollamaStack(t, 0, nil, small, other)
	cfg := st.cfg
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	if before.Model != "small-embed" || before.ModelRevision != ollamatest.Digest(small) {
		t.Fatalf("built: %+v", before)
	}

	cfg.Embedd.DefaultModel = "other-embed"
	st.restartEmbedd(t, embeddWithTTL(revisionTTL))
	st.ingest(t, "docs", "append", "id,txt,n\nd100,zanzibar appended,100\n")
	failed := st.waitFailed(t, "docs")
	if failed.VectorError == nil || failed.VectorError.Kind != "conflict" || failed.Version != before.Version {
		t.Fatalf("failed refresh: %+v", failed)
	}
	for _, msg := range []string{failed.Error, failed.VectorError.Message} {
		if !strings.Contains(msg, `"docs"`) || !strings.Contains(msg, `"small-embed" (revision `+short(ollamatest.Digest(small))) ||
			!strings.Contains(msg, `"other-embed" (revision `+short(ollamatest.Digest(other))) || !strings.Contains(msg, "POST "+matrix.IndexesPath) {
			t.Fatalf("failed refresh: %+v", failed)
		}
	}
	t.Logf("status: %s", failed.VectorError.Message)
	if res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword}); err != nil || len(res.Results) != 0 {
		t.Fatalf("the refused append reached the keyword index: %+v %v", res, err)
	}
	// The index's model is still asked by name: vector search works.
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zqab warehouse row", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "d1" {
		t.Fatalf("vector search with the index's model: %+v %v", res, err)
	}

	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after := st.waitReady(t, "docs", failed.TargetVersion)
	if after.Model != "other-embed" || after.ModelRevision != ollamatest.Digest(other) || after.Refresh != "full" || after.VectorError != nil || after.Docs != 21 {
		t.Fatalf("after the rebuild: %+v", after)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar appended", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "d100" {
		t.Fatalf("vector search after the rebuild: %+v %v", res, err)
	}
}

// TestStateWithoutRevisionAdopts (ADR-115): an index built before matrixd
// recorded the model's revision (a state.json without "model_revision")
// loads, searches and refreshes as before, adopts the revision of its
// model's first answer (a search's or an append's; recorded in
// state.json), and from then on a re-pull of the model with new weights
// of the same dims is a 409. Without the adoption such an index was never
// checked.
func TestStateWithoutRevisionAdopts(t *testing.T) {
	const model = "nomic-embed-text-v2-moe"
	m1 := ollamatest.Model{Name: model, Dims: 8}
	st, ol := ollamaStack(t, revisionTTL, nil, m1)
	ctx := context.Background()
	for _, ds := range []string{"docs", "more"} {
		st.indexDataset(t, ds, compactRows(0, 20, ""))
	}

	// The states as an older matrixd wrote them: no model_revision.
	if err := st.servers["matrixd"].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	statePath := func(ds string) string {
		return filepath.Join(st.cfg.DataPath(st.cfg.Matrixd.Dir, "matrixd"), ds, "state.json")
	}
	for _, ds := range []string{"docs", "more"} {
		var state map[string]any
		b, err := os.ReadFile(statePath(ds))
		if err != nil || json.Unmarshal(b, &state) != nil {
			t.Fatalf("state.json: %v %s", err, b)
		}
		status := state["status"].(map[string]any)
		if status["model_revision"] != ollamatest.Digest(m1) {
			t.Fatalf("state.json status without the revision: %v", status)
		}
		delete(status, "model_revision")
		b, _ = json.MarshalIndent(state, "", "  ")
		if err := os.WriteFile(statePath(ds), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st.restartMatrixd(t)
	for _, ds := range []string{"docs", "more"} {
		if s, err := st.mx.Status(ctx, ds); err != nil || s.State != matrix.StateReady || s.ModelRevision != "" || s.VectorError != nil {
			t.Fatalf("old state loaded as %+v %v", s, err)
		}
	}

	// An append refresh of the same model works and adopts the revision.
	st.ingest(t, "more", "append", "id,txt,n\nd100,zanzibar appended,100\n")
	if s := st.waitReady(t, "more", 2); s.ModelRevision != ollamatest.Digest(m1) || s.Refresh != "append" {
		t.Fatalf("append over the old state: %+v", s)
	}
	path := statePath("docs")

	// The first search works and adopts the revision.
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zqab warehouse row", Datasets: []string{"docs"}, K: 1})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "d1" {
		t.Fatalf("search over the old state: %+v %v", res, err)
	}
	if s, _ := st.mx.Status(ctx, "docs"); s.ModelRevision != ollamatest.Digest(m1) {
		t.Fatalf("revision not adopted: %+v", s)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), ollamatest.Digest(m1)) {
		t.Fatalf("adopted revision not in state.json: %s", b)
	}

	ol.AddModel(ollamatest.Model{Name: model, Dims: 8, Revision: "v2"})
	time.Sleep(revisionTTL + 100*time.Millisecond)
	for i, ds := range []string{"docs", "more"} {
		code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: fmt.Sprintf("warehouse row %d", i), Datasets: []string{ds}})
		if code != http.StatusConflict {
			t.Fatalf("search of %s after the re-pull: %d %v", ds, code, got)
		}
	}
}
