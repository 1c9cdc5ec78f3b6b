package chatd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Dispatcher implements chat.Service over the providers: it picks the
// candidates (one named provider, or the fallback chain of registered ones
// for "auto"), retries transient failures with backoff, and falls back to
// the next candidate on any failure before the first token (ADR-064).
type Dispatcher struct {
	set       Settings
	providers map[string]chat.Provider // registered only
	info      []chat.ProviderInfo
	log       *slog.Logger
	started   int64

	m *metrics // lakehouse_chatd_* and the deprecated chatd_* (metrics.go)
}

var (
	_ chat.Service        = (*Dispatcher)(nil)
	_ chat.RefusalCounter = (*Dispatcher)(nil)
)

// NewDispatcher serves set over providers (one per registered provider in
// set). reg may be nil.
func NewDispatcher(set Settings, providers map[string]chat.Provider, log *slog.Logger, reg prometheus.Registerer) *Dispatcher {
	d := &Dispatcher{set: set, providers: providers, log: log, started: time.Now().Unix()}
	var registered []string
	for _, p := range set.Providers {
		d.info = append(d.info, chat.ProviderInfo{Name: p.Name, Registered: p.Registered && providers[p.Name] != nil,
			DefaultModel: p.Model, URL: p.URL, Reason: p.Reason})
		if d.info[len(d.info)-1].Registered {
			registered = append(registered, p.Name)
		}
	}
	d.m = newMetrics()
	d.m.preinit(registered)
	if reg != nil {
		reg.MustRegister(d.m.collectors()...)
	}
	return d
}

// Refused implements chat.RefusalCounter: a request the route refused
// before the dispatcher is counted in lakehouse_chatd_requests_total
// under provider none.
func (d *Dispatcher) Refused(ctx context.Context, stream *bool, err error) {
	d.m.refused(ctx, stream, err)
}

// Providers implements chat.Service.
func (d *Dispatcher) Providers(ctx context.Context) ([]chat.ProviderInfo, error) {
	return append([]chat.ProviderInfo(nil), d.info...), nil
}

// Models implements chat.Service.
func (d *Dispatcher) Models(ctx context.Context) (chat.ModelList, error) {
	ml := chat.ModelList{Object: "list", Data: []chat.Model{}}
	for _, p := range d.info {
		if p.Registered && p.DefaultModel != "" {
			ml.Data = append(ml.Data, chat.Model{ID: p.Name + "/" + p.DefaultModel, Object: "model", Created: d.started, OwnedBy: p.Name})
		}
	}
	return ml, nil
}

// candidate is one provider to try with a concrete model.
type candidate struct {
	name  string
	model string
	p     chat.Provider
}

// candidates resolves req.Provider/req.Model into the ordered list to try.
func (d *Dispatcher) candidates(req chat.Request) ([]candidate, bool, error) {
	provider, model := req.Provider, req.Model
	if prefix, rest := chat.SplitModel(model); prefix != "" && (provider == "" || provider == chat.Auto || provider == prefix) {
		provider, model = prefix, rest
	}
	info := func(name string) chat.ProviderInfo {
		for _, p := range d.info {
			if p.Name == name {
				return p
			}
		}
		return chat.ProviderInfo{}
	}
	if provider != "" && provider != chat.Auto {
		pi := info(provider)
		if pi.Name == "" {
			return nil, false, errs.Errorf("chat", errs.Invalid, "provider %q: want auto or one of %s", provider, strings.Join(chat.ProviderNames, ", "))
		}
		if !pi.Registered {
			return nil, false, errs.Errorf("chat", errs.NotFound, "provider %s is not registered (%s); registered: %s", provider, pi.Reason, d.registeredList())
		}
		if model == "" {
			model = pi.DefaultModel
		}
		if model == "" {
			return nil, false, errs.Errorf("chat", errs.Invalid, "model: required (provider %s has no default_model)", provider)
		}
		return []candidate{{name: provider, model: model, p: d.providers[provider]}}, false, nil
	}
	var out []candidate
	for _, name := range d.set.Fallback {
		pi := info(name)
		if !pi.Registered {
			continue
		}
		m := model
		if m == "" {
			m = pi.DefaultModel
		}
		if m == "" {
			continue
		}
		out = append(out, candidate{name: name, model: m, p: d.providers[name]})
	}
	if len(out) == 0 {
		return nil, true, errs.Errorf("chat", errs.Unavailable, "no provider to try: none of [chatd].fallback (%s) is registered with a model; registered: %s",
			strings.Join(d.set.Fallback, ", "), d.registeredList())
	}
	return out, true, nil
}

