// Package observer is the contract and implementation of observerd (:3219),
// the ring of recent operations (DESIGN.md "observerd"). It holds the wire
// types (Event, IngestRequest, Filter, Stats), the Service interface, the
// Observer that implements it (a fixed-size in-memory ring, exact per-key
// latency percentiles, an SSE fan-out hub and a background persistor that
// appends to ops.jsonl and reloads its tail on start), the HTTP routes, the
// daemon constructor New, and the typed Client.
//
// Every daemon's harness (internal/shared, observer.go) reports each /v1
// request here with POST /v1/observer/events, asynchronously and fail-open;
// observerd itself is not reported (no loop). Operators read the ring with
// GET /v1/observer/events (newest first), GET /v1/observer/stats and
// GET /v1/observer/stream (SSE). Decisions: docs/DECISIONS.md ADR-050..053.
package observer

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Routes of observerd (DESIGN.md).
const (
	EventsPath = "/v1/observer/events"
	StatsPath  = "/v1/observer/stats"
	StreamPath = "/v1/observer/stream"
)

// Limits and defaults (ADR-050).
const (
	MaxBatch        = 1000 // events per POST; above: 413
	MaxServiceLen   = 64
	MaxOpLen        = 256
	MaxRequestIDLen = 128
	MaxAttrs        = 32 // keys in attrs
	// MaxDurationMS bounds duration_ms (a year): stats sum durations, and
	// a sum of huge finite values overflowed to +Inf, which JSON cannot
	// carry (every GET /stats answered 500 until the event left the ring).
	MaxDurationMS   = 365 * 24 * 3600 * 1000.0
	MaxAttrsBytes   = 4096 // attrs encoded as JSON
	DefaultLimit    = 100  // GET events without limit
	DefaultRingSize = 10_000
	MaxRingSize     = 10_000_000
)

// MaxClockSkew is how far an event's ts may be ahead of observerd's
// clock (ADR-050). The harness stamps events when a request starts,
// so a later ts is a wrong clock or a bad client: one year-3026 event
// made every /stats "to" say 3026 until it left the ring. Five
// minutes, Kerberos's default skew, leaves room for hosts whose
// clocks are NTP-synced but not to the second.
const MaxClockSkew = 5 * time.Minute

// MaxEventAge is how long before observerd's clock an event may have
// ended (ts + duration_ms) and still be accepted (ADR-050). observerd is a
// ring of recent operations: the harness reports each request within
// seconds of its end, and a request that began long ago (a stream held open
// for days) still ends recently. An event from 1970 or the year 0 (a client
// sending 0, a bad clock) set every /stats "from" until it left the ring.
// A week, as Loki's reject_old_samples_max_age, leaves room for a client
// that re-sends what it buffered through an outage.
const MaxEventAge = 7 * 24 * time.Hour

// maxEventAgeText is MaxEventAge for messages.
const maxEventAgeText = "7 days"

// Event is one operation: the harness's shared.OpEvent, so what a daemon
// reports and what observerd answers are the same type.
type Event = shared.OpEvent

// IngestRequest is the body of POST /v1/observer/events.
type IngestRequest struct {
	Events []Event `json:"events"`
}

// IngestResponse answers POST /v1/observer/events.
type IngestResponse struct {
	Accepted int `json:"accepted"`
}

// Validate checks the whole batch against the local clock (ValidateAt).
func (r *IngestRequest) Validate() error { return r.ValidateAt(time.Now()) }

