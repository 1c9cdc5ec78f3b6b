package shared

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestLangfuseRetryAfterSharedParser: the batcher reads Langfuse's
// Retry-After as errs.ParseRetryAfter does (ADR-167) and keeps its own
// policy: the longer of its backoff (lfBackoff) and the wait asked for,
// at most lfMaxRetryAfter. Its own parser took seconds only: an HTTP date
// (counted from the answer's own Date, here an hour ahead of ours) was
// ignored and the batch sent again after half a second, and an all-digit
// value past int was ignored too instead of read as the longest wait.
// A malformed value is ignored by both.
func TestLangfuseRetryAfterSharedParser(t *testing.T) {
	ahead := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name, retryAfter, date string
		min, max               time.Duration
	}{
		{"malformed", "999999999999999999999x", "", lfBackoff - 50*time.Millisecond, lfBackoff + time.Second},
		{"a date past the answer's Date", ahead.Add(-time.Minute).Format(http.TimeFormat), ahead.Format(http.TimeFormat), lfBackoff - 50*time.Millisecond, lfBackoff + time.Second},
		{"a date from the answer's Date", ahead.Add(2 * time.Second).Format(http.TimeFormat), ahead.Format(http.TimeFormat), 1900 * time.Millisecond, 3500 * time.Millisecond},
		{"more seconds than int holds", "99999999999999999999", "", lfMaxRetryAfter - 100*time.Millisecond, lfMaxRetryAfter + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var posts []time.Time
			second := make(chan struct{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				posts = append(posts, time.Now())
				n := len(posts)
				mu.Unlock()
				if n == 1 {
					w.Header().Set("Retry-After", tc.retryAfter)
					if tc.date != "" {
						w.Header().Set("Date", tc.date)
					}
					http.Error(w, `{"message":"overloaded"}`, http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusMultiStatus)
				io.WriteString(w, `{"successes":[],"errors":[]}`)
				if n == 2 {
					close(second)
				}
			}))
			defer ts.Close()
			l := NewLangfuse(LangfuseConfig{URL: ts.URL, PublicKey: "pk", SecretKey: "sk", QueueSize: 8, BatchSize: 8,
				FlushInterval: Duration{10 * time.Millisecond}, Timeout: Duration{5 * time.Second}}, "chatd", slog.New(slog.DiscardHandler), nil)
			now := time.Now()
			l.span("req-1", "POST", "/v1/chat", "/v1/chat", 200, now, now, nil)
			select {
			case <-second:
			case <-time.After(10 * time.Second):
				t.Fatal("the batch was not sent again within 10 s")
			}
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			gap := posts[1].Sub(posts[0])
			mu.Unlock()
			if gap < tc.min || gap > tc.max {
				t.Fatalf("Retry-After %q (Date %q): sent again after %v, want %v..%v", tc.retryAfter, tc.date, gap, tc.min, tc.max)
			}
			if l.Sent() != 2 || l.Failed() != 0 {
				t.Fatalf("sent %d failed %d, want 2 and 0", l.Sent(), l.Failed())
			}
		})
	}
}
