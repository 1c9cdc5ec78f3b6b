package matrix_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// TestFullRefreshDropsUnrecordedVectors (ADR-124): vectord holds ids no
// written-ids journal names — left by a build that a matrixd older than
// ADR-121 started and was cut short, made here by upserting them straight
// into matrix.docs through vectord. Before, a full refresh deleted only
// the ids of the old keyword index that the new one lacks, so these stayed
// for good (vectord held 25 vectors for 20 rows, and vector search
// answered ids whose rows do not exist) until the operator DELETEd and
// POSTed the index. Now the full refresh finds more vectors than any job
// recorded, starts from an empty vector index, and leaves exactly the new
// version's rows; a refresh over an index without such ids keeps its
// vectors (no needless drop).
func TestFullRefreshDropsUnrecordedVectors(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	vc := vector.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
	spec, before := st.indexDocs(t, compactRows(0, 20, ""))
	name := matrix.VectorIndex("docs")

	// A replace whose rows keep most ids: an index without unknown ids is
	// rebuilt in place (the ids of the old version stay in vectord until
	// their rows are re-embedded), not dropped.
	st.ingest(t, "docs", "replace", compactRows(0, 18, ""))
	mid := st.waitReady(t, "docs", before.Version+1)
	if info, err := vc.GetIndex(ctx, name); err != nil || info.Count != 18 || info.Deleted != 2 {
		t.Fatalf("in-place rebuild: %+v %v (want 18 live, the 2 gone rows deleted)", info, err)
	}

	// "Before": five vectors of rows that were never in a saved index, in
	// no journal.
	stale := make([]vector.Item, 5)
	for i := range stale {
		v := make([]float32, mid.Dims)
		v[i%mid.Dims] = 1
		stale[i] = vector.Item{ID: fmt.Sprintf("old%d", i), Vector: v, Metadata: vector.Metadata{"id": fmt.Sprintf("old%d", i)}}
	}
	if _, err := vc.Upsert(ctx, name, stale); err != nil {
		t.Fatal(err)
	}
	if info, err := vc.GetIndex(ctx, name); err != nil || info.Count != 23 {
		t.Fatalf("stale vectors not stored: %+v %v", info, err)
	}

	st.ingest(t, "docs", "replace", compactRows(100, 20, ""))
	after := st.waitReady(t, "docs", mid.Version+1)
	if after.Refresh != "full" || after.Docs != 20 {
		t.Fatalf("refresh: %+v", after)
	}
	info, err := vc.GetIndex(ctx, name)
	if err != nil || info.Count != 20 {
		t.Fatalf("after the full refresh vectord holds %d vectors for 20 rows (%v)", info.Count, err)
	}
	for _, id := range []string{"old0", "old4", "d0"} {
		if _, err := vc.GetItem(ctx, name, id); !errs.Is(err, errs.NotFound) {
			t.Fatalf("%s still in vectord: %v", id, err)
		}
	}
	if _, err := vc.GetItem(ctx, name, "d119"); err != nil {
		t.Fatalf("a row of the new version: %v", err)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse row", Datasets: []string{spec.Dataset}, Mode: matrix.ModeVector, K: 20})
	if err != nil || len(res.Results) != 20 {
		t.Fatalf("vector search k=20: %d results, %v", len(res.Results), err)
	}
}