// ValidateAt checks the whole batch; one bad event rejects the batch (the
// message names up to ten problems by index). A zero ts is left for the
// Observer to stamp with the receive time; a ts more than MaxClockSkew
// after now is refused, and so is an event that ended (ts + duration_ms)
// more than MaxEventAge before now.
func (r *IngestRequest) ValidateAt(now time.Time) error {
	const op = "observer.ingest"
	switch {
	case len(r.Events) == 0:
		return errs.Errorf(op, errs.Invalid, `"events": at least one event is required`)
	case len(r.Events) > MaxBatch:
		return errs.Errorf(op, errs.TooLarge, "%d events in one batch; at most %d", len(r.Events), MaxBatch)
	}
	var problems []string
	for i := range r.Events {
		for _, p := range validateEvent(&r.Events[i], now) {
			if len(problems) == 10 {
				problems = append(problems, "...")
				return errs.E(op, errs.Invalid, strings.Join(problems, "; "))
			}
			problems = append(problems, fmt.Sprintf("events[%d].%s", i, p))
		}
	}
	if len(problems) > 0 {
		return errs.E(op, errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// validateEvent lists what is wrong with e, received at now.
func validateEvent(e *Event, now time.Time) []string {
	var p []string
	switch {
	case e.TS.After(now.Add(MaxClockSkew)):
		p = append(p, fmt.Sprintf("ts: %s is more than %v ahead of observerd's clock (%s): check the reporting host's clock",
			e.TS.Format(time.RFC3339Nano), MaxClockSkew, now.UTC().Format(time.RFC3339)))
	case !e.TS.IsZero() && eventEnd(e).Before(now.Add(-MaxEventAge)):
		p = append(p, fmt.Sprintf("ts: %s (+ duration_ms) ended more than %s before observerd's clock (%s): observerd keeps recent operations; check the reporting host's clock",
			e.TS.Format(time.RFC3339Nano), maxEventAgeText, now.UTC().Format(time.RFC3339)))
	}
	return append(p, validateFields(e, true)...)
}

// eventEnd is when e ended: ts + duration_ms (ts alone when the duration
// is out of range; validateFields reports that).
func eventEnd(e *Event) time.Time {
	if !(e.DurationMS > 0 && e.DurationMS <= MaxDurationMS) {
		return e.TS
	}
	return e.TS.Add(time.Duration(e.DurationMS * float64(time.Millisecond)))
}

// checkLabel is the rule for service, op and request_id (ADR-097), in an
// ingested event and in a query's filter: at most maxLen bytes, no leading
// or trailing space, and no character that displays as nothing or
// reorders what follows (shared.Hidden, pathwayd's rule for the ids it
// stores, ADR-088): "gateway\u202e" or "storaged\u200b" displayed as
// another service in the console and the journal.
func checkLabel(v string, maxLen int) string {
	switch {
	case len(v) > maxLen:
		return fmt.Sprintf("%d bytes, at most %d", len(v), maxLen)
	case v != "" && (v[0] == ' ' || v[len(v)-1] == ' '):
		return "begins or ends with a space"
	}
	if i, r := shared.Hidden(v); i >= 0 {
		return fmt.Sprintf("holds %s at byte %d; it may not hold control, format (bidi, zero-width), private-use or space characters other than an inner ASCII space", shared.RuneName(r), i)
	}
	return ""
}

// validateFields lists what is wrong with e apart from its time. strict
// is the rule of an ingest (checkLabel); a line of ops.jsonl is read with
// the rule before ADR-097 (printable UTF-8), so events stored before it
// still load.
func validateFields(e *Event, strict bool) []string {
	var p []string
	text := func(field, s string, maxLen int, required bool) {
		switch {
		case s == "" && required:
			p = append(p, field+": required")
		case len(s) > maxLen:
			p = append(p, fmt.Sprintf("%s: %d bytes, at most %d", field, len(s), maxLen))
		case !strict:
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				p = append(p, field+": not printable UTF-8")
			}
		default:
			if msg := checkLabel(s, maxLen); msg != "" {
				p = append(p, field+": "+msg)
			}
		}
	}
	text("service", e.Service, MaxServiceLen, true)
	text("op", e.Op, MaxOpLen, true)
	text("request_id", e.RequestID, MaxRequestIDLen, false)
	if e.Status != 0 && (e.Status < 100 || e.Status > 599) {
		p = append(p, fmt.Sprintf("status: %d, want 100..599 (or 0 for none)", e.Status))
	}
	if !(e.DurationMS >= 0 && e.DurationMS <= MaxDurationMS) { // NaN fails both
		p = append(p, fmt.Sprintf("duration_ms: must be a number from 0 to %.0f (a year)", MaxDurationMS))
	}
	if len(e.Attrs) > MaxAttrs {
		p = append(p, fmt.Sprintf("attrs: %d keys, at most %d", len(e.Attrs), MaxAttrs))
	} else if n := jsonSize(e.Attrs); n > MaxAttrsBytes {
		p = append(p, fmt.Sprintf("attrs: %d bytes as JSON, at most %d", n, MaxAttrsBytes))
	}
	return p
}

// Filter selects events. Empty fields match everything; Service, Op and
// RequestID match exactly (a request id finds what every daemon a request
// went through reported of it: the id is forwarded); Since keeps events
// with ts >= Since.
type Filter struct {
	Service   string
	Op        string
	RequestID string
	Since     time.Time
}

func (f Filter) match(e *Event) bool {
	return (f.Service == "" || e.Service == f.Service) &&
		(f.Op == "" || e.Op == f.Op) &&
		(f.RequestID == "" || e.RequestID == f.RequestID) &&
		(f.Since.IsZero() || !e.TS.Before(f.Since))
}

// EventsResponse answers GET /v1/observer/events: newest first (ADR-050).
type EventsResponse struct {
	Events []Event `json:"events"`
	Order  string  `json:"order"` // always "newest_first"
}

// OrderNewestFirst is EventsResponse.Order.
const OrderNewestFirst = "newest_first"

// OpStats are the figures of one service (Op "") or one service and op.
// Percentiles are exact nearest-rank values over the ring's events
// (the smallest duration d with at least ceil(p*count) durations <= d).
type OpStats struct {
	Service      string  `json:"service"`
	Op           string  `json:"op,omitempty"`
	Count        int     `json:"count"`
	Errors       int     `json:"errors"`        // status >= 500
	ClientErrors int     `json:"client_errors"` // 400 <= status < 500
	P50MS        float64 `json:"p50_ms"`
	P95MS        float64 `json:"p95_ms"`
	P99MS        float64 `json:"p99_ms"`
	MaxMS        float64 `json:"max_ms"`
	MeanMS       float64 `json:"mean_ms"`
}

// Stats answers GET /v1/observer/stats: totals over the ring's (filtered)
// events, then per service and per service+op, sorted by service, op.
type Stats struct {
	Count        int       `json:"count"`
	Errors       int       `json:"errors"`
	ClientErrors int       `json:"client_errors"`
	From         time.Time `json:"from,omitzero"` // oldest ts counted
	To           time.Time `json:"to,omitzero"`   // newest ts counted
	RingSize     int       `json:"ring_size"`
	Services     []OpStats `json:"services"`
	Ops          []OpStats `json:"ops"`
}

// Service is observerd's API; Observer implements it in process and Client
// over HTTP.
type Service interface {
	// Ingest records a batch (validated as IngestRequest.Validate). It never
	// waits for disk. Errors: Invalid, TooLarge, Unavailable (closed).
	Ingest(ctx context.Context, events []Event) (IngestResponse, error)
	// Events returns up to limit (<= 0: DefaultLimit; capped at the ring
	// size) matching events of the ring, newest first. Errors: Invalid.
	Events(ctx context.Context, f Filter, limit int) ([]Event, error)
	// Stats computes counts, errors and exact percentiles over the ring's
	// matching events. Errors: Invalid.
	Stats(ctx context.Context, f Filter) (Stats, error)
	// Subscribe calls fn with every matching event ingested from now on
	// (f.Since is ignored) until ctx ends (returns ctx.Err()), fn returns an
	// error (returned), or observerd shuts down (Unavailable). A consumer
	// slower than ingestion loses events rather than slowing ingestion.
	Subscribe(ctx context.Context, f Filter, fn func(Event) error) error
}
