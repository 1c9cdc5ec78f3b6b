package shared

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Langfuse sends one trace and one span per authenticated request to
// POST {LANGFUSE_URL}/api/public/ingestion, in batches, from a bounded queue,
// off the request path (ADR-005: fail-open). A nil *Langfuse is a no-op.
//
// The trace id is the request id, so the spans of every daemon a request
// crosses land in one trace.
type Langfuse struct {
	endpoint string
	auth     string
	service  string
	client   *http.Client
	batch    *batcher[lfSpan]
	log      *slog.Logger

	sent   atomic.Int64
	failed atomic.Int64

	mDropped, mSent, mFailed prometheus.Counter
}

type lfSpan struct {
	traceID, name, method, path string
	status                      int
	start, end                  time.Time
}

// NewLangfuse returns nil unless URL, public and secret key are all set.
func NewLangfuse(cfg LangfuseConfig, service string, log *slog.Logger, reg prometheus.Registerer) *Langfuse {
	if cfg.URL == "" || cfg.PublicKey == "" || cfg.SecretKey == "" {
		return nil
	}
	l := &Langfuse{
		endpoint: cfg.URL + "/api/public/ingestion",
		auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.PublicKey+":"+cfg.SecretKey)),
		service:  service,
		client:   &http.Client{Timeout: max(cfg.Timeout.Duration, time.Second)},
		log:      log,
	}
	mk := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"service": service}})
		if reg != nil {
			reg.MustRegister(c)
		}
		return c
	}
	l.mDropped = mk("lakehouse_langfuse_dropped_total", "Langfuse events dropped because the queue was full.")
	l.mSent = mk("lakehouse_langfuse_sent_total", "Langfuse events accepted by the server.")
	l.mFailed = mk("lakehouse_langfuse_failed_total", "Langfuse events rejected or not delivered.")
	l.batch = newBatcher(cfg.QueueSize, cfg.BatchSize, cfg.FlushInterval.Duration, l.send, func() { l.mDropped.Add(2) })
	return l
}

// Dropped, Sent and Failed count events (for tests and /metrics).
func (l *Langfuse) Dropped() int64 { return 2 * l.batch.dropped.Load() }
func (l *Langfuse) Sent() int64    { return l.sent.Load() }
func (l *Langfuse) Failed() int64  { return l.failed.Load() }

func (l *Langfuse) middleware(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[ReportHeader]; ok {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		done := false
		defer func() {
			if !done { // a panic on its way to the recoverer: traced as its 500
				status := http.StatusInternalServerError
				if s := sw(w); s != nil {
					status = panicStatus(s)
				}
				l.span(RequestID(r.Context()), r.Method, routePattern(r), r.URL.Path, status, start, time.Now())
			}
		}()
		next.ServeHTTP(w, r)
		done = true
		status := http.StatusOK
		if s := sw(w); s != nil {
			status = s.Status()
		}
		l.span(RequestID(r.Context()), r.Method, routePattern(r), r.URL.Path, status, start, time.Now())
	})
}

// span queues one request's trace and span (a no-op on a nil *Langfuse).
func (l *Langfuse) span(reqID, method, route, path string, status int, start, end time.Time) {
	if l == nil {
		return
	}
	l.batch.enqueue(lfSpan{
		traceID: reqID, name: method + " " + route,
		method: method, path: path, status: status, start: start, end: end,
	})
}

// ingestionEvent is one element of the ingestion API's "batch".
type ingestionEvent struct {
	ID        string         `json:"id"`
	Timestamp string         `json:"timestamp"`
	Type      string         `json:"type"`
	Body      map[string]any `json:"body"`
}

