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

// noProvider is the provider label of a request that reached no upstream
// (an unknown or unregistered provider, nothing registered). The label
// never holds what a client sent: a provider name is one of
// chat.ProviderNames once candidates accepted it.
const noProvider = "none"

// metrics are chatd's domain metrics on /metrics (ADR-162's rules: base
// units, labels only from bounded sets — provider from the fixed provider
// list, stream true|false, outcome above; never a model name a client
// sends). The older chatd_upstream_attempts_total and
// chatd_time_to_first_token_seconds stay as they were.
type metrics struct {
	requests   *prometheus.CounterVec   // provider, stream, outcome
	upstream   *prometheus.CounterVec   // provider, outcome
	retries    *prometheus.CounterVec   // provider
	fallbacks  *prometheus.CounterVec   // provider
	firstToken *prometheus.HistogramVec // provider
	duration   *prometheus.HistogramVec // provider
	prompt     *prometheus.CounterVec   // provider
	completion *prometheus.CounterVec   // provider
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_chatd_requests_total",
			Help: "Chat requests that reached the dispatcher, by the provider that answered (or the last one tried; none if no upstream was tried), stream (true|false) and outcome (ok, invalid, upstream_error, timeout, client_gone)."},
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
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.upstream, m.retries, m.fallbacks, m.firstToken, m.duration, m.prompt, m.completion}
}

// request counts one request's end.
func (m *metrics) request(provider string, stream bool, outcome string) {
	s := "false"
	if stream {
		s = "true"
	}
	m.requests.WithLabelValues(provider, s, outcome).Inc()
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
