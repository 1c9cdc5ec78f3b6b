package chatd

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/errs"
)

// Outcomes of a request and of one upstream attempt (the outcome label).
const (
	outcomeOK         = "ok"             // the whole answer
	outcomeInvalid    = "invalid"        // the request's fault: chatd or the upstream refused it (400, 404), an unknown or unregistered provider
	outcomeUpstream   = "upstream_error" // the upstream failed: unreachable, 5xx, 401/403, a broken or oversized stream, nothing registered
	outcomeTimeout    = "timeout"        // [chatd].timeout, stream_idle_timeout or request_timeout passed
	outcomeClientGone = "client_gone"    // the client closed the connection before the answer's end
)

// outcomes are every outcome label, in the order above.
var outcomes = []string{outcomeOK, outcomeInvalid, outcomeUpstream, outcomeTimeout, outcomeClientGone}

// noProvider is the provider label of a request that reached no upstream
// (an unknown or unregistered provider, nothing registered, a request the
// route refused). The label never holds what a client sent: a provider
// name is one of chat.ProviderNames once candidates accepted it.
const noProvider = "none"

// Stream labels: streamUnknown is a refused request whose body was not
// read far enough to say (it did not decode); its provider is none.
const (
	streamTrue    = "true"
	streamFalse   = "false"
	streamUnknown = "unknown"
)

// Outcomes of the deprecated chatd_upstream_attempts_total.
const (
	attemptOK       = "ok"
	attemptRetry    = "retry"
	attemptFallback = "fallback"
	attemptFailed   = "failed"
)

// metrics are chatd's domain metrics on /metrics (ADR-162's rules: base
// units, labels only from bounded sets — provider from the fixed provider
// list, stream true|false (unknown for a refused body), outcome above;
// never a model name a client sends). All of chatd's metrics are here, and
// every bounded label set exists at 0 from the start (preinit): a fresh
// chatd's /metrics lists each registered provider's series, so rate() and
// absent() in alert rules see them before the first request.
//
// The older chatd_upstream_attempts_total and
// chatd_time_to_first_token_seconds are kept as deprecated aliases (their
// HELP says so), fed by the same calls as their lakehouse_chatd_*
// successors: an operator's rules on them keep working after an upgrade.
type metrics struct {
	requests   *prometheus.CounterVec   // provider, stream, outcome
	upstream   *prometheus.CounterVec   // provider, outcome
	retries    *prometheus.CounterVec   // provider
	fallbacks  *prometheus.CounterVec   // provider
	firstToken *prometheus.HistogramVec // provider
	duration   *prometheus.HistogramVec // provider
	prompt     *prometheus.CounterVec   // provider
	completion *prometheus.CounterVec   // provider

	// Deprecated aliases (see above).
	attempts *prometheus.CounterVec   // provider, outcome (ok, retry, fallback, failed)
	ttft     *prometheus.HistogramVec // provider
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_requests_total",
			Help: "Chat requests, by the provider that answered (or the last one tried; none if no upstream was tried, as for a request refused before the dispatcher), stream (true|false; unknown for a body that did not decode) and outcome (ok, invalid, upstream_error, timeout, client_gone)."},
			[]string{"provider", "stream", "outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_upstream_requests_total",
			Help: "Upstream attempts (each retry and fallback is one), by provider and outcome (ok: the answer read to its end)."},
			[]string{"provider", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_upstream_retries_total",
			Help: "Transient upstream failures retried on the same provider ([chatd].retries), by provider."},
			[]string{"provider"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_fallbacks_total",
			Help: "Times auto gave up on a provider and went on to the next one of [chatd].fallback, by the provider given up on."},
			[]string{"provider"}),
		firstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lakehouse_chatd_upstream_first_token_seconds",
			Help:    "Time from an upstream attempt's start to the answer's first token (content, reasoning or a tool call), by provider.",
			Buckets: prometheus.ExponentialBuckets(0.025, 2, 14)},
			[]string{"provider"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lakehouse_chatd_upstream_duration_seconds",
			Help:    "Time from an upstream attempt's start to its answer's end, for answers read to their end, by provider.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}},
			[]string{"provider"}),
		prompt: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_prompt_tokens_total",
			Help: "Prompt tokens of whole answers, as the upstream reported them in its usage, by provider."},
			[]string{"provider"}),
		completion: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_completion_tokens_total",
			Help: "Completion tokens of whole answers, as the upstream reported them in its usage, by provider."},
			[]string{"provider"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatd_upstream_attempts_total",
			Help: "Deprecated: use lakehouse_chatd_upstream_requests_total, lakehouse_chatd_upstream_retries_total and lakehouse_chatd_fallbacks_total. Upstream chat attempts by provider and outcome (ok: the first token came; retry, fallback, failed)."},
			[]string{"provider", "outcome"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chatd_time_to_first_token_seconds",
			Help:    "Deprecated: use lakehouse_chatd_upstream_first_token_seconds. Time from an attempt's start to its first token.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)},
			[]string{"provider"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.upstream, m.retries, m.fallbacks, m.firstToken, m.duration, m.prompt, m.completion,
		m.attempts, m.ttft}
}

