package matrix_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/testutil/metricstest"
)

// postSearch posts body to the search route through the gateway and
// returns the status.
func (st *stack) postSearch(t *testing.T, body string) int {
	t.Helper()
	resp, err := http.Post(st.gateway+matrix.SearchPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type sample struct {
	name   string
	labels []string
	want   float64
}

func checkSamples(t *testing.T, m metricstest.Families, before metricstest.Families, samples []sample) {
	t.Helper()
	for _, s := range samples {
		got, ok := m.Value(s.name, s.labels...)
		if !ok {
			t.Errorf("%s%v: not served", s.name, s.labels)
			continue
		}
		if d := got - before.Get(s.name, s.labels...); d != s.want {
			t.Errorf("%s%v: delta %v, want %v", s.name, s.labels, d, s.want)
		}
	}
}

// TestMatrixdMetrics: the real stack, an ingest, a build, an append
// refresh and searches of each mode (ok and refused) move matrixd's
// lakehouse_matrixd_* metrics by exactly what was done; labels are only
// mode, outcome, state; what is served passes promlint.
func TestMatrixdMetrics(t *testing.T) {
	st := startStack(t, stackConfig(t))
	mx := st.servers["matrixd"].URL()
	ctx := context.Background()
	before := metricstest.Scrape(t, mx)

	st.indexDocs(t, "id,txt\n1,the quick brown fox\n2,a lazy dog sleeps\n3,quick thinking saves the day\n")
	m := metricstest.Scrape(t, mx)
	checkSamples(t, m, before, []sample{
		{"lakehouse_matrixd_index_jobs_total", []string{"outcome", "ok"}, 1},
		{"lakehouse_matrixd_rows_indexed_total", nil, 3},
	})
	for _, s := range []string{"pending", "building", "failed"} {
		if v, ok := m.Value("lakehouse_matrixd_indexes", "state", s); !ok || v != 0 {
			t.Errorf("indexes{state=%s} = %v (served %v), want 0", s, v, ok)
		}
	}
	if v := m.Get("lakehouse_matrixd_indexes", "state", "ready"); v != 1 {
		t.Errorf("indexes{state=ready} = %v, want 1", v)
	}

	// An append refresh: the poll indexes the two new rows only.
	st.ingest(t, "docs", "append", "id,txt\n4,a brown bear fishes\n5,the fox returns\n")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if metricstest.Scrape(t, mx).Get("lakehouse_matrixd_index_jobs_total", "outcome", "ok") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the append refresh never ended ok")
		}
	}

	for _, mode := range []string{matrix.ModeHybrid, matrix.ModeVector, matrix.ModeKeyword} {
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "quick fox", Datasets: []string{"docs"}, Mode: mode, K: 3})
		if err != nil || len(res.Results) == 0 {
			t.Fatalf("%s search: %v, %d results", mode, err, len(res.Results))
		}
	}
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "fox"}); err != nil { // mode absent: hybrid
		t.Fatal(err)
	}
	// Refused: a where naming no column (400), an unknown dataset (404).
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "fox", Datasets: []string{"docs"}, Mode: matrix.ModeKeyword, Where: "nosuch = 1"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("where on a missing column: %v", err)
	}
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "fox", Datasets: []string{"nosuch"}, Mode: matrix.ModeVector}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown dataset: %v", err)
	}
	// Refused before Search: a mode of no set, a body that is no JSON, k 0.
	for _, body := range []string{`{"query":"fox","mode":"fuzzy"}`, `{"query":`, `{"query":"fox","k":0}`} {
		if code := st.postSearch(t, body); code != http.StatusBadRequest {
			t.Fatalf("%s: %d, want 400", body, code)
		}
	}
	// embedd down: a vector search cannot embed its query; keyword still works.
	if err := st.servers["embedd"].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	delete(st.servers, "embedd")
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "fox", Datasets: []string{"docs"}, Mode: matrix.ModeVector}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("vector search with embedd down: %v", err)
	}
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "fox", Mode: matrix.ModeKeyword}); err != nil {
		t.Fatalf("keyword search with embedd down: %v", err)
	}

	m = metricstest.Scrape(t, mx)
	checkSamples(t, m, before, []sample{
		{"lakehouse_matrixd_index_jobs_total", []string{"outcome", "ok"}, 2},
		{"lakehouse_matrixd_rows_indexed_total", nil, 5},
		{"lakehouse_matrixd_searches_total", []string{"mode", "hybrid", "outcome", "ok"}, 2},
		{"lakehouse_matrixd_searches_total", []string{"mode", "vector", "outcome", "ok"}, 1},
		{"lakehouse_matrixd_searches_total", []string{"mode", "keyword", "outcome", "ok"}, 2},
		{"lakehouse_matrixd_searches_total", []string{"mode", "keyword", "outcome", "invalid"}, 1},
		{"lakehouse_matrixd_searches_total", []string{"mode", "vector", "outcome", "invalid"}, 1},
		{"lakehouse_matrixd_searches_total", []string{"mode", "vector", "outcome", "unavailable"}, 1},
		{"lakehouse_matrixd_searches_total", []string{"mode", "unknown", "outcome", "invalid"}, 2},
		{"lakehouse_matrixd_searches_total", []string{"mode", "hybrid", "outcome", "invalid"}, 1}, // k 0
		// Timed: every search that reached Search with a mode of the set.
		{"lakehouse_matrixd_search_duration_seconds", []string{"mode", "hybrid"}, 2},
		{"lakehouse_matrixd_search_duration_seconds", []string{"mode", "vector"}, 3},
		{"lakehouse_matrixd_search_duration_seconds", []string{"mode", "keyword"}, 3},
	})
	if got, want := m.Sum("lakehouse_matrixd_searches_total"), 11.0; got != want {
		t.Errorf("searches in all: %v, want %v", got, want)
	}
	if fam := m["lakehouse_matrixd_searches_total"]; fam != nil {
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() != "mode" && l.GetName() != "outcome" {
					t.Errorf("label %s=%s on searches_total", l.GetName(), l.GetValue())
				}
			}
		}
	}
	if v := m.Get("lakehouse_matrixd_indexes", "state", "ready"); v != 1 {
		t.Errorf("indexes{state=ready} = %v, want 1", v)
	}
	m.Lint(t, "lakehouse_matrixd_")
}

