package matrix_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

const people = `id,name,role,dept,salary
1,Alice,Forklift Operator,warehouse,41000
2,Bob,Accountant,finance,52000
3,Carol,Truck Driver,logistics,45000
4,Dan,Software Engineer,it,90000
5,Eve,Payroll Clerk,finance,38000
6,Frank,Chef,kitchen,36000
7,Grace,Nurse,health,50000
8,Heidi,Warehouse Manager,warehouse,60000
`

// runbookCSV is the runbook's row plus decoys: other jobs, one of them in
// the same warehouse world.
const runbookCSV = `id,name,role
1,Alice,Forklift Operator
2,Bob,Accountant
3,Carol,Software Engineer
4,Dan,Chef
5,Eve,Registered Nurse
6,Frank,Warehouse Manager
`

// TestRunbookFlow is the runbook through the gateway on the embedded
// defaults (builtin embedder): ingest, index, search "forklift driver".
func TestRunbookFlow(t *testing.T) {
	st := startStack(t, stackConfig(t))
	st.ingest(t, "staff", "replace", runbookCSV)

	resp, err := http.Post(st.gateway+matrix.IndexesPath, "application/json",
		strings.NewReader(`{"dataset":"staff","id_column":"id","text_columns":["name","role"]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("index: %d %s", resp.StatusCode, body)
	}
	s := st.waitReady(t, "staff", 1)
	if s.RowsDone != 6 || s.RowsTotal != 6 || s.Docs != 6 || s.Model != "builtin-glove-100d" || s.Dims != 100 || s.Refresh != "full" {
		t.Errorf("status: %+v", s)
	}

	resp, err = http.Post(st.gateway+matrix.SearchPath, "application/json",
		strings.NewReader(`{"query":"forklift driver","datasets":["staff"],"k":3}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		Results []struct {
			Dataset string
			ID      string
			Score   float64
			Row     map[string]any
			Ranks   map[string]*int
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("search: %d %s", resp.StatusCode, body)
	}
	if len(out.Results) != 3 {
		t.Fatalf("want 3 results: %s", body)
	}
	top := out.Results[0]
	if top.Dataset != "staff" || top.ID != "1" || top.Row["name"] != "Alice" || top.Row["role"] != "Forklift Operator" {
		t.Fatalf("Alice should be first: %s", body)
	}
	if top.Ranks["vector"] == nil || top.Ranks["keyword"] == nil || *top.Ranks["keyword"] != 1 {
		t.Errorf("ranks of Alice: %s", body)
	}
	if _, ok := out.Results[0].Ranks["vector"]; !ok || !strings.Contains(string(body), `"ranks":{"vector":`) {
		t.Errorf("ranks must carry both keys: %s", body)
	}
}

func TestSearch(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	st.ingest(t, "staff", "replace", people)
	st.ingest(t, "jobs", "replace", "code,title\nJ1,Forklift certification course\nJ2,Baking bread\nJ3,Night shift driver wanted\n")
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "staff", IDColumn: "ID", TextColumns: []string{"role"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "jobs", IDColumn: "code", TextColumns: []string{"title"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "staff", 1)
	st.waitReady(t, "jobs", 1)

	t.Run("modes", func(t *testing.T) {
		kw, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "warehouse", Datasets: []string{"staff"}, Mode: "keyword"})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(kw.Results); !slices.Equal(got, []string{"8"}) {
			t.Errorf("keyword warehouse (role column only): %v", got)
		}
		if r := kw.Results[0]; r.Ranks.Vector != nil || r.Ranks.Keyword == nil || *r.Ranks.Keyword != 1 {
			t.Errorf("keyword ranks: %+v", r.Ranks)
		}
		vec, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "lorry chauffeur", Datasets: []string{"staff"}, Mode: "vector", K: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(vec.Results) != 2 || vec.Results[0].ID != "3" || vec.Results[0].Ranks.Keyword != nil || vec.Results[0].Score <= vec.Results[1].Score {
			t.Errorf("vector 'lorry chauffeur' should find the truck driver by meaning: %s", mustJSON(vec))
		}
		hy, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift driver", Datasets: []string{"staff"}})
		if err != nil {
			t.Fatal(err)
		}
		// Alice (Forklift Operator) and Carol (Truck Driver) each match one
		// query word exactly: both lists rank them 1 and 2 the other way
		// round, an exact RRF tie; both lead, the others follow.
		if got := ids(hy.Results); len(got) != 8 || !slices.Contains(got[:2], "1") || !slices.Contains(got[:2], "3") {
			t.Errorf("hybrid: %v", got)
		}
		for _, r := range hy.Results {
			want := 0.0
			if r.Ranks.Vector != nil {
				want += 1 / float64(60+*r.Ranks.Vector)
			}
			if r.Ranks.Keyword != nil {
				want += 1 / float64(60+*r.Ranks.Keyword)
			}
			if d := r.Score - want; d > 1e-12 || d < -1e-12 {
				t.Errorf("%s: score %v, RRF of ranks %v", r.ID, r.Score, want)
			}
		}
	})

	t.Run("several datasets", func(t *testing.T) {
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift", Datasets: []string{"staff", "jobs"}, Mode: "keyword"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range res.Results {
			got[r.Dataset+"/"+r.ID] = true
		}
		if !got["staff/1"] || !got["jobs/J1"] || len(res.Results) != 2 {
			t.Errorf("forklift over both: %s", mustJSON(res))
		}
		all, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "driver", Mode: "keyword"})
		if err != nil || len(all.Results) != 2 {
			t.Errorf("no datasets = all indexed: %v %s", err, mustJSON(all))
		}
	})

	t.Run("where", func(t *testing.T) {
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift driver", Datasets: []string{"staff"}, Where: "dept = 'finance'"})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res.Results); len(got) != 2 || !slices.Contains(got, "2") || !slices.Contains(got, "5") {
			t.Errorf("where dept = finance: %v", got)
		}
		res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "work", Datasets: []string{"staff"}, Where: "salary >= 50000 AND lower(name) LIKE '%a%'", K: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Results {
			if n, _ := r.Row["salary"].(float64); n < 50000 {
				t.Errorf("row outside the predicate: %+v", r.Row)
			}
		}
		if got := ids(res.Results); len(got) != 2 || !slices.Contains(got, "4") || !slices.Contains(got, "7") { // Dan, Grace
			t.Errorf("salary >= 50000 with an a: %v", got)
		}
		res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "x", Datasets: []string{"staff"}, Where: "dept = 'nowhere'"})
		if err != nil || len(res.Results) != 0 {
			t.Errorf("no row matches: %v %v", err, res)
		}
	})

	t.Run("hostile where", func(t *testing.T) {
		for _, w := range []string{
			"1=1; SELECT * FROM jobs",
			"id IN (SELECT code FROM jobs)",
			"dept = 'x' -- ",
			"1=1) UNION ALL SELECT * FROM jobs WHERE (1=1",
			"read_parquet('/etc/passwd') IS NULL",
			"code = 'J1'", // a column of another dataset
			"salary / 0 > 'abc'",
		} {
			_, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "driver", Datasets: []string{"staff"}, Where: w})
			if errs.KindOf(err) != errs.Invalid || errs.StatusOf(err) != 400 {
				t.Errorf("%q: %v", w, err)
			}
			// The message speaks of the caller's predicate, not of the SQL
			// matrixd generated around it.
			if msg := errs.Message(err); strings.Contains(msg, "SELECT") || strings.Contains(msg, "CAST(") || strings.Contains(msg, "LINE ") {
				t.Errorf("%q: the message shows generated SQL: %s", w, msg)
			}
			if w == "salary / 0 > 'abc'" && !strings.Contains(errs.Message(err), "where on dataset staff: Conversion Error: Could not convert string 'abc'") {
				t.Errorf("%q: DuckDB's reason is lost: %s", w, errs.Message(err))
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			req  matrix.SearchRequest
			kind errs.Kind
		}{
			{matrix.SearchRequest{Query: " "}, errs.Invalid},
			{matrix.SearchRequest{Query: "x", K: 5000}, errs.Invalid},
			{matrix.SearchRequest{Query: "x", Mode: "fuzzy"}, errs.Invalid},
			{matrix.SearchRequest{Query: "x", Datasets: []string{"nope"}}, errs.NotFound},
			{matrix.SearchRequest{Query: "x", Datasets: []string{"Bad-Name"}}, errs.Invalid},
		} {
			if _, err := st.mx.Search(ctx, tc.req); errs.KindOf(err) != tc.kind {
				t.Errorf("%+v: %v, want %s", tc.req, err, tc.kind)
			}
		}
		for _, tc := range []struct {
			req  matrix.IndexRequest
			kind errs.Kind
			msg  string
		}{
			{matrix.IndexRequest{Dataset: "nope", IDColumn: "id", TextColumns: []string{"x"}}, errs.NotFound, "nope"},
			{matrix.IndexRequest{Dataset: "staff", IDColumn: "id", TextColumns: []string{"bio"}}, errs.Invalid, "bio"},
			{matrix.IndexRequest{Dataset: "staff", IDColumn: "", TextColumns: nil}, errs.Invalid, "id_column"},
		} {
			_, err := st.mx.Index(ctx, tc.req)
			if errs.KindOf(err) != tc.kind || !strings.Contains(errs.Message(err), tc.msg) {
				t.Errorf("%+v: %v", tc.req, err)
			}
		}
		if _, err := st.mx.Status(ctx, "nope"); errs.KindOf(err) != errs.NotFound {
			t.Errorf("status of no index: %v", err)
		}
	})

	t.Run("duplicate ids in one batch", func(t *testing.T) {
		// Collapse, last one wins (ADR-033; more in TestDuplicateIDs).
		st.ingest(t, "dups", "replace", "code,title\nA,first\nB,second\nA,third\n")
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "dups", IDColumn: "code", TextColumns: []string{"title"}}); err != nil {
			t.Fatal(err)
		}
		if s := st.waitReady(t, "dups", 1); s.Docs != 2 || s.RowsDone != 3 {
			t.Errorf("status: %+v", s)
		}
		for q, want := range map[string]string{"third": "A", "first": ""} {
			res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: q, Datasets: []string{"dups"}, Mode: "keyword"})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(res.Results) > 0 {
				got = res.Results[0].ID
				if res.Results[0].Row["title"] != "third" {
					t.Errorf("%q: row %v, want the last copy", q, res.Results[0].Row)
				}
			}
			if got != want {
				t.Errorf("%q: %v, want %q", q, ids(res.Results), want)
			}
		}
	})

	t.Run("vector index deleted outside matrixd", func(t *testing.T) {
		vc := vector.NewClient(&shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)})
		if err := vc.DeleteIndex(ctx, matrix.VectorIndex("jobs")); err != nil {
			t.Fatal(err)
		}
		_, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "driver", Datasets: []string{"jobs"}})
		if errs.KindOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "deleted outside matrixd") {
			t.Fatalf("search after the vector index was deleted: %v", err)
		}
		// The search started a full rebuild: searches work again once it
		// has made the vector index anew.
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "driver", Datasets: []string{"jobs"}})
			if err == nil && len(res.Results) > 0 && res.Results[0].ID == "J3" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the rebuild: %v %v", res, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestRefreshAndRestart: an append indexes only the new rows, a replace
