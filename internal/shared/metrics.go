package shared

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the harness's request metrics, in a registry of the daemon's
// own (never the global one, so several daemons can live in one test process).
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
	cut      *prometheus.CounterVec // lakehouse_http_answers_cut_total{route}

	// Children of the vectors, cached: WithLabelValues hashes its labels
	// and takes a lock on every call.
	counters sync.Map // counterKey -> *hotCounter
	latencyC sync.Map // route -> *routeStats
	// last is the route observed last: a proxy's requests mostly go to
	// one route with one method and status, which then cost two pointer
	// loads and three compares instead of two sync.Map look-ups
	// (~700 instructions a request).
	last atomic.Pointer[routeStats]
}

// routeStats is a route's latency child and the counter child it used last.
type routeStats struct {
	route string
	lat   prometheus.Observer
	hot   atomic.Pointer[hotCounter]
}

// hotCounter is the requests counter child of one route, method and status.
type hotCounter struct {
	method string
	status int
	c      prometheus.Counter
}

// answersCutHelp is lakehouse_http_answers_cut_total's help.
const answersCutHelp = "Answers cut short after their head went out, by route pattern: the client took no byte for a send stall " +
	"(30 s for a daemon's JSON answer, 60 s for storaged's objects and the gateway's relayed answers). " +
	"lakehouse_http_requests_total counts them with the status sent (200); the access line has err."

type counterKey struct {
	route, method string
	status        int
}

func newMetrics(service string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "lakehouse_http_requests_total",
			Help:        "HTTP requests by route pattern, method and status.",
			ConstLabels: prometheus.Labels{"service": service},
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "lakehouse_http_request_duration_seconds",
			Help:        "HTTP request latency by route pattern.",
			ConstLabels: prometheus.Labels{"service": service},
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "lakehouse_http_in_flight_requests",
			Help:        "Requests being served.",
			ConstLabels: prometheus.Labels{"service": service},
		}),
		cut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "lakehouse_http_answers_cut_total",
			Help:        answersCutHelp,
			ConstLabels: prometheus.Labels{"service": service},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight, m.cut,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// statusText caches status codes as label strings (no strconv per request).
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func (m *Metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inflight.Inc()
		done := false
		defer func() {
			if !done { // a panic on its way to the recoverer
				m.inflight.Dec()
				if s := sw(w); s != nil {
					m.observe(routePattern(r), r.Method, panicStatus(s), time.Since(s.start))
				}
			}
		}()
		next.ServeHTTP(w, r)
		done = true
		m.inflight.Dec()
		s := sw(w)
		if s == nil {
			return
		}
		route := routePattern(r)
		m.observe(route, r.Method, s.Status(), time.Since(s.start))
		if s.cut != "" {
			m.countCut(route)
		}
	})
}

// countCut counts an answer to route cut short (rare: no cache).
func (m *Metrics) countCut(route string) { m.cut.WithLabelValues(route).Inc() }

// routesAtZero makes lakehouse_http_answers_cut_total's series of each
// route present at 0 from the start (ADR-176).
func (m *Metrics) routesAtZero(routes []string) {
	for _, r := range routes {
		m.cut.WithLabelValues(r)
	}
}

// observe counts a finished request and records its latency.
func (m *Metrics) observe(route, rawMethod string, st int, dur time.Duration) {
	method := methodLabel(rawMethod)
	rs := m.last.Load()
	if rs == nil || rs.route != route {
		o, ok := m.latencyC.Load(route)
		if !ok {
			o, _ = m.latencyC.LoadOrStore(route, &routeStats{route: route, lat: m.latency.WithLabelValues(route)})
		}
		rs = o.(*routeStats)
		m.last.Store(rs)
	}
	hc := rs.hot.Load()
	if hc == nil || hc.status != st || hc.method != method {
		key := counterKey{route, method, st}
		c, ok := m.counters.Load(key)
		if !ok {
			code := "other"
			if st > 0 && st < len(statusText) {
				code = statusText[st]
			}
			c, _ = m.counters.LoadOrStore(key, &hotCounter{method: method, status: st, c: m.requests.WithLabelValues(route, method, code)})
		}
		hc = c.(*hotCounter)
		rs.hot.Store(hc)
	}
	hc.c.Inc()
	rs.lat.Observe(dur.Seconds())
}

// methodLabel bounds label cardinality: a client can send any method token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
