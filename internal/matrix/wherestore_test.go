package matrix_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix"
)

// whereStoreCSV: ids with one copy and ids with several (3, 6, 7: a where
// can hold on a copy the index does not show), NULLs in every column kind,
// a NULL id, an INTEGER column with 0, negatives and NULLs (non-boolean
// predicates).
const whereStoreCSV = `id,name,role,pay,n,note
1,Alice,Forklift Operator,1.5,5,x
3,Carla,Accountant,2,1,
2,Bob,Baker,,0,"quote "" and <html> & ü"
3,Carla1,Plumber,4,,y
4,Dan,Chef,0,-2,z
5,Eve,Nurse,-0.5,,
3,Carla3,Astronaut,6,3,w
6,Fay,Tailor,7,0,v
6,Fay2,Welder,,8,u
7,Gus,Gardener,9,1,t
7,,,10,,s
,Nobody,Forklift Operator,11,4,r
8,Hal,Forklift Driver,,7,
9,Ida,Operator,-2,-1,q
`

// TestWhereFromRowStore: a search with a where, once the rows are kept,
// sends queryd the prefilter alone — before, the prefilter and then a
// hydration scan of the dataset — when its hits have one copy each, and
// answers exactly as hydration through queryd does for every where (NULLs,
// non-boolean predicates, an older copy of a duplicated id, none
// matching, deep and wide predicates).
func TestWhereFromRowStore(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.BatchRows, cfg.Matrixd.PageRows = 2, 2
	qc := proxyQueryd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "ws", "replace", whereStoreCSV)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "ws", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "ws", 1)
	st.waitKept(t, "ws", 1)

	search := func(req matrix.SearchRequest) (matrix.SearchResponse, int64) {
		t.Helper()
		req.Datasets = []string{"ws"}
		before := qc.n.Load()
		res, err := st.mx.Search(ctx, req)
		if err != nil {
			t.Fatalf("search %+v: %v", req, err)
		}
		return res, qc.n.Load() - before
	}
	dup := map[string]bool{"3": true, "6": true, "7": true}
	// Wheres no copy of ids 3, 6 and 7 matches: the prefilter is all that
	// goes to queryd. (The others hydrate those ids through queryd.)
	oneCopy := map[string]bool{
		"id IN (1, 4, 9)":               true,
		"pay < 1":                       true,
		"n < 0":                         true,
		"lower(role) LIKE '%operator%'": true,
		"role ILIKE 'forklift%' AND NOT name ILIKE 'a%'": true,
	}
	wheres := []string{
		"pay > 0",
		"pay IS NULL",
		"note IS NULL",
		"note IS NOT NULL AND pay < 5",
		"n",
		"n + 2",
		"NOT n",
		"coalesce(n, 0) = 0",
		"name = 'Carla'",
		"pay = 6",
		"name = 'Fay2' OR name = 'Fay'",
		"lower(role) LIKE '%operator%'",
		"role ILIKE 'forklift%' AND NOT name ILIKE 'a%'",
		"id IN (1, 4, 9)",
		"pay < 1",
		"n < 0",
		"n IN (" + strings.Repeat("-9, ", 300) + "0)",
		strings.Repeat("NOT ", 60) + "n + 1 > 0",
		"name = 'nobody'",
	}
	queries := []matrix.SearchRequest{
		{Query: "forklift operator", Mode: "hybrid", K: 5},
		{Query: "astronaut plumber accountant", Mode: "keyword", K: 3},
		{Query: "welder tailor", Mode: "vector", K: 2},
		{Query: "nurse chef baker gardener", Mode: "hybrid", K: 10},
	}
	fewer := 0
	for _, w := range wheres {
		for _, q := range queries {
			q.Where = w
			matrix.SetRowStore(t, false)
			want, nq := search(q)
			matrix.SetRowStore(t, true)
			got, ns := search(q)
			if mustJSON(got) != mustJSON(want) {
				t.Errorf("%s where %q: from the kept rows\n%s\nthrough queryd\n%s", q.Mode, w, mustJSON(got), mustJSON(want))
			}
			if ns > nq {
				t.Errorf("%s where %q: %d statements from the kept rows, %d through queryd", q.Mode, w, ns, nq)
			}
			if oneCopy[w] && ns != 1 {
				t.Errorf("%s where %q (%v): %d statements to queryd; want 1, the prefilter (every matching id has one copy, kept)", q.Mode, w, ids(got.Results), ns)
			}
			for _, r := range got.Results {
				if oneCopy[w] && dup[r.ID] {
					t.Fatalf("setup: where %q matches id %s, which has several copies", w, r.ID)
				}
			}
			if ns < nq {
				fewer++
			}
		}
	}
	if fewer == 0 {
		t.Error("no where search sent fewer statements from the kept rows")
	}
	// The where is judged on the copy the index shows: Carla3 (pay 6),
	// not Carla (an older copy of id 3), whichever path.
	if res, _ := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3, Where: "name = 'Carla'"}); len(res.Results) != 0 {
		t.Errorf("where on an older copy: %s; want no result", mustJSON(res))
	}
	if res, _ := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3, Where: "pay = 6"}); !strings.Contains(mustJSON(res), `"Carla3"`) {
		t.Errorf("where pay = 6: %s; want Carla3", mustJSON(res))
	}

	// A version committed after the rows were read: the where's hits are
	// never shown from them (id 1's new row, pay 99, is).
	st.ingest(t, "ws", "replace", "id,name,role,pay,n,note\n1,Alice,Forklift Operator,99,5,x\n4,Dan,Chef,0,-2,z\n")
	res, _ := search(matrix.SearchRequest{Query: "forklift", Mode: "keyword", K: 3, Where: "pay > 50"})
	if got := mustJSON(res); !strings.Contains(got, `"pay":99`) {
		t.Errorf("where pay > 50 after a replace: %s; want Alice's new row (pay 99)", got)
	}
}
