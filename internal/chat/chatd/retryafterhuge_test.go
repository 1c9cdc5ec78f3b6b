package chatd_test

import (
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestHugeRetryAfterNotRetried (ADR-107): an upstream 429 whose
// Retry-After is more seconds than a time.Duration holds (9999999999, or
// past int64) asks for a wait longer than [chatd].max_retry_wait, so chatd
// gives up on that provider at once (auto moves on) — as for any long
// wait. The number overflowed to a negative wait, read as none: chatd
// retried straight away, against the upstream's word.
func TestHugeRetryAfterNotRetried(t *testing.T) {
	for _, ra := range []string{"9999999999", "99999999999999999999"} {
		up := chattest.NewOllama(chattest.Script{FailFirst: 100, FailStatus: 429, RetryAfter: ra})
		cfg := config(t)
		configure(t, cfg, "ollama", up.URL)
		cfg.Chatd.Retries = 3
		e := start(t, cfg)
		resp := e.post(t, chat.RouteChat, `{"model":"ollama/m","messages":[{"role":"user","content":"hi"}]}`)
		// ADR-114: a 503 whose Retry-After is the upstream's, at most a day.
		got := resp.Header.Get("Retry-After")
		msg := errBody(t, resp, 503, "unavailable")
		if n := len(up.Calls()); n != 1 || !strings.Contains(msg, "429") || got != "86400" {
			t.Fatalf("Retry-After %s: %d upstream calls, want 1 (no retry); %q; Retry-After %q, want 86400", ra, n, msg, got)
		}
		up.Close()
	}
}
