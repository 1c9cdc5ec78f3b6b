package matrix_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/metricstest"
)

// TestMatrixdMetricsAtStart: a fresh matrixd's /metrics, scraped before
// any request or job, lists every bounded series of lakehouse_matrixd_* at
// 0 — searches by mode and outcome (unknown: every outcome but ok), the
// latency of each mode, jobs by outcome, waits by service — so rate() and
// absent() in alert rules see them from the start. Before, a labelled
// series appeared only with its first use, and a family with none (jobs,
// waits, searches, latency) not at all. Linted with promlint.
func TestMatrixdMetricsAtStart(t *testing.T) {
	cfg := inproc.Config(t)
	inproc.Bind(t, cfg, "matrixd")
	s, err := shared.Start(context.Background(), "matrixd", cfg, matrix.New, logs())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	m := metricstest.Scrape(t, s.URL())

	var searches []string
	for _, mode := range []string{"hybrid", "vector", "keyword", "unknown"} {
		for _, o := range []string{"ok", "invalid", "unavailable", "error"} {
			if mode != "unknown" || o != "ok" {
				searches = append(searches, "mode="+mode+",outcome="+o)
			}
		}
	}
	counter, gauge, histogram := dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM
	for _, f := range []struct {
		name string
		typ  dto.MetricType
		want []string
	}{
		{"lakehouse_matrixd_searches_total", counter, searches},
		{"lakehouse_matrixd_search_duration_seconds", histogram, []string{"mode=hybrid", "mode=keyword", "mode=vector"}},
		{"lakehouse_matrixd_index_jobs_total", counter, []string{"outcome=ok", "outcome=failed", "outcome=superseded", "outcome=stopped"}},
		{"lakehouse_matrixd_rows_indexed_total", counter, []string{""}},
		{"lakehouse_matrixd_indexes", gauge, []string{"state=pending", "state=building", "state=ready", "state=failed"}},
		{"lakehouse_matrixd_upstream_waits_total", counter, []string{"service=catalogd", "service=queryd", "service=embedd", "service=vectord", "service=other"}},
	} {
		fam := m[f.name]
		if fam == nil || fam.GetType() != f.typ {
			t.Errorf("%s: missing on a fresh matrixd's /metrics, or not a %v", f.name, f.typ)
			continue
		}
		got := map[string]bool{}
		for _, s := range fam.GetMetric() {
			var ls []string
			for _, l := range s.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := strings.Join(ls, ",")
			got[key] = true
			var v float64
			switch {
			case s.Counter != nil:
				v = s.Counter.GetValue()
			case s.Gauge != nil:
				v = s.Gauge.GetValue()
			case s.Histogram != nil:
				v = float64(s.Histogram.GetSampleCount()) + s.Histogram.GetSampleSum()
				for _, b := range s.Histogram.GetBucket() {
					v += float64(b.GetCumulativeCount())
				}
			}
			if v != 0 {
				t.Errorf("%s{%s} = %v before any request, want 0", f.name, key, v)
			}
		}
		for _, w := range f.want {
			if !got[w] {
				t.Errorf("%s{%s}: missing", f.name, w)
			}
			delete(got, w)
		}
		for k := range got {
			t.Errorf("%s{%s}: a series not wanted", f.name, k)
		}
	}
	m.Lint(t, "lakehouse_matrixd_")
}
