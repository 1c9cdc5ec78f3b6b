package matrix_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
)

// queryCounter sits between the daemons and queryd and counts the
// statements sent to POST /v1/sql.
type queryCounter struct{ n atomic.Int64 }

// proxyQueryd points cfg's queryd URL at a counting proxy in front of
// queryd's bind address.
func proxyQueryd(t *testing.T, cfg *shared.Config) *queryCounter {
	t.Helper()
	target, err := url.Parse("http://" + cfg.Section("queryd").Bind)
	if err != nil {
		t.Fatal(err)
	}
	c := &queryCounter{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == query.Route {
			c.n.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Section("queryd").URL = srv.URL
	return c
}

// rowStoreCSV: duplicate ids (3 three times, 6 across a page boundary, 7
// with a last copy without text), a row whose id is NULL, and numbers of
// several kinds; the build reads pages of 2 rows, the row store pages of
// 10 (id 7's copies on either side of a boundary).
const rowStoreCSV = `id,name,role,pay,note
1,Alice,Forklift Operator,1.5,x
3,Carla,Accountant,2,
2,Bob,Baker,3.25,"quote "" and <html> & ü"
3,Carla1,Plumber,4,y
4,Dan,Chef,12345678901234,z
5,Eve,Nurse,-0.5,
3,Carla3,Astronaut,6,w
6,Fay,Tailor,7,v
6,Fay2,Welder,8,u
7,Gus,Gardener,9,t
7,,,10,s
,Nobody,Forklift Operator,11,r
`

// TestSearchHydratesFromRowStore: once an index's rows are kept (ADR-133),
// a search without a where sends queryd nothing — before, every search
// scanned the dataset's Parquet files for its candidates' rows — and
// answers exactly as hydration through queryd does; a where still goes
// through queryd; a version committed after the rows were read is never
// answered from them (a deleted row is not shown, a replaced row shows its
// new values).
func TestSearchHydratesFromRowStore(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.BatchRows, cfg.Matrixd.PageRows = 2, 2
	qc := proxyQueryd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "rs", "replace", rowStoreCSV)
	spec := matrix.IndexRequest{Dataset: "rs", IDColumn: "id", TextColumns: []string{"name", "role"}}
	if _, err := st.mx.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "rs", 1)

	// search answers req as JSON and counts the statements matrixd sent
	// queryd for it.
	search := func(req matrix.SearchRequest) (string, int64) {
		t.Helper()
		req.Datasets = []string{"rs"}
		before := qc.n.Load()
		res, err := st.mx.Search(ctx, req)
		if err != nil {
			t.Fatalf("search %+v: %v", req, err)
		}
		return mustJSON(res), qc.n.Load() - before
	}
	reqs := []matrix.SearchRequest{
		{Query: "astronaut", Mode: "keyword", K: 3},
		{Query: "welder", Mode: "keyword", K: 3},
		{Query: "accountant", Mode: "keyword", K: 3},
		{Query: "forklift operator", Mode: "hybrid", K: 5},
		{Query: "nurse", Mode: "vector", K: 3},
		{Query: "chef baker", Mode: "hybrid", K: 10},
		{Query: "quote html", Mode: "hybrid", K: 2},
	}
	// The first search starts reading the rows; wait until searches need
	// no statement.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, n := search(reqs[0]); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("every search still sends queryd statements 30 s after the index was ready: its rows are not kept")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, req := range reqs {
		matrix.SetRowStore(t, false)
		want, n := search(req)
		if n == 0 && strings.Contains(want, `"id"`) {
			t.Fatalf("%+v: hydration through queryd sent no statement", req)
		}
		matrix.SetRowStore(t, true)
		got, n := search(req)
		if n != 0 {
			t.Errorf("%+v: %d statements to queryd with the rows kept; want 0", req, n)
		}
		if got != want {
			t.Errorf("%+v: from the kept rows\n%s\nthrough queryd\n%s", req, got, want)
		}
	}
	if got, _ := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3}); !strings.Contains(got, `"name":"Carla3"`) || strings.Contains(got, `"Carla1"`) {
		t.Errorf("astronaut: %s; want the last copy of id 3 (Carla3)", got)
	}
	// A where is judged through queryd, on the row the index holds.
	if got, n := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3, Where: "name = 'Carla'"}); n == 0 || strings.Contains(got, `"id"`) {
		t.Errorf("where on an older copy: %s (%d statements); want no result, through queryd", got, n)
	}
	if got, n := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3, Where: "pay = 6"}); n == 0 || !strings.Contains(got, `"Carla3"`) {
		t.Errorf("where pay = 6: %s (%d statements); want Carla3, through queryd", got, n)
	}

	// Appends: the kept rows are extended with the new ids' rows, or read
	// again when a new copy of a kept id comes; answers stay those of
	// hydration through queryd.
	waitKept := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, n := search(reqs[0]); n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: searches still send queryd statements after 30 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	same := func(what string, reqs ...matrix.SearchRequest) {
		t.Helper()
		for _, req := range reqs {
			matrix.SetRowStore(t, false)
			want, _ := search(req)
			matrix.SetRowStore(t, true)
			got, n := search(req)
			if n != 0 || got != want {
				t.Errorf("%s %+v: from the kept rows (%d statements)\n%s\nthrough queryd\n%s", what, req, n, got, want)
			}
		}
	}
	st.ingest(t, "rs", "append", "id,name,role,pay,note\n9,Ivy,Beekeeper,13,q\n10,Jon,Beekeeper Assistant,14,p\n")
	st.waitReady(t, "rs", 2)
	waitKept("after an append of new ids")
	same("after an append of new ids", append(reqs, matrix.SearchRequest{Query: "beekeeper", Mode: "hybrid", K: 4})...)
	if got, _ := search(matrix.SearchRequest{Query: "beekeeper", Mode: "keyword", K: 4}); !strings.Contains(got, `"Ivy"`) || !strings.Contains(got, `"Jon"`) {
		t.Errorf("beekeeper after the append: %s", got)
	}
	st.ingest(t, "rs", "append", "id,name,role,pay,note\n3,Carla5,Deep Sea Astronaut,15,o\n11,Kim,Locksmith,16,n\n")
	st.waitReady(t, "rs", 3)
	waitKept("after an append of a new copy")
	same("after an append of a new copy", append(reqs, matrix.SearchRequest{Query: "locksmith", Mode: "hybrid", K: 4})...)
	if got, _ := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3}); !strings.Contains(got, `"Carla5"`) {
		t.Errorf("astronaut after a new copy of id 3: %s; want Carla5", got)
	}

	// A new version: Eve's row deleted, Carla's replaced. Searched at
	// once (before any refresh), the kept rows of version 1 are not used.
	st.ingest(t, "rs", "replace", "id,name,role,pay,note\n1,Alice,Forklift Operator,1.5,x\n3,Carla9,Astronaut,60,w2\n4,Dan,Chef,5,z\n")
	got, n := search(matrix.SearchRequest{Query: "nurse", Mode: "keyword", K: 3})
	if strings.Contains(got, "Eve") {
		t.Errorf("nurse after Eve's row was deleted: %s", got)
	}
	got, n2 := search(matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3})
	if !strings.Contains(got, `"Carla9"`) || strings.Contains(got, `"Carla3"`) {
		t.Errorf("astronaut after id 3 was replaced: %s; want Carla9's row", got)
	}
	if n+n2 == 0 {
		t.Error("searches of a newer version than the kept rows sent queryd nothing")
	}
}

