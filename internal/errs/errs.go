// Package errs is Lakehouse-Go's one error package. Every daemon returns
// *Error values from its Service methods; the HTTP boundary (WriteHTTP) turns
// them into DESIGN.md's JSON error body, and the typed clients (FromResponse)
// turn that body back into an *Error of the same Kind, so an error keeps its
// meaning across a hop between daemons.
//
// The Kind set is small and append-only. Kind <-> HTTP status lives in one
// table (statusOf / kindOfStatus) and nowhere else.
package errs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kind classifies an error. It is the "kind" field of the JSON error body.
type Kind string

// The kinds of DESIGN.md, then the ones appended since (see docs/DECISIONS.md ADR-009).
const (
	Invalid      Kind = "invalid"         // 400: the input is wrong; the message says where (405, 415, 416, 417, 505 for a method, coding, range, expectation or version: kindOfStatus)
	NotFound     Kind = "not_found"       // 404
	Conflict     Kind = "conflict"        // 409 (412 for a failed create-only precondition)
	Unauthorized Kind = "unauthorized"    // 401
	Forbidden    Kind = "forbidden"       // 403
	TooLarge     Kind = "too_large"       // 413 (431 for a request head over the limit)
	Unavailable  Kind = "unavailable"     // 503 (502 when an upstream answered badly or not at all)
	Timeout      Kind = "timeout"         // 504
	Internal     Kind = "internal"        // 500: details only in the log
	NotImpl      Kind = "not_implemented" // 501: appended; a route whose daemon has not landed
)

// Status codes that a kind may carry besides its default.
const (
	StatusPrecondition = http.StatusPreconditionFailed // Conflict on a create-only write
	StatusBadGateway   = http.StatusBadGateway         // Unavailable when the upstream failed
	// StatusClientClosed (nginx's 499): Invalid when the client closed the
	// connection before the answer. Nobody reads it; it keeps a hang-up out
	// of the 5xx counts and the ERROR log.
	StatusClientClosed = 499
)

// statusOf is the one Kind -> default status table.
var statusOf = map[Kind]int{
	Invalid:      http.StatusBadRequest,
	Unauthorized: http.StatusUnauthorized,
	Forbidden:    http.StatusForbidden,
	NotFound:     http.StatusNotFound,
	Conflict:     http.StatusConflict,
	TooLarge:     http.StatusRequestEntityTooLarge,
	Internal:     http.StatusInternalServerError,
	NotImpl:      http.StatusNotImplemented,
	Unavailable:  http.StatusServiceUnavailable,
	Timeout:      http.StatusGatewayTimeout,
}

// kindOfStatus is the reverse table, used when a body carries no kind
// (the answer to a HEAD, or one cut short). It holds every status a kind
// is answered with (statusOf and the overrides the daemons use): a 416
// without its body was read as internal while its body said invalid.
func kindOfStatus(status int) Kind {
	switch status {
	case 400, 422, 405, 415, 416, 417, 505, StatusClientClosed:
		return Invalid
	case 431:
		return TooLarge
	case 401:
		return Unauthorized
	case 403:
		return Forbidden
	case 404:
		return NotFound
	case 409, 412:
		return Conflict
	case 413:
		return TooLarge
	case 501:
		return NotImpl
	case 502, 503:
		return Unavailable
	case 408, 504:
		return Timeout
	}
	return Internal
}

// Error is the one error type. Op names the operation ("storage.Put"); Err is
// the cause. Msg, when set, is the message shown to the caller; otherwise the
// caller sees Err's text for client kinds and a generic text for Internal.
type Error struct {
	Op     string
	Kind   Kind
	Msg    string
	Err    error
	Status int // optional: 412 for Conflict, 502 for Unavailable; 0 = the kind's default
	// RetryAfter is the wait the server's answer asked for with its
	// Retry-After field (FromResponse, ParseRetryAfter), when HasRetryAfter:
	// "ask again then". Read it with the RetryAfter func.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// AcceptEncoding, for a 415 refusing the request's Content-Encoding, is
	// the codings the route takes ("identity"): the answer carries it as its
	// Accept-Encoding field (RFC 9110 15.5.16; SetAcceptEncoding).
	AcceptEncoding string
}

