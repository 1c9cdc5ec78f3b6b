package chatd_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/metricstest"
)

// TestChatMetrics: chatd's lakehouse_chatd_* on the real /metrics after
// real requests over both wire protocols (Ollama NDJSON, OpenAI SSE), with
// exact counts: whole answers streamed and not, with their usage; a stream
// broken by the upstream; an idle timeout; a client that hangs up
// mid-stream; a retry then a fallback; an unregistered provider and an
// unknown model (whose name is never a label). Linted with promlint.
func TestChatMetrics(t *testing.T) {
	const secretModel = "secret-model-9f3a"
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			ok := chattest.Script{Tokens: []string{"Hel", "lo", "!"}, PromptTokens: 11, CompletionTokens: 5, Models: []string{"m1"}}
			up, base := u.start(ok)
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			cfg.Chatd.OllamaModel, cfg.Chatd.OpenRouterModel = "m1", "m1"
			other := fakeUpstream(t, cfg, chat.OpenCode, chattest.Script{PromptTokens: 2, CompletionTokens: 3})
			cfg.Chatd.Fallback = []string{u.name, chat.OpenCode}
			cfg.Chatd.StreamIdleTimeout = shared.Duration{Duration: time.Second}
			e := start(t, cfg)
			ctx := context.Background()

			// 1. A whole answer, not streamed (native route).
			if r, err := e.client.Chat(ctx, chat.Request{Messages: userMsg("hi")}); err != nil || r.Provider != u.name {
				t.Fatalf("chat: %+v %v", r, err)
			}
			// 2. A whole answer streamed (OpenAI SSE route).
			resp := e.post(t, chat.RouteCompletions, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
			if _, done := readSSE(t, resp.Body, nil); !done || resp.StatusCode != 200 {
				t.Fatalf("stream: %d done=%v", resp.StatusCode, done)
			}
			resp.Body.Close()
			// 3. A stream the upstream breaks after its first token.
			up.SetScript(chattest.Script{Tokens: chattest.Tokens(5), BreakAfter: 2, Models: []string{"m1"}})
			if err := drain(e, ctx); !errs.Is(err, errs.Unavailable) {
				t.Fatalf("broken stream: %v", err)
			}
			// 4. A stream that goes quiet past stream_idle_timeout.
			up.SetScript(chattest.Script{Tokens: chattest.Tokens(3), Delay: 3 * time.Second, Models: []string{"m1"}})
			if err := drain(e, ctx); !errs.Is(err, errs.Timeout) {
				t.Fatalf("idle stream: %v", err)
			}
			// 5. A client that hangs up after the first event.
			hold := make(chan struct{})
			defer close(hold)
			up.SetScript(chattest.Script{Tokens: chattest.Tokens(3), Hold: hold, Models: []string{"m1"}})
			cctx, cancel := context.WithCancel(ctx)
			req, _ := http.NewRequestWithContext(cctx, http.MethodPost, e.srv.URL()+chat.RouteCompletions,
				strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
			resp, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			waitMetric(t, e, "lakehouse_chatd_requests_total", 1, "provider", u.name, "stream", "true", "outcome", "client_gone")
			// 6. Two 503s: one retry, then auto falls back to opencode.
			up.SetScript(chattest.Script{FailFirst: 2, FailStatus: 503, Models: []string{"m1"}})
			if r, err := e.client.Chat(ctx, chat.Request{Messages: userMsg("hi")}); err != nil || r.Provider != chat.OpenCode {
				t.Fatalf("fallback: %+v %v", r, err)
			}
			// 7. An unknown provider (refused by the route's validation,
			// before the dispatcher: counted under none), an unregistered
			// one, a model the upstream does not have.
			if _, err := e.client.Chat(ctx, chat.Request{Provider: "nope", Messages: userMsg("hi")}); !errs.Is(err, errs.Invalid) {
				t.Fatalf("unknown provider: %v", err)
			}
			if _, err := e.client.Chat(ctx, chat.Request{Provider: chat.Kimi, Messages: userMsg("hi")}); !errs.Is(err, errs.NotFound) {
				t.Fatalf("unregistered provider: %v", err)
			}
			up.SetScript(ok)
			if _, err := e.client.Chat(ctx, chat.Request{Provider: u.name, Model: secretModel, Messages: userMsg("hi")}); !errs.Is(err, errs.NotFound) {
				t.Fatalf("unknown model: %v", err)
			}
			if n := len(other.Calls()); n != 1 {
				t.Fatalf("opencode called %d times, want 1", n)
			}

			m := metricstest.Scrape(t, e.srv.URL())
			for _, tc := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"lakehouse_chatd_requests_total", []string{"provider", u.name, "stream", "false", "outcome", "ok"}, 1},
				{"lakehouse_chatd_requests_total", []string{"provider", u.name, "stream", "true", "outcome", "ok"}, 1},
				{"lakehouse_chatd_requests_total", []string{"provider", u.name, "stream", "true", "outcome", "upstream_error"}, 1},
				{"lakehouse_chatd_requests_total", []string{"provider", u.name, "stream", "true", "outcome", "timeout"}, 1},
				{"lakehouse_chatd_requests_total", []string{"provider", u.name, "stream", "true", "outcome", "client_gone"}, 1},
				{"lakehouse_chatd_requests_total", []string{"provider", chat.OpenCode, "stream", "false", "outcome", "ok"}, 1},
				{"lakehouse_chatd_requests_total", []string{"provider", "none", "stream", "false", "outcome", "invalid"}, 2},
				{"lakehouse_chatd_requests_total", []string{"provider", u.name, "stream", "false", "outcome", "invalid"}, 1},
				{"lakehouse_chatd_upstream_requests_total", []string{"provider", u.name, "outcome", "ok"}, 2},
				{"lakehouse_chatd_upstream_requests_total", []string{"provider", u.name, "outcome", "upstream_error"}, 3},
				{"lakehouse_chatd_upstream_requests_total", []string{"provider", u.name, "outcome", "timeout"}, 1},
				{"lakehouse_chatd_upstream_requests_total", []string{"provider", u.name, "outcome", "client_gone"}, 1},
				{"lakehouse_chatd_upstream_requests_total", []string{"provider", u.name, "outcome", "invalid"}, 1},
				{"lakehouse_chatd_upstream_requests_total", []string{"provider", chat.OpenCode, "outcome", "ok"}, 1},
				{"lakehouse_chatd_upstream_retries_total", []string{"provider", u.name}, 1},
				{"lakehouse_chatd_fallbacks_total", []string{"provider", u.name}, 1},
				{"lakehouse_chatd_upstream_first_token_seconds", []string{"provider", u.name}, 5},
				{"lakehouse_chatd_upstream_first_token_seconds", []string{"provider", chat.OpenCode}, 1},
				{"lakehouse_chatd_upstream_duration_seconds", []string{"provider", u.name}, 2},
				{"lakehouse_chatd_upstream_duration_seconds", []string{"provider", chat.OpenCode}, 1},
				{"lakehouse_chatd_prompt_tokens_total", []string{"provider", u.name}, 22},
				{"lakehouse_chatd_completion_tokens_total", []string{"provider", u.name}, 10},
				{"lakehouse_chatd_prompt_tokens_total", []string{"provider", chat.OpenCode}, 2},
				{"lakehouse_chatd_completion_tokens_total", []string{"provider", chat.OpenCode}, 3},
				// The deprecated aliases, fed by the same calls: an attempt
				// is ok at its first token.
				{"chatd_upstream_attempts_total", []string{"provider", u.name, "outcome", "ok"}, 5},
				{"chatd_upstream_attempts_total", []string{"provider", u.name, "outcome", "retry"}, 1},
				{"chatd_upstream_attempts_total", []string{"provider", u.name, "outcome", "fallback"}, 1},
				{"chatd_upstream_attempts_total", []string{"provider", u.name, "outcome", "failed"}, 1},
				{"chatd_upstream_attempts_total", []string{"provider", chat.OpenCode, "outcome", "ok"}, 1},
				{"chatd_time_to_first_token_seconds", []string{"provider", u.name}, 5},
				{"chatd_time_to_first_token_seconds", []string{"provider", chat.OpenCode}, 1},
			} {
				if got, found := m.Value(tc.name, tc.labels...); !found || got != tc.want {
					t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, found, tc.want)
				}
			}
			// Every request counted once, every attempt once.
			if got := m.Sum("lakehouse_chatd_requests_total"); got != 9 {
				t.Errorf("requests_total sums to %v, want 9", got)
			}
			if got := m.Sum("lakehouse_chatd_upstream_requests_total"); got != 9 {
				t.Errorf("upstream_requests_total sums to %v, want 9", got)
			}
			for name, fam := range m {
				for _, s := range fam.GetMetric() {
					for _, l := range s.GetLabel() {
						if strings.Contains(l.GetValue(), secretModel) || l.GetValue() == "nope" {
							t.Errorf("%s has a label from the request: %s=%q", name, l.GetName(), l.GetValue())
						}
					}
				}
			}
			m.Lint(t, "lakehouse_chatd_")
			m.Lint(t, "chatd_")
		})
	}
}

// drain reads a native NDJSON stream to its end and returns the error it
// ended with (nil after the last line).
func drain(e *env, ctx context.Context) error {
	st, err := e.client.ChatStream(ctx, chat.Request{Messages: userMsg("hi")})
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		if _, err := st.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// waitMetric polls /metrics until the sample is want (the stream's end
// is counted when chatd's handler returns, after the client left).
func waitMetric(t *testing.T, e *env, name string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metricstest.Scrape(t, e.srv.URL()).Get(name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v after 10 s, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
