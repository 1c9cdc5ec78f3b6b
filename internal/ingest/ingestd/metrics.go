package ingestd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/convert"
)

// metrics are ingestd's domain metrics on /metrics (ADR-160). Labels are
// bounded: format is one of convert's formats (or "unknown"), outcome one
// of outcomeOf's; never a dataset name.
type metrics struct {
	ingests  *prometheus.CounterVec // format, outcome
	rows     prometheus.Counter
	received prometheus.Counter
	decoded  prometheus.Counter
	duration *prometheus.HistogramVec // outcome
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ingests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_ingestd_ingests_total",
			Help: "Ingests by format (csv, jsonl, parquet, unknown) and outcome (ok, replayed, invalid, conflict, timeout, error)."},
			[]string{"format", "outcome"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_ingestd_rows_total",
			Help: "Rows committed by ingests (an idempotent replay adds none)."}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_ingestd_received_bytes_total",
			Help: "Upload bytes received (as sent: compressed when the upload was), whatever the ingest's outcome."}),
		decoded: prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_ingestd_decoded_bytes_total",
			Help: "Upload bytes after decoding a gzip/zstd upload (equal to the bytes received for an uncompressed one)."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lakehouse_ingestd_ingest_duration_seconds",
			Help:    "Time of an ingest from its first byte spooled to its answer, by outcome.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.ingests, m.rows, m.received, m.decoded, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, errs.E("ingestd", errs.Internal, err)
			}
		}
	}
	return m, nil
}

// ingestStats is what an ingest learned before it ended, for its metrics.
type ingestStats struct {
	format        string
	wire, decoded int64
	spooled       bool
}

// formatLabel bounds the format label.
func formatLabel(f string) string {
	switch f {
	case convert.CSV, convert.JSONL, convert.Parquet:
		return f
	}
	return "unknown"
}

// outcomeOf is an ingest's outcome label.
func outcomeOf(res *ingest.Result, err error) string {
	if err == nil {
		if res != nil && res.IdempotentReplayed {
			return "replayed"
		}
		return "ok"
	}
	switch errs.KindOf(err) {
	case errs.Invalid, errs.TooLarge:
		return "invalid"
	case errs.Conflict:
		return "conflict"
	case errs.Timeout:
		return "timeout"
	}
	return "error"
}

// done records one ingest.
func (m *metrics) done(st *ingestStats, res *ingest.Result, err error, took time.Duration) {
	format := st.format
	if err == nil && res != nil && res.Format != "" {
		format = res.Format
	}
	out := outcomeOf(res, err)
	m.ingests.WithLabelValues(formatLabel(format), out).Inc()
	m.duration.WithLabelValues(out).Observe(took.Seconds())
	if st.spooled {
		m.received.Add(float64(st.wire))
		m.decoded.Add(float64(st.decoded))
	}
	if err == nil && res != nil && !res.IdempotentReplayed {
		m.rows.Add(float64(res.Rows))
	}
}