func (e *Error) Error() string {
	s := e.Op
	add := func(t string) {
		if t == "" {
			return
		}
		if s != "" {
			s += ": "
		}
		s += t
	}
	add(e.Msg)
	if e.Err != nil {
		add(e.Err.Error())
	}
	if s == "" {
		s = string(e.Kind)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error. Arguments may be, in any order: a Kind, a string (the
// Op if it is the first string, else the message), an error (the cause) and
// an int (the status override).
func E(args ...any) error {
	e := &Error{}
	opSet := false
	for _, a := range args {
		switch v := a.(type) {
		case Kind:
			e.Kind = v
		case string:
			if !opSet {
				e.Op, opSet = v, true
			} else {
				e.Msg = v
			}
		case *Error:
			e.Err = v
		case error:
			e.Err = v
		case int:
			e.Status = v
		}
	}
	if e.Kind == "" {
		e.Kind = KindOf(e.Err)
	}
	return e
}

// Errorf is a convenience: E(op, kind, fmt.Sprintf(format, args...)).
func Errorf(op string, kind Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf reports the Kind of err: the outermost *Error's Kind, Timeout for
// context deadlines, Internal for anything else. nil -> "".
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != "" {
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return TooLarge
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }

// StatusOf is the HTTP status for err.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	if s, ok := statusOf[KindOf(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Message is the text the caller sees: for Internal a generic sentence, so
// internal details stay in the log.
func Message(err error) string {
	k := KindOf(err)
	if k == Internal {
		return "internal error"
	}
	var e *Error
	if errors.As(err, &e) {
		return userText(e)
	}
	return err.Error()
}

// userText joins the messages of an *Error chain: Msg, then the cause's text
// (a nested *Error's user text, or a plain error's text, which for a client
// kind is about the caller's input).
func userText(e *Error) string {
	var inner string
	var ie *Error
	switch {
	case e.Err == nil:
	case errors.As(e.Err, &ie):
		if ie.Kind != Internal {
			inner = userText(ie)
		}
	default:
		inner = e.Err.Error()
	}
	switch {
	case e.Msg != "" && inner != "":
		return e.Msg + ": " + inner
	case e.Msg != "":
		return e.Msg
	case inner != "":
		return inner
	}
	return string(e.Kind)
}

// Body is the JSON error body of DESIGN.md.
type Body struct {
	Error BodyError `json:"error"`
}

// BodyError is the inner object of Body.
type BodyError struct {
	Kind      Kind   `json:"kind"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// RequestIDHeader carries the request id between daemons and back to callers.
const RequestIDHeader = "X-Request-Id"

// WriteHTTP writes err as the JSON error body with the matching status.
// Internal errors are logged (once, here) with their full text.
func WriteHTTP(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	reqID := w.Header().Get(RequestIDHeader)
	if reqID == "" && r != nil {
		reqID = r.Header.Get(RequestIDHeader)
	}
	err = LogFailure(log, r, reqID, err)
	status := StatusOf(err)
	// A 503 or 429 caused by an upstream's answer that asked to be called
	// again passes the wait on (whole seconds, rounded up), so a client of
	// this daemon waits as long as the daemon itself would: matrixd's
	// search answering vectord's "still loading" carries its Retry-After.
	if d, ok := RetryAfter(err); ok && (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
	SetAcceptEncoding(w.Header(), status, err)
	WriteBody(w, status, KindOf(err), Message(err), reqID)
}

// SetAcceptEncoding sets h's Accept-Encoding to the codings err's route
// takes (Error.AcceptEncoding) when err is answered with a 415 for its
// Content-Encoding, unless the handler set the field itself: RFC 9110
// 15.5.16 says such a 415 ought to name what would have been accepted.
// For writers of other body shapes too (chatd's OpenAI and Ollama bodies).
func SetAcceptEncoding(h http.Header, status int, err error) {
	var e *Error
	if status != http.StatusUnsupportedMediaType || !errors.As(err, &e) || h.Get("Accept-Encoding") != "" {
		return
	}
	for e.AcceptEncoding == "" {
		if !errors.As(e.Err, &e) {
			return
		}
	}
	h.Set("Accept-Encoding", e.AcceptEncoding)
}

// LogFailure logs err, the failure r is about to be answered with, as
// WriteHTTP does, and returns the error to answer: a 5xx at ERROR with its
// full text, or, when the caller left (CallerLeft), one INFO line and the
// 499 in its place. log may be nil (nothing is logged).
func LogFailure(log *slog.Logger, r *http.Request, reqID string, err error) error {
	left, gone := CallerLeft(r, err)
	if log == nil {
		return left
	}
	op := ""
	var e *Error
	if errors.As(err, &e) {
		op = e.Op
	}
	if op == "" && r != nil {
		op = r.Method + " " + r.URL.Path
	}
	switch {
	case gone:
		log.Info("request abandoned: the client closed the connection before the answer", "req_id", reqID, "op", op, "status", StatusClientClosed, "err", err.Error())
	case StatusOf(err) >= 500:
		log.Error("request failed", "req_id", reqID, "op", op, "status", StatusOf(err), "err", err.Error())
	}
	return left
}

// CallerLeft reports whether err, a server-side failure (5xx) of r, came
// from r's caller closing its connection: r's context was cancelled by
// net/http (its cause is plain context.Canceled), not by a deadline or by
// the daemon's own stop (shared cancels the daemon's context with a cause
// of its own). It then returns nginx's 499 (StatusClientClosed), kind
// Invalid (err itself goes to the log line only): a hang-up is the client's doing, not an ERROR
// line nor a server error in the metrics. (A caller leaving made every
// daemon's downstream call fail — matrixd's queryd call, ingestd's DuckDB
// interrupt — and each was logged at ERROR as a 503 or 502.)
func CallerLeft(r *http.Request, err error) (error, bool) {
	if r == nil || err == nil || StatusOf(err) < 500 {
		return err, false
	}
	ctx := r.Context()
	if ctx.Err() == nil || context.Cause(ctx) != context.Canceled {
		return err, false
	}
	return E("", Invalid, StatusClientClosed, "the client closed the connection before the answer"), true
}

// ErrorHeader carries a HEAD answer's error as "kind; message" with the
// message percent-escaped (a header holds no newline).
const ErrorHeader = "X-Lakehouse-Error"

// SetErrorHeader sets ErrorHeader in h for an error of kind with text
// msg, as WriteBody does: for writers of another body shape (chatd's
// OpenAI and Ollama bodies), so that every error answer carries it.
func SetErrorHeader(h http.Header, kind Kind, msg string) {
	h.Set(ErrorHeader, string(kind)+"; "+url.QueryEscape(truncate(msg, 1024)))
}

func fromErrorHeader(h http.Header) (Kind, string, bool) {
	v := h.Get(ErrorHeader)
	k, m, ok := strings.Cut(v, "; ")
	if !ok {
		return "", "", false
	}
	msg, err := url.QueryUnescape(m)
	if err != nil || statusOf[Kind(k)] == 0 {
		return "", "", false
	}
	return Kind(k), msg, true
}

// WriteBody writes a JSON error body directly. The error also travels in
// ErrorHeader: the answer to a HEAD has no body, and a client's
// "unavailable" must still name what is down.
func WriteBody(w http.ResponseWriter, status int, kind Kind, msg, reqID string) {
	b, _ := json.Marshal(Body{Error: BodyError{Kind: kind, Message: msg, RequestID: reqID}})
	h := w.Header()
	SetErrorHeader(h, kind, msg)
	h.Set("Content-Type", "application/json")
	// Sized, as net/http would size it at the handler's end: a writer that
	// flushes the answer before then (the gateway's, to see a cut) keeps
	// the same head.
	b = append(b, '\n')
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// FromResponse turns a non-2xx response into an *Error of the same Kind,
// reading (at most 64 KiB of) the body. op names the client operation.
// The answer's Retry-After, when it is one RFC 9110 allows, is kept on the
// error (RetryAfter); a malformed one is ignored.
func FromResponse(op string, resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var b Body
	kind := kindOfStatus(resp.StatusCode)
	msg := ""
	if json.Unmarshal(data, &b) == nil && b.Error.Kind != "" {
		kind = b.Error.Kind
		msg = b.Error.Message
	} else if k, m, ok := fromErrorHeader(resp.Header); ok && len(data) == 0 {
		kind, msg = k, m
	} else {
		msg = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, truncate(string(data), 200))
	}
	status := 0
	if resp.StatusCode != statusOf[kind] {
		status = resp.StatusCode
	}
	e := &Error{Op: op, Kind: kind, Msg: msg, Status: status}
	e.RetryAfter, e.HasRetryAfter = RetryAfterHeader(resp.Header)
	return e
}

// RetryAfterHeader is ParseRetryAfter of an answer's Retry-After field,
// an HTTP date counted from the answer's own Date (answerTime): the one
// reading of the header for every client of an HTTP service (FromResponse,
// chatd's upstreams, the Langfuse batcher), each with its own policy of
// how long it is willing to wait.
func RetryAfterHeader(h http.Header) (wait time.Duration, ok bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	return ParseRetryAfter(v, answerTime(h))
}

// answerTime is the time an HTTP date in an answer's Retry-After counts
// from: the answer's own Date when it has a valid one (a server's clock
// ahead of or behind ours does not change the wait it meant), else now.
func answerTime(h http.Header) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t
	}
	return time.Now()
}

// MaxRetryAfter bounds the wait ParseRetryAfter reports: a server asking
// for more (or for a number of seconds no time.Duration holds) is read as
// asking for this. What a caller waits is its own choice within it.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After field value (RFC 9110 10.2.3:
// delta-seconds, 1*DIGIT, or an HTTP-date, relative to now) as a wait in
// [0, MaxRetryAfter]; a date in the past is 0 (ask again at once). ""
// or anything else (a sign, a fraction, a malformed date, text) is not a
// Retry-After: ok is false and the wait 0.
func ParseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		// Digits only: ParseUint says ErrRange for a long number before it
		// sees a letter after it ("100000000000000000000A").
		if strings.Trim(v, "0123456789") != "" {
			return 0, false
		}
		secs, err := strconv.ParseUint(v, 10, 64) // err: ErrRange only
		if err != nil || secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}

// RetryAfter reports the wait the server asked for (Retry-After) on the
// answer err was decoded from: the first *Error of err's chain that carries
// one, when it is of err's own kind (KindOf) — a 503 with Retry-After that
// a caller wrapped as another kind (a conflict, an internal error) is no
// longer a request to ask again.
func RetryAfter(err error) (time.Duration, bool) {
	e, ok := RetryAfterOf(err)
	if !ok {
		return 0, false
	}
	return e.RetryAfter, true
}

// RetryAfterOf is the *Error that RetryAfter reads: the answer that
// asked to be called again (its Op, Status and Message name the call and
// what it said).
func RetryAfterOf(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	kind := KindOf(err)
	var found *Error
	walk(err, func(e *Error) bool {
		if e.HasRetryAfter {
			found = e
			return true
		}
		return false
	})
	if found == nil || found.Kind != kind {
		return nil, false
	}
	return found, true
}

// walk calls f on each *Error in err's chain, depth first through both
// Unwrap forms (errors.Join, fmt.Errorf with several %w), until f returns
// true.
func walk(err error, f func(*Error) bool) bool {
	for err != nil {
		if e, ok := err.(*Error); ok && f(e) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				if walk(x, f) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
