package catalog

import (
	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
)

// catalogMetrics are catalogd's domain metrics on /metrics (ADR-160):
// commits by mode and outcome (bounded sets), the datasets the last whole
// list showed, and the manifest cache's hits and misses (mcache.go, read
// at each scrape). No dataset name is a label.
type catalogMetrics struct {
	commits    *prometheus.CounterVec // mode, outcome
	datasets   prometheus.Gauge
	unreadable prometheus.Gauge
}

func newCatalogMetrics(reg prometheus.Registerer, c *Catalog) (*catalogMetrics, error) {
	m := &catalogMetrics{
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_catalogd_commits_total",
			Help: "Commits by mode (append, replace, compact, other; unknown: a body refused before its mode was read) and outcome: ok, conflict (lost a race or a stale base_version), refused (invalid request, bad files), error."},
			[]string{"mode", "outcome"}),
		datasets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lakehouse_catalogd_datasets",
			Help: "Datasets the last whole list (GET /v1/catalog/datasets without paging) showed; 0 until the first."}),
		unreadable: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lakehouse_catalogd_unreadable_datasets",
			Help: "Datasets the last whole list left out as unreadable."}),
	}
	if reg == nil {
		return m, nil
	}
	cache := func(f func(*manifestCache) int64) func() float64 {
		return func() float64 {
			if c.disk == nil {
				return 0
			}
			return float64(f(c.disk))
		}
	}
	for _, col := range []prometheus.Collector{m.commits, m.datasets, m.unreadable,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_catalogd_manifest_cache_hits_total",
			Help: "Manifests read from catalogd's manifest cache on disk (same key and etag) instead of storaged (ADR-158)."},
			cache(func(d *manifestCache) int64 { return d.hits.Load() })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_catalogd_manifest_cache_misses_total",
			Help: "Manifest cache look-ups that found no usable entry (none, another etag, damaged): the manifest was read from storaged."},
			cache(func(d *manifestCache) int64 { return d.misses.Load() })),
	} {
		if err := reg.Register(col); err != nil {
			return nil, errs.E("catalogd", errs.Internal, err)
		}
	}
	return m, nil
}

// commit records one commit's outcome.
func (m *catalogMetrics) commit(mode string, err error) {
	if m == nil {
		return
	}
	switch mode {
	case "":
		mode = ModeAppend
	case ModeAppend, ModeReplace, ModeCompact, "unknown":
	default:
		mode = "other"
	}
	out := "ok"
	if err != nil {
		switch errs.KindOf(err) {
		case errs.Conflict:
			out = "conflict"
		case errs.Invalid, errs.NotFound, errs.TooLarge:
			out = "refused"
		default:
			out = "error"
		}
	}
	m.commits.WithLabelValues(mode, out).Inc()
}

// listed records a whole list.
func (m *catalogMetrics) listed(res ListResponse) {
	if m == nil {
		return
	}
	m.datasets.Set(float64(len(res.Datasets)))
	m.unreadable.Set(float64(len(res.Unreadable)))
}
