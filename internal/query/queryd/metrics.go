package queryd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query/pcache"
)

// metrics are queryd's domain metrics on /metrics (ADR-160): queries by
// outcome (a bounded set), their duration and rows, and the Parquet
// cache's hits, misses, evictions and bytes (read from the cache at each
// scrape).
type metrics struct {
	queries  *prometheus.CounterVec   // outcome
	duration *prometheus.HistogramVec // outcome
	rows     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, cache func() *pcache.Cache) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_queryd_queries_total",
			Help: "SQL queries by outcome: ok, invalid (a 4xx: bad SQL, unknown table, bad request body), canceled (the client left), timeout, unavailable (queue full, shutting down), error."},
			[]string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lakehouse_queryd_query_duration_seconds",
			Help:    "Time of a query from its admission request to its last row, by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"outcome"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_queryd_rows_returned_total",
			Help: "Rows answered by queries that succeeded."}),
	}
	if reg == nil {
		return m, nil
	}
	stat := func(f func(pcache.Stats) int64) func() float64 {
		return func() float64 {
			if c := cache(); c != nil {
				return float64(f(c.Stats()))
			}
			return 0
		}
	}
	for _, c := range []prometheus.Collector{m.queries, m.duration, m.rows,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_queryd_parquet_cache_hits_total",
			Help: "Data files a query found in queryd's Parquet cache (S3 or remote storaged; the local backend's files are read in place)."},
			stat(func(s pcache.Stats) int64 { return s.Hits })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_queryd_parquet_cache_misses_total",
			Help: "Data files downloaded into the Parquet cache for a query."},
			stat(func(s pcache.Stats) int64 { return s.Misses })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_queryd_parquet_cache_evictions_total",
			Help: "Files evicted from the Parquet cache to stay under [queryd].cache_max_bytes."},
			stat(func(s pcache.Stats) int64 { return s.Evictions })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_queryd_parquet_cache_bytes",
			Help: "Bytes held in the Parquet cache."},
			stat(func(s pcache.Stats) int64 { return s.Bytes })),
	} {
		if err := reg.Register(c); err != nil {
			return nil, errs.E("queryd", errs.Internal, err)
		}
	}
	return m, nil
}

// outcomeOf is a query's outcome label.
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	if errs.StatusOf(err) == errs.StatusClientClosed {
		return "canceled"
	}
	switch errs.KindOf(err) {
	case errs.Invalid, errs.NotFound, errs.TooLarge:
		return "invalid"
	case errs.Timeout:
		return "timeout"
	case errs.Unavailable:
		return "unavailable"
	}
	return "error"
}

// done records one query; rows counts only when it succeeded.
func (m *metrics) done(err error, rows int, took time.Duration) {
	out := outcomeOf(err)
	m.queries.WithLabelValues(out).Inc()
	m.duration.WithLabelValues(out).Observe(took.Seconds())
	if err == nil {
		m.rows.Add(float64(rows))
	}
}

// refused records a request refused before it ran (its body or query
// string): invalid, no duration.
func (m *metrics) refused(err error) {
	m.queries.WithLabelValues(outcomeOf(err)).Inc()
}