func (d *Dispatcher) registeredList() string {
	var names []string
	for _, p := range d.info {
		if p.Registered {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Chat implements chat.Service: the whole answer is collected from the
// upstream stream, so any failure (even mid-answer) can still retry and
// fall back: nothing has been sent yet.
func (d *Dispatcher) Chat(ctx context.Context, req chat.Request) (chat.Response, error) {
	var attempts []chat.AttemptFailure
	st, last, err := d.walk(ctx, req, true, &attempts)
	if err != nil {
		d.m.request(last, false, outcomeOf(err))
		return chat.Response{}, err
	}
	d.m.request(st.provider, false, outcomeOK)
	r := st.collected
	r.Attempts = attempts
	return r, nil
}

// ChatStream implements chat.Service: fallback ends with the first token.
func (d *Dispatcher) ChatStream(ctx context.Context, req chat.Request) (chat.Stream, error) {
	st, last, err := d.walk(ctx, req, false, nil)
	if err != nil {
		d.m.request(last, true, outcomeOf(err))
		return nil, err
	}
	return st, nil // its end is counted by the stream (stream.finish)
}

// failure is one failed attempt, classified.
type failure struct {
	provider   string
	kind       errs.Kind
	msg        string
	transient  bool
	retryAfter time.Duration
	status     int // the upstream's HTTP status (or in-band code), 0 if none
	tries      int
	// detail is the transport error as Go told it (method, upstream URL,
	// "dial tcp <addr>: connect: ..."): for the log only, msg says the cause.
	detail string
}

// logMsg is msg for the log, with the transport error's whole text.
func (f failure) logMsg() string {
	if f.detail == "" {
		return f.msg
	}
	return f.msg + " (" + f.detail + ")"
}

// transportCause is a transport error's cause as the client is told it:
// "connection refused", "no such host", a TLS failure — without Go's
// `Post "<upstream URL>": dial tcp <addr>: connect:` around it, which stays
// in the log (DESIGN.md; ADR-111 did the same for daemon-to-daemon calls).
func transportCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial ") {
		s = s[i+2:]
	}
	return s
}

var (
	errFirstToken = errors.New("first-token timeout")
	errIdle       = errors.New("stream idle timeout")

	// An upstream answer past chatd's bounds (ADR-094): its provider's
	// fault, not retried (the same prompt would run away again), but auto
	// falls back to the next provider.
	errAnswerTooLarge = fmt.Errorf("the answer passed chatd's limit of %d MiB (%d bytes) gathered from one upstream answer (content, reasoning, tool-call arguments)",
		chat.MaxAnswerBytes>>20, chat.MaxAnswerBytes)
	errAnswerTooManyCalls = fmt.Errorf("the answer has more than %d tool calls (chatd's limit)", chat.MaxToolCalls)
)

// classify turns an attempt's error into a failure. cause is the attempt
// context's cause (the watchdog's, or the request's).
func (d *Dispatcher) classify(name string, err, cause error) failure {
	f := failure{provider: name, kind: errs.Unavailable}
	var ue *chat.UpstreamError
	var unsup *chat.UnsupportedError
	var ne net.Error
	switch {
	case errors.Is(err, errAnswerTooLarge), errors.Is(err, errAnswerTooManyCalls):
		f.msg = err.Error()
	case errors.As(err, &unsup):
		f.kind, f.msg = errs.Invalid, unsup.Message
	case errors.Is(cause, errFirstToken):
		f.kind, f.msg = errs.Timeout, fmt.Sprintf("no first token within %v ([chatd].timeout)", d.set.Timeout)
	case errors.Is(cause, errIdle):
		f.kind, f.msg = errs.Timeout, fmt.Sprintf("no chunk for %v ([chatd].stream_idle_timeout)", d.set.StreamIdle)
	case errors.As(err, &ue):
		f.msg, f.retryAfter, f.transient, f.status = ue.Error(), ue.RetryAfter, ue.Transient(), ue.Status
		switch ue.Status {
		case 400, 413, 422:
			f.kind = errs.Invalid
		case 404:
			f.kind = errs.NotFound
		case 401, 403:
			f.msg = "the upstream rejected the API key: " + f.msg
		}
	case errors.As(err, &ne) && ne.Timeout():
		f.kind, f.msg = errs.Timeout, fmt.Sprintf("no first token within %v ([chatd].timeout): %v", d.set.Timeout, err)
	case errors.Is(err, chat.ErrEventTooLong):
		f.msg = fmt.Sprintf("the upstream sent an SSE event longer than %d bytes (data lines without the blank line that ends an event)", chat.MaxLine)
	case errors.Is(err, chat.ErrLineTooLong):
		// A protocol failure of an upstream that answered, not a transport
		// one: not "unreachable", and not retried (the same answer would
		// come again).
		f.msg = fmt.Sprintf("the upstream sent a line longer than %d bytes", chat.MaxLine)
	case errors.Is(err, io.ErrUnexpectedEOF):
		f.msg, f.transient = "the upstream stream ended before the answer was done", true
		if msg, ok := strings.CutPrefix(err.Error(), io.ErrUnexpectedEOF.Error()+": "); ok {
			f.msg += " (" + msg + ")" // what the adapter saw, e.g. a 200 with no event
		}
	default: // transport: refused, reset, DNS, TLS
		f.msg, f.detail, f.transient = "unreachable: "+transportCause(err), err.Error(), true
	}
	return f
}

// walk tries the candidates. With collect it reads each answer to the end
// (Chat); otherwise it returns as soon as an attempt produced its first
// chunk (ChatStream). last is the provider tried last (noProvider if
// none), the request's provider label when it fails.
func (d *Dispatcher) walk(ctx context.Context, req chat.Request, collect bool, attempts *[]chat.AttemptFailure) (_ *stream, last string, _ error) {
	last = noProvider
	cands, auto, err := d.candidates(req)
	if err != nil {
		return nil, last, err
	}
	preq := chat.ProviderRequest{Messages: req.Messages, Temperature: req.Temperature, MaxTokens: req.MaxTokens, TopP: req.TopP, Stop: chat.NonEmptyStops(req.Stop),
		Seed: req.Seed, FrequencyPenalty: req.FrequencyPenalty, PresencePenalty: req.PresencePenalty, ResponseFormat: req.JSONAnswer(),
		Tools: req.Tools, ToolChoice: req.ToolChoice, ParallelToolCalls: req.ParallelToolCalls, Think: req.Think,
		Logprobs: req.Logprobs, TopLogprobs: req.TopLogprobs, User: req.User}
	var fails []failure
	reqID := shared.RequestID(ctx)
	for i, c := range cands {
		preq.Model = c.model
		last = c.name
		for try := 0; ; try++ {
			st, err := d.attempt(ctx, c, preq, collect)
			if err == nil {
				d.m.attempts.WithLabelValues(c.name, attemptOK).Inc()
				return st, last, nil
			}
			if ctx.Err() != nil {
				return nil, last, requestEnded(ctx, c.name)
			}
			f := err.(*attemptError).f
			f.tries = try + 1
			wait := d.backoff(try, f.retryAfter)
			if f.transient && try < d.set.Retries && wait <= d.set.MaxRetryWait {
				d.m.attempts.WithLabelValues(c.name, attemptRetry).Inc()
				d.m.retries.WithLabelValues(c.name).Inc()
				d.log.Warn("chat attempt failed; retrying", "req_id", reqID, "op", "chat.attempt", "provider", c.name,
					"try", try+1, "wait_ms", wait.Milliseconds(), "err", f.logMsg())
				if !sleep(ctx, wait) {
					return nil, last, requestEnded(ctx, c.name)
				}
				continue
			}
			outcome := attemptFailed
			if auto {
				outcome = attemptFallback
			}
			d.m.attempts.WithLabelValues(c.name, outcome).Inc()
			if auto && i < len(cands)-1 {
				d.m.fallbacks.WithLabelValues(c.name).Inc()
			}
			d.log.Warn("chat provider failed", "req_id", reqID, "op", "chat.attempt", "provider", c.name,
				"tries", try+1, "kind", string(f.kind), "err", f.logMsg())
			fails = append(fails, f)
			if attempts != nil {
				*attempts = append(*attempts, chat.AttemptFailure{Provider: c.name, Error: f.msg})
			}
			break
		}
	}
	return nil, last, combine(fails)
}

// combine is the error after every candidate failed: one failure keeps its
// kind; several keep a kind they all share (invalid, not_found, timeout);
// a mix of invalid and not_found — the request's fault everywhere, as a
// model no provider has: Ollama's 404, OpenRouter's 400 "not a valid model
// ID" — is invalid (ADR-086; clients do not retry a 400 as they do a
// 502); anything else is 502 naming each provider's failure.
func combine(fails []failure) error {
	parts := make([]string, len(fails))
	kind := fails[0].kind
	callers := true // every failure is the request's (invalid, not_found)
	for i, f := range fails {
		parts[i] = f.provider + ": " + f.msg
		if f.tries > 1 {
			parts[i] += fmt.Sprintf(" (after %d tries)", f.tries)
		}
		callers = callers && (f.kind == errs.Invalid || f.kind == errs.NotFound)
		if f.kind != kind {
			kind = errs.Unavailable
		}
	}
	if kind == errs.Unavailable && callers {
		kind = errs.Invalid
	}
	msg := strings.Join(parts, "; ")
	if len(fails) > 1 {
		msg = "all providers failed: " + msg
	}
	if kind == errs.Unavailable && busy(fails) {
		// Every provider said "not now" (429 rate limited, 503
		// overloaded): a 503 with the longest Retry-After one gave, which
		// the OpenAI SDKs wait before their own retry (ADR-114). It was a
		// 502 without it, retried after the SDK's own half second.
		var after time.Duration
		for _, f := range fails {
			after = max(after, f.retryAfter)
		}
		return &chat.RetryAfterError{Err: errs.E("chat", errs.Unavailable, msg), After: after}
	}
	if kind == errs.Unavailable {
		return errs.E("chat", errs.Unavailable, errs.StatusBadGateway, msg)
	}
	return errs.E("chat", kind, msg)
}

// busy reports whether every failure is an upstream's 429 or 503.
func busy(fails []failure) bool {
	for _, f := range fails {
		if f.status != http.StatusTooManyRequests && f.status != http.StatusServiceUnavailable {
			return false
		}
	}
	return true
}

func requestEnded(ctx context.Context, provider string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errs.Errorf("chat", errs.Timeout, "request deadline passed while waiting for %s ([chatd].request_timeout)", provider)
	}
	return errs.E("chat", errs.Invalid, errs.StatusClientClosed, "the client closed the connection before the answer", ctx.Err())
}

