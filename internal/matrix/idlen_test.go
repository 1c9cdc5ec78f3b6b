package matrix_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix"
)

// TestLongIDsSkipped: a row whose id is longer than vectord holds (1024
// bytes) is skipped and counted, like a row with no text; the other rows
// are indexed (it used to fail the whole index with vectord's "item 0 id
// is longer than 1024 bytes").
func TestLongIDsSkipped(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	long := strings.Repeat("x", 1025)
	st.ingest(t, "longids", "replace", "id,txt\nshort1,alpha wolf\n"+long+",beta wolf\n"+strings.Repeat("y", 1024)+",gamma wolf\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "longids", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	if s := st.waitReady(t, "longids", 1); s.Docs != 2 || s.Skipped != 1 || s.RowsDone != 3 {
		t.Errorf("status: %+v", s)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "wolf", Datasets: []string{"longids"}})
	if err != nil || len(res.Results) != 2 {
		t.Fatalf("search: %v %v", err, ids(res.Results))
	}

	st.ingest(t, "longids", "append", "id,txt\n"+long+"z,delta wolf\nshort2,epsilon wolf\n")
	if s := st.waitReady(t, "longids", 2); s.Refresh != "append" || s.Docs != 3 || s.Skipped != 1 {
		t.Errorf("append: %+v", s)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "epsilon", Datasets: []string{"longids"}, Mode: "keyword"})
	if err != nil || len(res.Results) != 1 || res.Results[0].ID != "short2" {
		t.Errorf("after append: %v %v", err, ids(res.Results))
	}
}
