package matrix_test

import (
	"context"
	"slices"
	"testing"

	"lakehouse-go/internal/matrix"
)

// TestWhereNonBooleanPredicate: a where whose value is not BOOLEAN (a bare
// INTEGER column, arithmetic) filters as SQL's WHERE does — DuckDB casts it
// to BOOLEAN, 0 is false, NULL is no match. Hydrate judged such a predicate
// through COALESCE((pred), false), which is an INTEGER there, never `true`:
// the prefilter matched the rows and the search still answered no result.
func TestWhereNonBooleanPredicate(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	st.ingest(t, "pay", "replace", "id,txt,amount\n1,hello alpha,5\n2,hello beta,0\n3,hello gamma,\n4,hello delta,-2\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "pay", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "pay", 1)
	for _, c := range []struct {
		where string
		want  []string
	}{
		{"amount", []string{"1", "4"}},
		{"amount + 2", []string{"1", "2"}},
		{"NOT amount", []string{"2"}},
		{"amount > 0", []string{"1"}},
	} {
		for _, mode := range []string{"hybrid", "keyword", "vector"} {
			res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "hello", Datasets: []string{"pay"}, Mode: mode, Where: c.where})
			if err != nil {
				t.Fatalf("%s %q: %v", mode, c.where, err)
			}
			got := ids(res.Results)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s where %q: %v, want %v", mode, c.where, got, c.want)
			}
		}
	}
}
