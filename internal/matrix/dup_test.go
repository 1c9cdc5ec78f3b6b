package matrix_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix"
)

// dupsCSV holds id 3 three times, apart in the file, so that a full build
// (read by id, 3 rows a page, 2 a batch) sees its copies in one page of
// their own; 6 twice across a page boundary; 7 twice, the last copy
// without text.
const dupsCSV = `id,name,role
1,Alice,Forklift Operator
3,Carla,Accountant
2,Bob,Baker
3,Carla1,Plumber
4,Dan,Chef
5,Eve,Nurse
3,Carla3,Astronaut
6,Fay,Tailor
6,Fay2,Welder
7,Gus,Gardener
7,,
`

// TestDuplicateIDs: duplicate ids collapse, last one wins (ADR-033),
// wherever the copies fall (one batch, pages, an append), and the row a
// search returns is always the row whose text was indexed.
func TestDuplicateIDs(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.BatchRows, cfg.Matrixd.PageRows = 2, 3
	st := startStack(t, cfg)
	ctx := context.Background()

	// search returns "id=name" of each hit, failing on an error.
	search := func(t *testing.T, ds, q, mode, where string) []string {
		t.Helper()
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: q, Datasets: []string{ds}, Mode: mode, Where: where, K: 3})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var out []string
		for _, r := range res.Results {
			name, _ := r.Row["name"].(string)
			out = append(out, r.ID+"="+name)
		}
		return out
	}
	want := func(t *testing.T, ds, q, mode, where string, w ...string) {
		t.Helper()
		got := search(t, ds, q, mode, where)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s %q where %q: got %v, want %v", mode, q, where, got, w)
		}
	}

	t.Run("auditor repro: append", func(t *testing.T) {
		st.ingest(t, "probe", "replace", "id,name,role\n1,Alice,Forklift Operator\n3,Carla,Accountant\n")
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "probe", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
			t.Fatal(err)
		}
		st.waitReady(t, "probe", 1)
		st.ingest(t, "probe", "append", "id,name,role\n3,Carla2,Submarine Captain\n")
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "probe", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
			t.Fatal(err)
		}
		if s := st.waitReady(t, "probe", 2); s.Refresh != "append" || s.Docs != 2 {
			t.Errorf("status: %+v", s)
		}
		want(t, "probe", "submarine captain", "keyword", "", "3=Carla2")
		want(t, "probe", "accountant", "keyword", "")
		want(t, "probe", "submarine captain", "hybrid", "", "3=Carla2", "1=Alice")
	})

	t.Run("full build", func(t *testing.T) {
		st.ingest(t, "dups", "replace", dupsCSV)
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "dups", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
			t.Fatal(err)
		}
		s := st.waitReady(t, "dups", 1)
		if s.Docs != 6 || s.Skipped != 1 || s.RowsDone != 11 || s.RowsTotal != 11 {
			t.Errorf("status: %+v", s)
		}
		want(t, "dups", "astronaut", "keyword", "", "3=Carla3")
		want(t, "dups", "accountant", "keyword", "")
		want(t, "dups", "plumber", "keyword", "")
		want(t, "dups", "welder", "keyword", "", "6=Fay2")
		want(t, "dups", "tailor", "keyword", "")
		want(t, "dups", "gardener", "keyword", "")
		if got := search(t, "dups", "astronaut", "vector", ""); len(got) == 0 || got[0] != "3=Carla3" {
			t.Errorf("vector astronaut: %v", got)
		}
		// where is judged on the row the index holds, not an older copy.
		want(t, "dups", "astronaut", "keyword", "name = 'Carla'")
		want(t, "dups", "astronaut", "keyword", "name = 'Carla3'", "3=Carla3")
	})

	t.Run("then an append", func(t *testing.T) {
		st.ingest(t, "dups", "append", "id,name,role\n3,Carla4,Submarine Captain\n8,Hal,Pilot\n8,Hal2,Diver\n6,,\n")
		s := st.waitReady(t, "dups", 2)
		if s.Refresh != "append" || s.Docs != 6 || s.Skipped != 1 || s.RowsDone != 4 {
			t.Errorf("status: %+v", s)
		}
		want(t, "dups", "submarine captain", "keyword", "", "3=Carla4")
		want(t, "dups", "astronaut", "keyword", "")
		want(t, "dups", "pilot", "keyword", "")
		want(t, "dups", "diver", "keyword", "", "8=Hal2")
		want(t, "dups", "welder", "keyword", "")
	})

	t.Run("rebuild", func(t *testing.T) {
		// The same rows read by id (a full rebuild) give the same index.
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "dups", IDColumn: "id", TextColumns: []string{"role", "name"}}); err != nil {
			t.Fatal(err)
		}
		if s := st.waitReady(t, "dups", 2); s.Refresh != "full" || s.Docs != 6 || s.Skipped != 2 || s.RowsDone != 15 {
			t.Errorf("status: %+v", s)
		}
		want(t, "dups", "submarine captain", "keyword", "", "3=Carla4")
		want(t, "dups", "astronaut", "keyword", "")
		want(t, "dups", "diver", "keyword", "", "8=Hal2")
		want(t, "dups", "welder", "keyword", "")
		if got := search(t, "dups", "welder", "vector", ""); len(got) > 0 && strings.HasPrefix(got[0], "6=") {
			t.Errorf("id 6 has no text now, its vector must be gone: %v", got)
		}
	})
}
