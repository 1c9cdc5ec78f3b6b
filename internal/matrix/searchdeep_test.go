package matrix_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
)

// TestSearchDeeperPastGoneRows (chaos test, ADR-121): a search without a
// where stopped after hydration dropped candidates whose rows are gone
// (vectors of a cut-short job, rows deleted since the index was built):
// k=10 answered 0-5 results while more rows existed. It searches deeper
// now, as a where does (DESIGN.md: "A filter never starves k").
func TestSearchDeeperPastGoneRows(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &cutEmbed{Service: embed.NewClient(gw), entered: make(chan struct{})}
	ctx := context.Background()

	// Depth 20: the first lists hold 20 of 300 candidates.
	m := openCut(t, t.TempDir(), gw, emb, 20)
	st.ingest(t, "deep", "replace", compactRows(0, 300, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "deep", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "deep", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady && s.Version == 1 })

	// 15 of the 300 rows are left; the refresh is held before it embeds,
	// so the index still holds (and vectord still has) all 300.
	emb.pass.Store(0)
	emb.hold.Store(true)
	var keep string
	for i := 0; i < 300; i += 20 {
		keep += compactRows(i, 1, "")[len("id,txt,n\n"):]
	}
	st.ingest(t, "deep", "replace", "id,txt,n\n"+keep)
	select {
	case <-emb.entered:
	case <-time.After(time.Minute):
		t.Fatal("the refresh never embedded")
	}
	for _, mode := range []string{matrix.ModeVector, matrix.ModeHybrid, matrix.ModeKeyword} {
		res, err := m.Search(ctx, matrix.SearchRequest{Query: "warehouse row", Datasets: []string{"deep"}, Mode: mode, K: 10})
		if err != nil || len(res.Results) != 10 {
			t.Errorf("%s search k=10 over 15 rows: %d results (%v) %v", mode, len(res.Results), ids(res.Results), err)
		}
		seen := map[string]bool{}
		for _, r := range res.Results {
			var n int
			if _, err := fmt.Sscanf(r.ID, "d%d", &n); err != nil || n%20 != 0 || seen[r.ID] {
				t.Errorf("%s: result %q is not one of the rows left, or twice", mode, r.ID)
			}
			seen[r.ID] = true
		}
	}
}