// preinit makes every series a request can produce exist at 0: for each
// registered provider (the only ones a request can reach) its requests by
// stream and outcome, attempts by outcome, retries, fallbacks, latencies
// and tokens; for none, its requests by stream (true, false, unknown) and
// every outcome but ok. Providers not registered never appear: their requests count
// under none.
func (m *metrics) preinit(registered []string) {
	for _, o := range outcomes[1:] { // none never answered: no ok
		for _, s := range []string{streamTrue, streamFalse, streamUnknown} {
			m.requests.WithLabelValues(noProvider, s, o)
		}
	}
	for _, p := range registered {
		for _, o := range outcomes {
			m.requests.WithLabelValues(p, streamTrue, o)
			m.requests.WithLabelValues(p, streamFalse, o)
			m.upstream.WithLabelValues(p, o)
		}
		for _, o := range []string{attemptOK, attemptRetry, attemptFallback, attemptFailed} {
			m.attempts.WithLabelValues(p, o)
		}
		m.retries.WithLabelValues(p)
		m.fallbacks.WithLabelValues(p)
		m.firstToken.WithLabelValues(p)
		m.ttft.WithLabelValues(p)
		m.duration.WithLabelValues(p)
		m.prompt.WithLabelValues(p)
		m.completion.WithLabelValues(p)
	}
}

// request counts one request's end.
func (m *metrics) request(provider string, stream bool, outcome string) {
	s := streamFalse
	if stream {
		s = streamTrue
	}
	m.requests.WithLabelValues(provider, s, outcome).Inc()
}

// refused counts a request a route refused before the dispatcher: provider
// none, stream unknown when its body did not decode; invalid, unless the
// request itself ended (its deadline, the client) or its body stalled.
func (m *metrics) refused(ctx context.Context, stream *bool, err error) {
	s := streamUnknown
	if stream != nil {
		s = streamFalse
		if *stream {
			s = streamTrue
		}
	}
	outcome := outcomeInvalid
	switch {
	case ctx.Err() != nil:
		outcome = endedOutcome(ctx)
	case errs.KindOf(err) == errs.Timeout:
		outcome = outcomeTimeout
	}
	m.requests.WithLabelValues(noProvider, s, outcome).Inc()
}

// firstTokenAfter observes an attempt's time to its first token (and its
// deprecated alias).
func (m *metrics) firstTokenAfter(provider string, d time.Duration) {
	m.firstToken.WithLabelValues(provider).Observe(d.Seconds())
	m.ttft.WithLabelValues(provider).Observe(d.Seconds())
}

// answered counts an attempt whose answer was read to its end: its
// duration and the usage the upstream reported (if any).
func (m *metrics) answered(provider string, start time.Time, u *chat.Usage) {
	m.upstream.WithLabelValues(provider, outcomeOK).Inc()
	m.duration.WithLabelValues(provider).Observe(time.Since(start).Seconds())
	if u != nil {
		m.prompt.WithLabelValues(provider).Add(float64(max(u.PromptTokens, 0)))
		m.completion.WithLabelValues(provider).Add(float64(max(u.CompletionTokens, 0)))
	}
}

// outcomeOf is the outcome of an error a request ends with.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errs.StatusOf(err) == errs.StatusClientClosed:
		return outcomeClientGone
	}
	return kindOutcome(errs.KindOf(err))
}

func kindOutcome(k errs.Kind) string {
	switch k {
	case errs.Timeout:
		return outcomeTimeout
	case errs.Invalid, errs.NotFound:
		return outcomeInvalid
	}
	return outcomeUpstream
}

// endedOutcome is the outcome of an attempt or stream that stopped because
// the request itself ended (ctx done): its deadline or the client.
func endedOutcome(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return outcomeTimeout
	}
	return outcomeClientGone
}
