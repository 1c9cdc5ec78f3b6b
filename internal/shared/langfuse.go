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
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
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

	sent    atomic.Int64
	failed  atomic.Int64
	dropped atomic.Int64

	mDropped, mSent, mFailed prometheus.Counter
}

type lfSpan struct {
	traceID, name, method, path string
	status                      int
	start, end                  time.Time
	gens                        []Generation
}

// events is how many ingestion events s becomes: a trace, a span and one
// observation per generation.
func (s lfSpan) events() int64 { return 2 + int64(len(s.gens)) }

// Generation is one model call a request made (chatd's attempt at a
// provider), sent to Langfuse as a generation-create observation under the
// request's span: where Langfuse users read the model, the prompt, the
// answer, token usage, latency and time to first token (ADR-005).
type Generation struct {
	Name            string         // e.g. "chat ollama"
	Model           string         // as the provider was asked
	ModelParameters map[string]any // temperature, max_tokens...: numbers or strings
	Input, Output   any            // JSON-encodable; each cut to lfMaxIOBytes
	Start, End      time.Time
	CompletionStart time.Time // the first token; zero when there was none
	// InputTokens and OutputTokens as the provider counted them; both 0:
	// no usage is sent (Langfuse then counts with its own tokenizer).
	InputTokens, OutputTokens int
	Metadata                  map[string]any
	Error                     string // non-empty: level ERROR, this status message
}

// lfMaxIOBytes bounds the JSON of one generation's input and of its output
// in an ingestion event (a request may carry megabytes of history; the
// ingestion API refuses oversized batches). Beyond it the value is sent as
// a string: the JSON's first lfMaxIOBytes bytes and a note of the size.
const lfMaxIOBytes = 64 << 10

// lfMaxGenerations bounds the generations one request records (a fallback
// chain is a handful of attempts).
const lfMaxGenerations = 32

type lfRecorder struct {
	mu     sync.Mutex
	gens   []Generation
	closed bool
}

type lfRecorderKey struct{}

// RecordGeneration adds g to the Langfuse trace of the request ctx belongs
// to. A no-op without Langfuse, outside a traced request, or once the
// request's span is queued.
func RecordGeneration(ctx context.Context, g Generation) {
	rec, _ := ctx.Value(lfRecorderKey{}).(*lfRecorder)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !rec.closed && len(rec.gens) < lfMaxGenerations {
		rec.gens = append(rec.gens, g)
	}
}

// TracingGenerations says whether RecordGeneration would keep a generation
// for ctx's request, so a caller can skip assembling one.
func TracingGenerations(ctx context.Context) bool {
	rec, _ := ctx.Value(lfRecorderKey{}).(*lfRecorder)
	return rec != nil
}

func (rec *lfRecorder) take() []Generation {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.closed = true
	return rec.gens
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
	l.batch = newBatcher(cfg.QueueSize, cfg.BatchSize, cfg.FlushInterval.Duration, l.send, func(s lfSpan) {
		l.dropped.Add(s.events())
		l.mDropped.Add(float64(s.events()))
	})
	return l
}

// Dropped, Sent and Failed count events (for tests and /metrics).
func (l *Langfuse) Dropped() int64 { return l.dropped.Load() }
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
		rec := &lfRecorder{}
		r = r.WithContext(context.WithValue(r.Context(), lfRecorderKey{}, rec))
		done := false
		defer func() {
			if !done { // a panic on its way to the recoverer: traced as its 500
				status := http.StatusInternalServerError
				if s := sw(w); s != nil {
					status = panicStatus(s)
				}
				l.span(RequestID(r.Context()), r.Method, routePattern(r), r.URL.Path, status, start, time.Now(), rec.take())
			}
		}()
		next.ServeHTTP(w, r)
		done = true
		status := http.StatusOK
		if s := sw(w); s != nil {
			status = s.Status()
		}
		l.span(RequestID(r.Context()), r.Method, routePattern(r), r.URL.Path, status, start, time.Now(), rec.take())
	})
}

