package matrix_test

import (
	"context"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// TestVectorIndexDeletedBeforeAppend (ADR-106): vectord's index of a
// dataset deleted by hand (DELETE /v1/vectors/indexes/matrix.<dataset>,
// which ADR-103 names as a way out) and then an append refresh, before any
// vector search saw the 404: the append created the vectord index anew
// and put only the appended rows in it, said ready, and from then on
// vector search found only those rows (hybrid ranked the rest by keyword
// alone), with nothing to say so. An append over a missing or emptied
// vector index is a full rebuild now.
func TestVectorIndexDeletedBeforeAppend(t *testing.T) {
	st := startStack(t, stackConfig(t)) // the poll refreshes every 200 ms
	ctx := context.Background()
	st.ingest(t, "docs", "replace", compactRows(0, 20, ""))
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "docs", 1)
	vc := vector.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
	if err := vc.DeleteIndex(ctx, matrix.VectorIndex("docs")); err != nil {
		t.Fatal(err)
	}
	st.ingest(t, "docs", "append", compactRows(20, 5, ""))
	s := st.waitReady(t, "docs", 2)
	info, err := vc.GetIndex(ctx, matrix.VectorIndex("docs"))
	if err != nil || info.Count != 25 || s.Docs != 25 {
		t.Fatalf("after the append: status %+v, vectord %+v %v; want 25 rows in both", s, info, err)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: compactWord(3) + " warehouse row", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 10})
	if err != nil || len(res.Results) != 10 {
		t.Fatalf("vector search: %+v %v", res, err)
	}
}