// TestMatrixdMetricsUpstreamWait: an index job that meets vectord still
// loading its indexes (503 with Retry-After) waits and is counted in
// lakehouse_matrixd_upstream_waits_total{service="vectord"}; the job is
// counted once, ok, when it ends.
func TestMatrixdMetricsUpstreamWait(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	st.ingest(t, "docs", "replace", "id,txt\n1,the quick brown fox\n2,a lazy dog sleeps\n")
	gate, open := storagedGate(t, cfg.URL("storaged"))
	restartVectordBehind(t, st, gate.URL)
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	if _, err := st.mx.Index(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	opened := time.AfterFunc(3*time.Second, func() { open.Store(true) })
	defer opened.Stop()
	waitThroughLoad(t, st, time.Now(), nil)
	m := metricstest.Scrape(t, st.servers["matrixd"].URL())
	if v := m.Get("lakehouse_matrixd_upstream_waits_total", "service", "vectord"); v < 1 {
		t.Errorf("upstream_waits_total{service=vectord} = %v after the job waited for vectord, want >= 1", v)
	}
	if v := m.Sum("lakehouse_matrixd_index_jobs_total"); v != 1 {
		t.Errorf("index jobs in all: %v, want 1 (the waits are not runs of their own)", v)
	}
	if v := m.Get("lakehouse_matrixd_index_jobs_total", "outcome", "ok"); v != 1 {
		t.Errorf("index_jobs_total{ok} = %v, want 1", v)
	}
	if v := m.Get("lakehouse_matrixd_rows_indexed_total"); v != 2 {
		t.Errorf("rows_indexed_total = %v, want 2", v)
	}
	m.Lint(t, "lakehouse_matrixd_")
}