type ingestionResponse struct {
	Successes []struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	} `json:"successes"`
	Errors []struct {
		ID      string `json:"id"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (l *Langfuse) send(spans []lfSpan) {
	events := make([]ingestionEvent, 0, 2*len(spans))
	for _, s := range spans {
		ts := s.start.UTC().Format(time.RFC3339Nano)
		meta := map[string]any{"service": l.service, "request_id": s.traceID, "method": s.method, "path": s.path, "status": s.status, "duration_ms": s.end.Sub(s.start).Milliseconds()}
		events = append(events, ingestionEvent{
			ID: NewRequestID(), Timestamp: ts, Type: "trace-create",
			Body: map[string]any{"id": s.traceID, "timestamp": ts, "name": s.name, "metadata": map[string]any{"service": l.service, "request_id": s.traceID}, "tags": []string{"lakehouse-go", l.service}},
		})
		span := map[string]any{"id": NewRequestID(), "traceId": s.traceID, "name": l.service + " " + s.name, "startTime": ts, "endTime": s.end.UTC().Format(time.RFC3339Nano), "metadata": meta, "level": "DEFAULT"}
		if s.status >= 500 {
			span["level"] = "ERROR"
			span["statusMessage"] = fmt.Sprintf("HTTP %d", s.status)
		} else if s.status >= 400 {
			span["level"] = "WARNING"
			span["statusMessage"] = fmt.Sprintf("HTTP %d", s.status)
		}
		events = append(events, ingestionEvent{ID: NewRequestID(), Timestamp: ts, Type: "span-create", Body: span})
	}
	body, _ := json.Marshal(map[string]any{"batch": events})
	n := int64(len(events))
	var status int
	var data []byte
	var err error
	for attempt := 1; ; attempt++ {
		var retryAfter time.Duration
		status, data, retryAfter, err = l.post(body)
		if !transient(status, err) || attempt == lfAttempts {
			break
		}
		wait := max(retryAfter, lfBackoff<<(attempt-1))
		l.log.Debug("langfuse batch not delivered; retrying", "op", "langfuse.ingest", "events", n, "attempt", attempt, "wait_ms", wait.Milliseconds())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.batch.stop: // shutting down: no more waiting
			t.Stop()
			attempt = lfAttempts - 1
		}
	}
	if err != nil {
		l.fail(n, "langfuse unreachable", err)
		return
	}
	if status != http.StatusMultiStatus && (status < 200 || status > 299) {
		l.fail(n, "langfuse rejected batch", fmt.Errorf("HTTP %d: %.200s", status, data))
		return
	}
	var ir ingestionResponse
	if json.Unmarshal(data, &ir) == nil && len(ir.Errors) > 0 {
		bad := int64(len(ir.Errors))
		l.fail(bad, "langfuse rejected events", fmt.Errorf("%d errors, first: %s (%d)", bad, ir.Errors[0].Message, ir.Errors[0].Status))
		n -= bad
	}
	l.sent.Add(n)
	l.mSent.Add(float64(n))
}

// A batch that fails transiently — Langfuse unreachable, 429, or a 5xx
// (a server restarting behind its proxy) — is sent again, off the request
// path, as Langfuse's own SDKs do: at most lfAttempts sends of the same
// bytes (the event, trace and span ids are fixed, so a batch the server
// took before its answer was lost is upserted, not duplicated), waiting
// lfBackoff, then twice that, or the server's Retry-After up to
// lfMaxRetryAfter. Once shutdown begins a failed batch gets one more send
// at once. While a batch waits, new events wait in the queue; a full queue
// drops and counts them, as always (ADR-005).
const (
	lfAttempts      = 3
	lfBackoff       = 500 * time.Millisecond
	lfMaxRetryAfter = 5 * time.Second
)

func transient(status int, err error) bool {
	return err != nil || status == http.StatusTooManyRequests || (status >= 500 && status != http.StatusNotImplemented)
}

// post sends one batch: the answer's status and (bounded) body, and its
// Retry-After when it names seconds.
func (l *Langfuse) post(body []byte) (int, []byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.client.Timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", l.auth)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ra time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		ra = min(time.Duration(secs)*time.Second, lfMaxRetryAfter)
	}
	return resp.StatusCode, data, ra, nil
}

func (l *Langfuse) fail(n int64, msg string, err error) {
	l.failed.Add(n)
	l.mFailed.Add(float64(n))
	l.log.Warn(msg, "op", "langfuse.ingest", "events", n, "err", err.Error())
}

// Close flushes the queue and stops the sender (bounded by ctx).
func (l *Langfuse) Close(ctx context.Context) error {
	if l == nil {
		return nil
	}
	return l.batch.close(ctx)
}
