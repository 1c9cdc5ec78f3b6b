package chatd_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestUpstreamRetryAfterSharedParser: chatd reads an upstream's
// Retry-After as errs.ParseRetryAfter does (ADR-167), over both wire
// protocols (OpenRouter's in a 200 body too), keeping its own policy: wait
// and retry when the wait is within [chatd].max_retry_wait.
//   - A malformed 999999999999999999999x is no Retry-After: the 429 is
//     retried after the backoff. chatd's own parser read it as the longest
//     wait (strconv reports the overflow before the letter), gave up on the
//     provider and answered 503 with Retry-After: 86400.
//   - An HTTP date counts from the answer's own Date: an upstream whose
//     clock runs an hour ahead asking for one second is retried after a
//     second. chatd's parser counted from its own clock, an hour's pause,
//     and answered 503.
func TestUpstreamRetryAfterSharedParser(t *testing.T) {
	ahead := time.Now().Add(time.Hour).UTC()
	for _, u := range []struct {
		provider string
		inBody   bool
	}{{chat.Ollama, false}, {chat.OpenRouter, false}, {chat.OpenRouter, true}} {
		for _, tc := range []struct {
			name, retryAfter, date string
			minWait                time.Duration
		}{
			{"malformed", "999999999999999999999x", "", 0},
			{"date from the answer's Date", ahead.Add(time.Second).Format(http.TimeFormat), ahead.Format(http.TimeFormat), 900 * time.Millisecond},
		} {
			name := u.provider
			if u.inBody {
				name += " in a 200 body"
			}
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				cfg := config(t)
				up := fakeUpstream(t, cfg, u.provider, chattest.Script{FailFirst: 1, FailStatus: 429, RetryAfter: tc.retryAfter,
					FailDate: tc.date, FailInBody: u.inBody, Tokens: []string{"fine"}})
				cfg.Chatd.Retries = 1
				e := start(t, cfg)
				begin := time.Now()
				resp := e.post(t, chat.RouteChat, `{"model":"`+u.provider+`/m","messages":[{"role":"user","content":"hi"}]}`)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(begin)
				if resp.StatusCode != 200 || len(up.Calls()) != 2 {
					t.Fatalf("Retry-After %q (Date %q): %d %s after %d upstream calls (Retry-After %q); want 200 after one retry",
						tc.retryAfter, tc.date, resp.StatusCode, b, len(up.Calls()), resp.Header.Get("Retry-After"))
				}
				if took < tc.minWait || took > 8*time.Second {
					t.Fatalf("answered after %v; want the upstream's wait of at least %v", took, tc.minWait)
				}
			})
		}
	}
}
