package matrix_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/matrix"
)

// TestWhereNeverStarvesK: a where matching more rows than the prefilter
// takes (10,000) whose rows all rank below the first 10,000 candidates
// still yields k rows (ADR-032 "never starving k"): 30,000 rows, half in
// grp B, "zebra" only in grp A.
func TestWhereNeverStarvesK(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes 30,000 rows")
	}
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("id,grp,txt\n")
	for i := range 30_000 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "%d,A,zebra\n", i)
		} else {
			fmt.Fprintf(&b, "%d,B,banana\n", i)
		}
	}
	st.ingest(t, "zoo", "replace", b.String())
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "zoo", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "zoo", 1)
	for _, tc := range []struct {
		mode, where string
		want        int
	}{
		{"vector", "grp = 'B'", 5},
		{"hybrid", "grp = 'B'", 5},
		{"keyword", "grp = 'B'", 0}, // no B row holds the word
		{"vector", "grp = 'B' AND id < 20", 5},
		{"vector", "grp = 'C'", 0},
	} {
		start := time.Now()
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "zebra", Datasets: []string{"zoo"}, Mode: tc.mode, Where: tc.where, K: 5})
		if err != nil {
			t.Fatalf("%s where %s: %v", tc.mode, tc.where, err)
		}
		t.Logf("%s where %s: %d results in %v", tc.mode, tc.where, len(res.Results), time.Since(start))
		if len(res.Results) != tc.want {
			t.Errorf("%s where %s: %d results, want %d: %v", tc.mode, tc.where, len(res.Results), tc.want, ids(res.Results))
		}
		for _, r := range res.Results {
			if r.Row["grp"] != "B" {
				t.Errorf("%s where %s: row outside the predicate: %v", tc.mode, tc.where, r.Row)
			}
		}
	}
}