// rebuilds and drops rows that are gone, and a restarted matrixd serves
// the saved index without rebuilding.
func TestRefreshAndRestart(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	st.ingest(t, "staff", "replace", people)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "staff", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "staff", 1)

	st.ingest(t, "staff", "append", "id,name,role,dept,salary\n9,Ivan,Crane Operator,warehouse,47000\n10,Judy,Forklift Instructor,warehouse,48000\n")
	s := st.waitReady(t, "staff", 2) // by the catalog poll
	if s.Refresh != "append" || s.RowsTotal != 2 || s.RowsDone != 2 || s.Docs != 10 {
		t.Errorf("append refresh: %+v", s)
	}
	res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift", Datasets: []string{"staff"}, Mode: "keyword"})
	if err != nil || !slices.Equal(ids(res.Results), []string{"1", "10"}) {
		t.Errorf("after append: %v %v", err, ids(res.Results))
	}

	st.restartMatrixd(t)
	s, err = st.mx.Status(ctx, "staff")
	if err != nil || s.State != matrix.StateReady || s.Version != 2 || s.Docs != 10 {
		t.Fatalf("after restart: %v %+v", err, s)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "crane", Datasets: []string{"staff"}})
	if err != nil || len(res.Results) == 0 || res.Results[0].ID != "9" {
		t.Errorf("search after restart: %v %s", err, mustJSON(res))
	}

	st.ingest(t, "staff", "replace", "id,name,role,dept,salary\n1,Alice,Crane Operator,warehouse,41000\n20,Zed,Forklift Operator,warehouse,30000\n")
	s = st.waitReady(t, "staff", 3)
	if s.Refresh != "full" || s.Docs != 2 {
		t.Errorf("replace refresh: %+v", s)
	}
	res, err = st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift", Datasets: []string{"staff"}, Mode: "hybrid", K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Results); !slices.Equal(got, []string{"20", "1"}) {
		t.Errorf("after replace only ids 20 and 1 exist, forklift first: %v", got)
	}
	vres, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "accountant", Datasets: []string{"staff"}, Mode: "vector", K: 10})
	if err != nil || len(vres.Results) != 2 {
		t.Errorf("stale vectors must be gone: %v %v", err, ids(vres.Results))
	}

	if err := st.mx.Drop(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "x", Datasets: []string{"staff"}}); errs.KindOf(err) != errs.NotFound {
		t.Errorf("after drop: %v", err)
	}
}
