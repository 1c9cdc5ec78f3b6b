package matrix_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
)

// TestSearchAfterDatasetDeleted (ADR-147): the dataset of one index is
// deleted from the catalog (its index kept). A search of every index
// leaves that index out and answers from the others, as for an index
// deleted during the search (ADR-106); a search naming the dataset is a
// 404 saying the dataset was deleted and what to do; both before
// matrixd's refresh has seen the delete and after it failed on it.
// Before: every search, of every index too, was queryd's 404 `no dataset
// or table named "gone"`: one deleted dataset made search of all indexes
// fail.
func TestSearchAfterDatasetDeleted(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.PollInterval.Duration = time.Hour // the refresh only when a search starts it
	st := startStack(t, cfg)
	ctx := context.Background()
	st.indexDataset(t, "gone", "id,txt\n1,red forklift pallet\n2,blue office chair\n")
	st.indexDataset(t, "kept", "id,txt\n10,yellow forklift battery\n11,green desk lamp\n")
	cat := catalog.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
	if _, err := cat.Delete(ctx, "gone", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		t.Helper()
		for _, req := range []matrix.SearchRequest{
			{Query: "forklift", K: 5},
			{Query: "forklift", K: 5, Mode: matrix.ModeKeyword},
			{Query: "forklift", K: 5, Mode: matrix.ModeVector},
			{Query: "forklift", K: 5, Where: "id > 0"},
		} {
			code, got := st.rawJSON(t, http.MethodPost, matrix.SearchPath, req)
			if code != http.StatusOK {
				t.Errorf("%s: search of every index %s: %d %v; want 200 from dataset kept", when, mustJSON(req), code, got)
				continue
			}
			res, _ := got["results"].([]any)
			if len(res) == 0 {
				t.Errorf("%s: search of every index %s: no results: %v", when, mustJSON(req), got)
			}
			for _, r := range res {
				if d := r.(map[string]any)["dataset"]; d != "kept" {
					t.Errorf("%s: search of every index %s: a result of %v", when, mustJSON(req), d)
				}
			}
			req.Datasets = []string{"gone"}
			code, got = st.rawJSON(t, http.MethodPost, matrix.SearchPath, req)
			msg := mustJSON(got)
			if code != http.StatusNotFound || !strings.Contains(msg, `dataset \"gone\" was deleted`) || !strings.Contains(msg, "DELETE "+matrix.IndexesPath+"/gone") {
				t.Errorf("%s: search of dataset gone %s: %d %s; want 404 saying it was deleted", when, mustJSON(req), code, msg)
			}
		}
	}
	check("before the refresh saw the delete")
	st.waitFailed(t, "gone")
	check("after the refresh failed on it")
}