func (d *Dispatcher) backoff(try int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	b := d.set.RetryBackoff << min(try, 10)
	return b/2 + rand.N(b/2+1) // jitter in [b/2, b]
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchdog bounds one attempt: until the first token by [chatd].timeout,
// then every gap between chunks by stream_idle_timeout. The timer's
// callback checks what it bounds instead of trusting that it was re-armed
// in time: a first-token firing after the first token was read, or an
// idle firing overtaken by a newer chunk, cancels nothing (ADR-113; the
// first-token timer used to cancel an answer whose first token had come
// while the attempt was switching timers).
type watchdog struct {
	t     *time.Timer
	start time.Time
	idle  time.Duration
	// phase: waiting for the first token, streaming, or timedOut (the
	// first-token timer won).
	phase atomic.Int32
	last  atomic.Int64 // time.Since(start) at the latest chunk, in ns
}

const (
	phaseWaiting int32 = iota
	phaseStreaming
	phaseTimedOut
)

func newWatchdog(start time.Time, first, idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{start: start, idle: idle}
	w.t = time.AfterFunc(first, func() {
		switch {
		case w.phase.CompareAndSwap(phaseWaiting, phaseTimedOut):
			cancel(errFirstToken)
		case w.phase.Load() == phaseStreaming:
			if time.Since(w.start)-time.Duration(w.last.Load()) >= w.idle {
				cancel(errIdle)
			}
			// else a chunk came since: its arm/chunk call re-arms the timer
		}
	})
	return w
}

// firstToken marks the first token as read; false if the first-token
// timer fired before (the attempt is cancelled).
func (w *watchdog) firstToken() bool {
	w.last.Store(int64(time.Since(w.start)))
	return w.phase.CompareAndSwap(phaseWaiting, phaseStreaming)
}

// arm starts the idle bound after firstToken.
func (w *watchdog) arm() { w.t.Reset(w.idle) }

// chunk notes a chunk and restarts the idle bound.
func (w *watchdog) chunk() {
	w.last.Store(int64(time.Since(w.start)))
	w.t.Reset(w.idle)
}

func (w *watchdog) Stop() { w.t.Stop() }

// testHookFirstToken, set by tests only, runs between an attempt's first
// token and its switch to the idle timer (the window ADR-113 closes).
var testHookFirstToken func()

type attemptError struct{ f failure }

func (e *attemptError) Error() string { return e.f.provider + ": " + e.f.msg }

// attempt runs one try on c until its first chunk (or, with collect, its
// last). A watchdog cancels the attempt when the first token takes longer
// than Timeout, or any later gap longer than StreamIdle.
func (d *Dispatcher) attempt(ctx context.Context, c candidate, preq chat.ProviderRequest, collect bool) (*stream, error) {
	start := time.Now()
	actx, cancel := context.WithCancelCause(ctx)
	watchdog := newWatchdog(start, d.set.Timeout, d.set.StreamIdle, cancel)
	gen := newGenTrace(ctx, c.name, preq, start) // the attempt as a Langfuse generation
	fail := func(err error) (*stream, error) {
		watchdog.Stop()
		cause := context.Cause(actx)
		cancel(context.Canceled)
		f := d.classify(c.name, err, cause)
		gen.end(f.msg)
		if ctx.Err() != nil {
			d.m.upstream.WithLabelValues(c.name, endedOutcome(ctx)).Inc()
		} else {
			d.m.upstream.WithLabelValues(c.name, kindOutcome(f.kind)).Inc()
		}
		return nil, &attemptError{f}
	}
	cs, err := c.p.Chat(actx, preq)
	if err != nil {
		return fail(err)
	}
	var first chat.Chunk
	// The first token: a chunk with content, reasoning or a tool call, or
	// the end. Reasoning counts (ADR-067): a thinking model is answering,
	// and a streamed client sees it, so fallback ends with it too.
	for {
		first, err = cs.Next()
		if err != nil {
			cs.Close()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fail(err)
		}
		if first.Content != "" || first.Thinking != "" || len(first.ToolCalls) > 0 || len(first.Logprobs) > 0 || first.Done {
			break
		}
	}
	if !watchdog.firstToken() { // [chatd].timeout passed before the first token was read
		cs.Close()
		return fail(context.Cause(actx))
	}
	if testHookFirstToken != nil {
		testHookFirstToken()
	}
	firstAt := time.Now()
	d.m.firstTokenAfter(c.name, firstAt.Sub(start))
	gen.firstToken(firstAt)
	watchdog.arm()
	st := &stream{d: d, provider: c.name, model: c.model, cs: cs, watchdog: watchdog, actx: actx, cancel: cancel,
		collect: collect, id: first.ID, created: firstAt.UTC(), gen: gen, start: start}
	if st.id == "" {
		st.id = "chatcmpl-" + shared.NewRequestID()
	}
	st.first = &first
	if !collect {
		return st, nil
	}
	defer st.Close()
	r := chat.Response{ID: st.id, Provider: c.name, Model: c.model, CreatedAt: st.created, Message: chat.Message{Role: chat.RoleAssistant}}
	var sb, thinking strings.Builder
	var calls chat.ToolCallAssembler
	for {
		chunk, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(st.rawErr)
		}
		sb.WriteString(chunk.Message.Content)
		thinking.WriteString(chunk.Message.Thinking)
		calls.Add(chunk.ToolCallDeltas)
		r.Logprobs = append(r.Logprobs, chunk.Logprobs...)
		r.Model, r.Done, r.DoneReason, r.Usage = chunk.Model, chunk.Done, chunk.DoneReason, chunk.Usage
	}
	r.Message.Content, r.Message.Thinking = sb.String(), thinking.String()
	if calls.Len() > 0 {
		r.Message.ToolCalls = calls.Calls()
	}
	st.collected = r
	d.m.answered(c.name, start, r.Usage)
	return st, nil
}

