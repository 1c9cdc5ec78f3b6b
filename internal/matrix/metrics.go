package matrix

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
)

// Outcomes of a search (the outcome label of lakehouse_matrixd_searches_total).
const (
	searchOK          = "ok"          // answered
	searchInvalid     = "invalid"     // the request's fault: a bad body, mode, k or where (400), an unknown dataset (404)
	searchUnavailable = "unavailable" // not answerable now: an index not ready, held or of another model (409), an upstream down or slow (502, 503, 504)
	searchError       = "error"       // anything else (500, the client gone)
)

// Outcomes of one run of an index job (build or refresh).
const (
	jobOK         = "ok"         // the index is ready at the version the job read
	jobFailed     = "failed"     // the status says failed (an outage is retried by the poll)
	jobSuperseded = "superseded" // failed, but a run queued during it (a POST) follows
	jobStopped    = "stopped"    // ended by DELETE or by matrixd's shutdown
)

// modeUnknown is the mode label of a search whose mode is none of
// hybrid|vector|keyword (refused as invalid) or whose body was not read.
const modeUnknown = "unknown"

// upstreams are the services an index job calls: the service label of
// upstream waits; anything else is "other".
var upstreams = map[string]bool{"catalogd": true, "queryd": true, "embedd": true, "vectord": true}

// states are the index states (IndexStatus.State): the state label.
var states = []string{StatePending, StateBuilding, StateReady, StateFailed}

// metrics are matrixd's domain metrics on /metrics (ADR-162's rules: base
// units, labels only from bounded sets — mode, outcome, state, service —
// never a dataset or index name). NewMatrix makes them, every bounded label
// set at 0 (preinit); New registers them on the harness's registry.
type metrics struct {
	searches *prometheus.CounterVec   // mode, outcome
	latency  *prometheus.HistogramVec // mode
	jobs     *prometheus.CounterVec   // outcome
	rows     prometheus.Counter
	waits    *prometheus.CounterVec // service
}

func newMetrics() *metrics {
	mt := &metrics{
		searches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_matrixd_searches_total",
			Help: "Searches, by mode (hybrid, vector, keyword; unknown when the body named none of them or was not read) and outcome (ok, invalid, unavailable, error)."},
			[]string{"mode", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lakehouse_matrixd_search_duration_seconds",
			Help:    "Time matrixd took over a search whose body was read and valid as far as its mode, whatever its outcome, by mode.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}},
			[]string{"mode"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_matrixd_index_jobs_total",
			Help: "Runs of index jobs (full builds and append refreshes), by outcome (ok, failed, superseded, stopped); a run that waits for a starting upstream is counted once, when it ends."},
			[]string{"outcome"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_matrixd_rows_indexed_total",
			Help: "Rows embedded and stored in a vector and keyword index (an append skips rows whose text did not change; empty texts are not counted)."}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_matrixd_upstream_waits_total",
			Help: "Quick retries of index jobs after an upstream answered 503 with Retry-After (the status's waiting), by service (catalogd, queryd, embedd, vectord, other)."},
			[]string{"service"}),
	}
	mt.preinit()
	return mt
}

// searchOutcomes are the outcome labels of a search, in the order above.
var searchOutcomes = []string{searchOK, searchInvalid, searchUnavailable, searchError}

// preinit makes every series exist at 0 from the start, so a fresh
// matrixd's /metrics lists them and rate() and absent() in alert rules see
// them before the first search or job: searches by each mode and outcome
// (unknown never answered: every outcome but ok), the latency of each of
// the three modes, jobs by outcome, waits by service.
func (mt *metrics) preinit() {
	for _, mode := range []string{ModeHybrid, ModeVector, ModeKeyword} {
		for _, o := range searchOutcomes {
			mt.searches.WithLabelValues(mode, o)
		}
		mt.latency.WithLabelValues(mode)
	}
	for _, o := range searchOutcomes[1:] {
		mt.searches.WithLabelValues(modeUnknown, o)
	}
	for _, o := range []string{jobOK, jobFailed, jobSuperseded, jobStopped} {
		mt.jobs.WithLabelValues(o)
	}
	for s := range upstreams {
		mt.waits.WithLabelValues(s)
	}
	mt.waits.WithLabelValues("other")
}

// register adds the metrics to reg, with the indexes-by-state gauge read
// from m at scrape time.
func (mt *metrics) register(reg prometheus.Registerer, m *Matrix) error {
	if reg == nil {
		return nil
	}
	cs := []prometheus.Collector{mt.searches, mt.latency, mt.jobs, mt.rows, mt.waits}
	for _, s := range states {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_matrixd_indexes",
			Help:        "Search indexes, by state (pending, building, ready, failed).",
			ConstLabels: prometheus.Labels{"state": s}},
			func() float64 { return float64(m.countState(s)) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return errs.E("matrixd", errs.Internal, err)
		}
	}
	return nil
}

// countState is the number of indexes whose state is s.
func (m *Matrix) countState(s string) int {
	n := 0
	for _, x := range m.snapshot() {
		x.mu.Lock()
		if x.status.State == s {
			n++
		}
		x.mu.Unlock()
	}
	return n
}

// modeLabel is mode as a label: one of the three modes or unknown.
func modeLabel(mode string) string {
	switch mode {
	case "":
		return ModeHybrid
	case ModeHybrid, ModeVector, ModeKeyword:
		return mode
	}
	return modeUnknown
}

// searchOutcome is the outcome label of a search that ended with err.
func searchOutcome(err error) string {
	switch {
	case err == nil:
		return searchOK
	case errs.StatusOf(err) == errs.StatusClientClosed:
		return searchError
	}
	switch errs.KindOf(err) {
	case errs.Invalid, errs.NotFound, errs.TooLarge:
		return searchInvalid
	case errs.Conflict, errs.Unavailable, errs.Timeout:
		return searchUnavailable
	}
	return searchError
}

// searched counts a search of mode that ended with err after start (zero:
// refused before it reached Search; not timed).
func (mt *metrics) searched(mode string, start time.Time, err error) {
	mode = modeLabel(mode)
	mt.searches.WithLabelValues(mode, searchOutcome(err)).Inc()
	if !start.IsZero() && mode != modeUnknown {
		mt.latency.WithLabelValues(mode).Observe(time.Since(start).Seconds())
	}
}

// waited counts a quick retry after service asked to be called again.
func (mt *metrics) waited(service string) {
	if !upstreams[service] {
		service = "other"
	}
	mt.waits.WithLabelValues(service).Inc()
}

// jobOutcome is the outcome label of a job run that ended with err; again:
// a run was queued during it; closing: matrixd is shutting down.
func jobOutcome(err error, again, closing bool) string {
	switch {
	case err == nil:
		return jobOK
	case closing:
		return jobStopped
	case again:
		return jobSuperseded
	}
	return jobFailed
}