// TestRowStoreExtendedByAppend: after an append of new ids the row store
// reads only the appended rows (before, every append read the whole
// dataset again: 54-71 s of queryd at 1M rows); after an append with a new
// copy of a kept id it is read whole. Either way every id's row is the one
// hydration through queryd gives.
func TestRowStoreExtendedByAppend(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	hc := shared.NewHTTPClient(time.Minute)
	cat := catalog.NewClient(&shared.Client{Service: "catalogd", Base: st.servers["catalogd"].URL(), HTTP: hc})
	qd := query.NewClient(&shared.Client{Service: "queryd", Base: st.servers["queryd"].URL(), HTTP: hc})
	var b strings.Builder
	b.WriteString("id,txt,n\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "%d,row %d,%d\n", i, i, i)
	}
	b.WriteString("5,row 5 again,500\n,no id,0\n")
	st.ingest(t, "ap", "replace", b.String())
	rowsOf := func() int64 {
		d, err := cat.Get(ctx, "ap", 0)
		if err != nil {
			t.Fatal(err)
		}
		return d.RowCount
	}
	h := matrix.NewHydrator(cat, qd, matrix.IndexRequest{Dataset: "ap", IDColumn: "id", TextColumns: []string{"txt"}}, "BIGINT", 1)
	if _, _, err := h.LoadStore(ctx); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 45)
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	check := func(what string) {
		t.Helper()
		want, err := h.Scan(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.FromStore(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if mustJSON(got) != mustJSON(want) {
			t.Errorf("%s: from the row store\n%s\nthrough queryd\n%s", what, mustJSON(got), mustJSON(want))
		}
	}
	check("version 1")

	before := rowsOf()
	st.ingest(t, "ap", "append", "id,txt,n\n31,row 31,31\n32,row 32,32\n33,row 33,33\n")
	ext, err := h.Advance(2, before)
	if err != nil {
		t.Fatal(err)
	}
	if !ext {
		t.Error("an append of new ids read the row store whole; want it extended with the appended rows")
	}
	check("version 2 (append of new ids)")

	before = rowsOf()
	st.ingest(t, "ap", "append", "id,txt,n\n7,row 7 new copy,700\n34,row 34,34\n")
	if ext, err = h.Advance(3, before); err != nil {
		t.Fatal(err)
	}
	if ext {
		t.Error("an append with a new copy of a kept id extended the row store; want it read whole")
	}
	check("version 3 (a new copy of id 7)")
	if got, _ := h.FromStore(ctx, []string{"7"}); !strings.Contains(mustJSON(got), "new copy") {
		t.Errorf("id 7: %s; want its new copy", mustJSON(got))
	}
}

// [matrixd].row_store_bytes reaches matrixd: a negative value keeps no
// rows, so every search hydrates through queryd (ADR-133).
func TestRowStoreBytesKey(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.BatchRows, cfg.Matrixd.PageRows = 2, 2
	cfg.Matrixd.RowStoreBytes = -1
	qc := proxyQueryd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "rsk", "replace", rowStoreCSV)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "rsk", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "rsk", 1)
	// With the rows kept, the searches after the first stop sending
	// statements within moments (TestSearchHydratesFromRowStore).
	for i := range 10 {
		before := qc.n.Load()
		if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "welder", Mode: "keyword", K: 3, Datasets: []string{"rsk"}}); err != nil {
			t.Fatal(err)
		}
		if qc.n.Load() == before {
			t.Fatalf("search %d sent queryd nothing with row_store_bytes = -1: the rows were kept", i)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