// stream is a started answer: chat.Stream over one provider's chunks.
type stream struct {
	d        *Dispatcher
	provider string
	model    string
	id       string
	created  time.Time
	cs       chat.ChunkStream
	first    *chat.Chunk
	watchdog *watchdog
	actx     context.Context
	cancel   context.CancelCauseFunc
	done     bool
	rawErr   error // the adapter's error behind the last Next error
	// callIDs are the indexes of the tool calls so far: a call the upstream
	// streamed without an id (Ollama) gets a fresh one on its first piece.
	callIDs map[int]bool
	gen     *genTrace // nil without Langfuse
	// collect: the answer is gathered whole (Chat), so its text counts
	// toward size as well as its tool calls' names and arguments (which
	// the NDJSON routes hold even when streaming). ADR-094.
	collect bool
	size    int

	collected chat.Response

	// start is the attempt's; finished: a streamed answer's end was
	// counted (finish). A collected answer is counted by attempt and
	// Chat instead.
	start    time.Time
	finished bool
}

// finish counts a streamed answer's end once: the attempt's and the
// request's outcome, and for a whole answer its duration and usage.
func (s *stream) finish(outcome string, u *chat.Usage) {
	if s.collect || s.finished {
		return
	}
	s.finished = true
	if outcome == outcomeOK {
		s.d.m.answered(s.provider, s.start, u)
	} else {
		s.d.m.upstream.WithLabelValues(s.provider, outcome).Inc()
	}
	s.d.m.request(s.provider, true, outcome)
}

