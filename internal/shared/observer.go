package shared

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// OpEvent is one operation as observerd records it (DESIGN.md observerd).
type OpEvent struct {
	TS         time.Time      `json:"ts"`
	Service    string         `json:"service"`
	Op         string         `json:"op"`
	Status     int            `json:"status"`
	DurationMS float64        `json:"duration_ms"`
	RequestID  string         `json:"request_id,omitempty"`
	Attrs      map[string]any `json:"attrs,omitempty"`
}

// reporter sends every /v1 request of a daemon to observerd, asynchronously
// and fail-open: observerd down costs a log line now and then, never a
// failed or slowed request.
type reporter struct {
	service string
	client  *Client
	batch   *batcher[OpEvent]
	log     *slog.Logger
	lastErr atomic.Int64 // unix seconds of the last logged failure
	ops     sync.Map     // opKey -> "METHOD pattern", built once per route
	// downUntil (unix nanos) is set after a failed send: until then events
	// are dropped at enqueue, so an absent observerd costs no encoding or
	// dialing. The back-off doubles per failure up to maxBackoff.
	downUntil atomic.Int64
	backoff   time.Duration // touched only by the batcher goroutine
}

const maxReportBackoff = 30 * time.Second

// ReportHeader marks a daemon's own observer report. Langfuse does not
// trace it: telemetry about requests is not a request of the user's (every
// daemon's reports were one more trace per batch, ADR-005).
const ReportHeader = "X-Lakehouse-Report"

type opKey struct{ method, route string }

func (r *reporter) op(method, route string) string {
	k := opKey{method, route}
	if v, ok := r.ops.Load(k); ok {
		return v.(string)
	}
	v, _ := r.ops.LoadOrStore(k, method+" "+route)
	return v.(string)
}

func newReporter(cfg *Config, service string, log *slog.Logger) *reporter {
	if !cfg.Report.Enabled || service == "observerd" {
		return nil
	}
	r := &reporter{
		service: service,
		client: &Client{Service: "observerd", Base: cfg.URL("observerd"), HTTP: NewHTTPClient(5 * time.Second), Token: cfg.Auth.Token,
			Header: http.Header{ReportHeader: {"1"}}},
		log: log,
	}
	r.batch = newBatcher(cfg.Report.QueueSize, cfg.Report.BatchSize, cfg.Report.FlushInterval.Duration, r.send, nil)
	return r
}

func (r *reporter) send(events []OpEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if time.Now().UnixNano() < r.downUntil.Load() {
		return // queued before the failure was known: drop
	}
	err := r.client.JSON(ctx, http.MethodPost, "/v1/observer/events", map[string]any{"events": events}, nil)
	if err == nil {
		r.backoff = 0
		return
	}
	r.backoff = min(max(2*r.backoff, time.Second), maxReportBackoff)
	r.downUntil.Store(time.Now().Add(r.backoff).UnixNano())
	now := time.Now().Unix()
	if last := r.lastErr.Load(); now-last >= 60 && r.lastErr.CompareAndSwap(last, now) {
		r.log.Warn("observer report failed (events dropped, retried with back-off; logged once a minute)", "op", "observer.report", "events", len(events), "retry_in", r.backoff.String(), "err", err.Error())
	}
}

func (r *reporter) middleware(next http.Handler) http.Handler {
	if r == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		done := false
		defer func() {
			if s := sw(w); !done && s != nil { // a panic on its way to the recoverer
				r.record(req.Method, routePattern(req), req.URL.Path, panicStatus(s), s.start, time.Now(), RequestID(req.Context()))
			}
		}()
		next.ServeHTTP(w, req)
		done = true
		s := sw(w)
		if s == nil {
			return
		}
		r.record(req.Method, routePattern(req), req.URL.Path, s.Status(), s.start, time.Now(), RequestID(req.Context()))
	})
}

// record queues one /v1 request's event (a no-op on a nil *reporter).
func (r *reporter) record(method, route, path string, status int, start, end time.Time, reqID string) {
	if r == nil || len(path) < 4 || path[:4] != "/v1/" {
		return
	}
	if d := r.downUntil.Load(); d != 0 && end.UnixNano() < d {
		r.batch.dropped.Add(1)
		return
	}
	r.batch.enqueue(OpEvent{
		TS: start.UTC(), Service: r.service, Op: r.op(methodLabel(method), route), Status: status,
		DurationMS: float64(end.Sub(start).Microseconds()) / 1000, RequestID: reqID,
	})
}

func (r *reporter) close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	return r.batch.close(ctx)
}