// span queues one request's trace and span (a no-op on a nil *Langfuse).
func (l *Langfuse) span(reqID, method, route, path string, status int, start, end time.Time, gens []Generation) {
	if l == nil {
		return
	}
	l.batch.enqueue(lfSpan{
		traceID: reqID, name: method + " " + route,
		method: method, path: path, status: status, start: start, end: end, gens: gens,
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
	var n int64
	for _, s := range spans {
		n += s.events()
	}
	events := make([]ingestionEvent, 0, n)
	for _, s := range spans {
		ts := s.start.UTC().Format(time.RFC3339Nano)
		meta := map[string]any{"service": l.service, "request_id": s.traceID, "method": s.method, "path": s.path, "status": s.status, "duration_ms": s.end.Sub(s.start).Milliseconds()}
		events = append(events, ingestionEvent{
			ID: NewRequestID(), Timestamp: ts, Type: "trace-create",
			Body: map[string]any{"id": s.traceID, "timestamp": ts, "name": s.name, "metadata": map[string]any{"service": l.service, "request_id": s.traceID}, "tags": []string{"lakehouse-go", l.service}},
		})
		spanID := NewRequestID()
		span := map[string]any{"id": spanID, "traceId": s.traceID, "name": l.service + " " + s.name, "startTime": ts, "endTime": s.end.UTC().Format(time.RFC3339Nano), "metadata": meta, "level": "DEFAULT"}
		if s.status >= 500 {
			span["level"] = "ERROR"
			span["statusMessage"] = fmt.Sprintf("HTTP %d", s.status)
		} else if s.status >= 400 {
			span["level"] = "WARNING"
			span["statusMessage"] = fmt.Sprintf("HTTP %d", s.status)
		}
		events = append(events, ingestionEvent{ID: NewRequestID(), Timestamp: ts, Type: "span-create", Body: span})
		for _, g := range s.gens {
			events = append(events, ingestionEvent{ID: NewRequestID(), Timestamp: g.Start.UTC().Format(time.RFC3339Nano), Type: "generation-create", Body: l.generation(s.traceID, spanID, g)})
		}
	}
	body, _ := json.Marshal(map[string]any{"batch": events})
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

// generation is the body of one generation-create event: an observation of
// the request's trace, child of its span.
func (l *Langfuse) generation(traceID, spanID string, g Generation) map[string]any {
	meta := map[string]any{"service": l.service, "request_id": traceID}
	for k, v := range g.Metadata {
		meta[k] = v
	}
	b := map[string]any{
		"id": NewRequestID(), "traceId": traceID, "parentObservationId": spanID, "name": g.Name,
		"startTime": g.Start.UTC().Format(time.RFC3339Nano), "endTime": g.End.UTC().Format(time.RFC3339Nano),
		"model": g.Model, "input": capIO(g.Input), "output": capIO(g.Output), "metadata": meta, "level": "DEFAULT",
	}
	if len(g.ModelParameters) > 0 {
		b["modelParameters"] = g.ModelParameters
	}
	if !g.CompletionStart.IsZero() {
		b["completionStartTime"] = g.CompletionStart.UTC().Format(time.RFC3339Nano)
	}
	if g.InputTokens > 0 || g.OutputTokens > 0 {
		b["usageDetails"] = map[string]int{"input": g.InputTokens, "output": g.OutputTokens, "total": g.InputTokens + g.OutputTokens}
	}
	if g.Error != "" {
		b["level"] = "ERROR"
		b["statusMessage"] = g.Error
	}
	return b
}

// capIO is v as it goes into an event: itself, or when its JSON is longer
// than lfMaxIOBytes (or is no JSON), a string saying so with the JSON's head.
func capIO(v any) any {
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(not JSON: %v)", err)
	}
	if len(raw) <= lfMaxIOBytes {
		return json.RawMessage(raw)
	}
	head := raw[:lfMaxIOBytes]
	for len(head) > 0 && !utf8.Valid(head) { // never cut inside a character
		head = head[:len(head)-1]
	}
	return fmt.Sprintf("%s… (cut: %d bytes of JSON, the first %d shown)", head, len(raw), len(head))
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
// Retry-After as errs.RetryAfterHeader reads it (seconds, or an HTTP date
// counted from the answer's Date; 0 when absent or malformed), held within
// lfMaxRetryAfter.
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
	ra, _ := errs.RetryAfterHeader(resp.Header) // ADR-167's reading; the wait is ours
	return resp.StatusCode, data, min(ra, lfMaxRetryAfter), nil
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
