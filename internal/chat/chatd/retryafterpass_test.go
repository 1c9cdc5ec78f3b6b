package chatd_test

import (
	"io"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestBusyUpstreamRetryAfter: when every provider answered 429 (rate
// limited) or 503 (overloaded), chatd answers 503 unavailable with the
// longest Retry-After an upstream gave (ADR-114). It answered 502 without
// one: the OpenAI SDKs (openai-node v6, openai-python) retry a 502 or 503
// after their own ~0.5-8 s backoff unless the answer has Retry-After
// (retry-after-ms / retry-after up to 60 s), so a client hammered a
// provider that had said when to come back. Requests are the bytes the
// official SDKs send.
func TestBusyUpstreamRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ollama     chattest.Script
		openrouter chattest.Script
		model      string
		status     int
		retryAfter string
	}{
		{"ollama 429, wait over max_retry_wait", chattest.Script{FailFirst: 1 << 30, FailStatus: 429, RetryAfter: "30"}, chattest.Script{}, "ollama/m", 503, "30"},
		{"openrouter 429 in a 200 body", chattest.Script{}, chattest.Script{FailFirst: 1 << 30, FailStatus: 429, RetryAfter: "20", FailInBody: true}, "openrouter/m", 503, "20"},
		{"auto: 429 then 503, the longer wait", chattest.Script{FailFirst: 1 << 30, FailStatus: 429, RetryAfter: "12"},
			chattest.Script{FailFirst: 1 << 30, FailStatus: 503, RetryAfter: "45"}, "", 503, "45"},
		{"503 without Retry-After", chattest.Script{FailFirst: 1 << 30, FailStatus: 503}, chattest.Script{}, "ollama/m", 503, ""},
		{"auto: 429 and a 500 stays 502", chattest.Script{FailFirst: 1 << 30, FailStatus: 429, RetryAfter: "30"},
			chattest.Script{FailFirst: 1 << 30, FailStatus: 500}, "", 502, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t)
			fakeUpstream(t, cfg, "ollama", tc.ollama)
			fakeUpstream(t, cfg, "openrouter", tc.openrouter)
			cfg.Chatd.Fallback = []string{"ollama", "openrouter"}
			cfg.Chatd.Retries = 0
			e := start(t, cfg)
			model := tc.model
			if model == "" {
				model = "m"
			}
			for _, rq := range []struct{ route, body string }{
				{chat.RouteCompletions, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`},
				{chat.RouteCompletions, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
				{chat.RouteChat, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`},
				{chat.RouteOllamaChat, `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}],"stream":false}`},
			} {
				resp := e.post(t, rq.route, rq.body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				kind, msg := errFields(rq.route, b)
				if resp.StatusCode != tc.status || kind != "unavailable" || msg == "" || resp.Header.Get("Retry-After") != tc.retryAfter {
					t.Errorf("%s %s: %d Retry-After %q %s; want %d unavailable with Retry-After %q",
						rq.route, rq.body, resp.StatusCode, resp.Header.Get("Retry-After"), b, tc.status, tc.retryAfter)
				}
			}
		})
	}
}
