package matrix_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix"
)

// TestSearchAfterSchemaChange: a dataset replaced by one without the
// indexed columns. A search (with or without where) used to be a 400
// "invalid" blaming a where the caller never sent ("where on dataset shift:
// Binder Error: Referenced column "id" not found"); the request is fine and
// the index is stale, so it is a 409 conflict saying what changed.
func TestSearchAfterSchemaChange(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	st.ingest(t, "shift", "replace", "id,txt\n1,hello alpha\n2,hello beta\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "shift", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "shift", 1)
	st.ingest(t, "shift", "replace", "other\nhello gamma\n")
	for _, where := range []string{"", "txt = 'hello alpha'"} {
		for _, mode := range []string{"hybrid", "keyword", "vector"} {
			_, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "hello", Datasets: []string{"shift"}, Mode: mode, Where: where})
			msg := errs.Message(err)
			if errs.KindOf(err) != errs.Conflict || !strings.Contains(msg, "changed since it was indexed") || !strings.Contains(msg, "id_column id") || strings.Contains(msg, "where on") {
				t.Errorf("%s where %q: %v (kind %v), want a conflict naming the missing columns", mode, where, err, errs.KindOf(err))
			}
		}
	}
	// A where that is wrong on the current dataset is still the caller's 400.
	st.ingest(t, "shift", "replace", "id,txt\n1,hello alpha\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "shift", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "shift", 3)
	_, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "hello", Datasets: []string{"shift"}, Where: "txt > 5"})
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(errs.Message(err), "where on dataset shift") {
		t.Errorf("bad where: %v", err)
	}
}
