package matrix_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/embed/ollama/ollamatest"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
)

// TestModelDimsChanged (ADR-112): the Ollama model behind embedd is
// replaced under the same name by one answering 4 dims instead of 8.
// Vector and hybrid searches passed on vectord's 400 about dims (blaming
// the caller); now they are a 409 conflict naming the dataset, both dims,
// the model and POST /v1/matrix/indexes, keyword search works, the status
// shows it (vector_error), an append refresh is refused whole (the old
// index stays served, the appended row in neither index) and not run
// again every poll, a restart keeps it, and a POST rebuilds with the new
// model. Real embedd (provider ollama) over a fake Ollama speaking its
// wire protocol; everything else the real stack.
func TestModelDimsChanged(t *testing.T) {
	const model = "nomic-embed-text-v2-moe"
	// embedd's cache trusts a model's digest for ollama.DefaultDigestTTL:
	// off, so the re-pull shows at once rather than after that wait.
	st, ol := ollamaStack(t, 0, func(c *shared.Config) { c.Embedd.CacheEntries = 0 }, ollamatest.Model{Name: model, Dims: 8})
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	if before.Dims != 8 {
		t.Fatalf("built with dims %d, want 8: %+v", before.Dims, before)
	}
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: matrix.ModeVector}); err != nil {
		t.Fatalf("vector search before the change: %v", err)
	}

	// The model is pulled again under its name with other weights and dims.
	ol.AddModel(ollamatest.Model{Name: model, Dims: 4, Revision: "v2"})

	want := func(msg string) bool {
		return strings.Contains(msg, `"docs"`) && strings.Contains(msg, "8-dim") && strings.Contains(msg, "4-dim") &&
			strings.Contains(msg, model) && strings.Contains(msg, "POST "+matrix.IndexesPath) && !strings.Contains(msg, "  ")
	}
	for i, mode := range []string{matrix.ModeVector, matrix.ModeHybrid} {
		q := fmt.Sprintf("warehouse row %d", i) // a text embedd has not cached
		code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, matrix.SearchRequest{Query: q, Datasets: []string{"docs"}, Mode: mode})
		e, _ := got["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != http.StatusConflict || e["kind"] != "conflict" || !want(msg) || !strings.Contains(msg, `mode "keyword"`) {
			t.Fatalf("%s search after the model changed dims: %d %v", mode, code, got)
		}
		t.Logf("%s search: %d %s", mode, code, msg)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword, K: 5})
	if err != nil || len(res.Results) != 5 {
		t.Fatalf("keyword search: %+v %v", res, err)
	}
	s, err := st.mx.Status(ctx, "docs")
	if err != nil || s.State != matrix.StateReady || s.VectorError == nil || s.VectorError.Kind != "conflict" ||
		s.VectorError.Index != matrix.VectorIndex("docs") || !want(s.VectorError.Message) {
		t.Fatalf("status after the model changed dims: %+v %v", s, err)
	}

	// An append refresh is refused: nothing of it in either index.
	st.ingest(t, "docs", "append", "id,txt,n\nd100,zanzibar appended,100\n")
	var failed matrix.IndexStatus
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if failed, err = st.mx.Status(ctx, "docs"); err != nil {
			t.Fatal(err)
		}
		if failed.State == matrix.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("append refresh after the model changed dims: %+v", failed)
		}
	}
	if !want(failed.Error) || failed.Version != before.Version || failed.Dims != 8 || failed.VectorError == nil {
		t.Fatalf("failed refresh: %+v", failed)
	}
	t.Logf("failed refresh: %s", failed.Error)
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword})
	if err != nil || len(res.Results) != 0 {
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

	// The way out: POST rebuilds in full with the new model.
	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after := st.waitReady(t, "docs", failed.TargetVersion)
	// Labelled with the new weights' digest although embedd trusted the
	// old one for its digest TTL: the build asked embedd's listing first
	// (ADR-124).
	if after.Dims != 4 || after.Refresh != "full" || after.VectorError != nil || after.Docs != 21 ||
		after.ModelRevision != ollamatest.Digest(ollamatest.Model{Name: model, Dims: 4, Revision: "v2"}) {
		t.Fatalf("after the rebuild: %+v", after)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar appended", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "d100" {
		t.Fatalf("vector search after the rebuild: %+v %v", res, err)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar", Datasets: []string{"docs"}})
	if err != nil || len(res.Results) == 0 || res.Results[0].ID != "d100" || res.Results[0].Ranks.Vector == nil || res.Results[0].Ranks.Keyword == nil {
		t.Fatalf("hybrid search after the rebuild: %+v %v", res, err)
	}
}

// TestDefaultModelChanged (ADR-112): [embedd].default_model is changed to
// a model of other dims and embedd restarted. Searches still ask the
// index's model by name and work; the append refresh (which embeds with
// the default) is refused whole, the status shows it, and a POST rebuilds
// with the new default model.
func TestDefaultModelChanged(t *testing.T) {
	st, _ := ollamaStack(t, 0, nil, ollamatest.Model{Name: "small-embed", Dims: 8}, ollamatest.Model{Name: "wide-embed", Dims: 16})
	cfg := st.cfg
	ctx := context.Background()
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	if before.Dims != 8 || before.Model != "small-embed" {
		t.Fatalf("built: %+v", before)
	}

	if err := st.servers["embedd"].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Embedd.DefaultModel = "wide-embed"
	s, err := shared.Start(ctx, "embedd", cfg, embedd.New, logs())
	if err != nil {
		t.Fatalf("restart embedd: %v", err)
	}
	st.servers["embedd"] = s

	st.ingest(t, "docs", "append", "id,txt,n\nd100,zanzibar appended,100\n")
	var failed matrix.IndexStatus
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if failed, err = st.mx.Status(ctx, "docs"); err != nil {
			t.Fatal(err)
		}
		if failed.State == matrix.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("append refresh after default_model changed: %+v", failed)
		}
	}
	if failed.VectorError == nil {
		t.Fatalf("status without vector_error: %+v", failed)
	}
	for _, msg := range []string{failed.Error, failed.VectorError.Message} {
		if !strings.Contains(msg, `"docs"`) || !strings.Contains(msg, `8-dim vectors of model "small-embed"`) ||
			!strings.Contains(msg, `"wide-embed" now answers 16-dim`) || !strings.Contains(msg, "POST "+matrix.IndexesPath) {
			t.Fatalf("failed refresh: %+v", failed)
		}
	}
	if failed.Version != before.Version || failed.VectorError.Kind != "conflict" {
		t.Fatalf("failed refresh: %+v", failed)
	}
	t.Logf("status: %s", failed.VectorError.Message)
	// The index's model is still asked by name: vector search works.
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zqab warehouse row", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "d1" {
		t.Fatalf("vector search with the index's model: %+v %v", res, err)
	}

	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after := st.waitReady(t, "docs", failed.TargetVersion)
	if after.Dims != 16 || after.Model != "wide-embed" || after.Refresh != "full" || after.VectorError != nil || after.Docs != 21 {
		t.Fatalf("after the rebuild: %+v", after)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "zanzibar appended", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 1})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "d100" {
		t.Fatalf("vector search after the rebuild: %+v %v", res, err)
	}
}