func (s *stream) Next() (chat.Response, error) {
	if s.done {
		return chat.Response{}, io.EOF
	}
	var c chat.Chunk
	if s.first != nil {
		c, s.first = *s.first, nil
	} else {
		var err error
		c, err = s.cs.Next()
		if err != nil {
			s.done = true
			if errors.Is(err, io.EOF) { // adapters end with Done, not bare EOF
				err = io.ErrUnexpectedEOF
			}
			s.rawErr = err
			cause := context.Cause(s.actx)
			if s.actx.Err() != nil && !errors.Is(cause, errIdle) && !errors.Is(cause, errFirstToken) {
				// The request ended, not the upstream: its deadline
				// ([chatd].request_timeout) or the client's hang-up. The
				// transport reports either as its own failure ("context
				// deadline exceeded" reads as a net.Error timeout).
				err := requestEnded(s.actx, s.provider)
				s.gen.end(err.Error())
				s.finish(endedOutcome(s.actx), nil)
				return chat.Response{}, err
			}
			f := s.d.classify(s.provider, err, cause)
			s.gen.end(s.provider + " broke mid-answer: " + f.msg)
			s.finish(kindOutcome(f.kind), nil)
			if f.kind == errs.Unavailable {
				return chat.Response{}, errs.E("chat.stream", f.kind, errs.StatusBadGateway, s.provider+" broke mid-answer: "+f.msg)
			}
			return chat.Response{}, errs.E("chat.stream", f.kind, s.provider+" broke mid-answer: "+f.msg)
		}
		s.watchdog.chunk()
	}
	if s.collect {
		s.size += len(c.Content) + len(c.Thinking) + chat.LogprobsSize(c.Logprobs)
	}
	for _, d := range c.ToolCalls {
		s.size += len(d.Name) + len(d.Arguments)
	}
	if s.size > chat.MaxAnswerBytes {
		return s.overLimit(errAnswerTooLarge)
	}
	model := c.Model
	if model == "" {
		model = s.model
	}
	for i := range c.ToolCalls {
		d := &c.ToolCalls[i]
		if s.callIDs == nil {
			s.callIDs = map[int]bool{}
		}
		switch {
		case s.callIDs[d.Index]:
			d.ID = "" // the id goes with a call's first piece only
		case d.ID == "":
			d.ID = chat.NewToolCallID()
		}
		s.callIDs[d.Index] = true
		if len(s.callIDs) > chat.MaxToolCalls {
			return s.overLimit(errAnswerTooManyCalls)
		}
	}
	reason := c.DoneReason
	if c.Done {
		s.done = true
		// A tool-call answer ends with "tool_calls" on every route (Ollama,
		// and some OpenAI-compatible servers, say "stop").
		if len(s.callIDs) > 0 && (reason == "" || reason == "stop") {
			reason = "tool_calls"
		}
		s.finish(outcomeOK, c.Usage)
	}
	r := chat.Response{ID: s.id, Provider: s.provider, Model: model, CreatedAt: s.created,
		Message: chat.Message{Role: chat.RoleAssistant, Content: c.Content, Thinking: c.Thinking}, ToolCallDeltas: c.ToolCalls,
		Done: c.Done, DoneReason: reason, Usage: c.Usage, Logprobs: c.Logprobs}
	s.gen.add(r)
	return r, nil
}

// overLimit ends the answer at one of chatd's bounds (ADR-094): a 502
// naming the provider and the limit. Chat's attempt reads rawErr, so the
// attempt fails and auto falls back; a streamed client gets it as the
// stream's error frame. Close stops the upstream.
func (s *stream) overLimit(err error) (chat.Response, error) {
	s.done = true
	s.rawErr = err
	msg := s.provider + ": " + s.d.classify(s.provider, err, nil).msg
	s.gen.end(msg)
	s.finish(outcomeUpstream, nil)
	return chat.Response{}, errs.E("chat.stream", errs.Unavailable, errs.StatusBadGateway, msg)
}

func (s *stream) Close() error {
	if s.done {
		s.gen.end("")
	} else {
		s.gen.end("the answer was not read to its end (the client left or the request ended)")
		// The route stops reading only when the client is gone (a
		// failed write) or the request ended.
		outcome := outcomeClientGone
		if s.actx.Err() != nil && !errors.Is(context.Cause(s.actx), errIdle) {
			outcome = endedOutcome(s.actx)
		}
		s.finish(outcome, nil)
	}
	s.watchdog.Stop()
	s.cancel(context.Canceled)
	return s.cs.Close()
}
