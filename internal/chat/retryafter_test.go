package chat

import (
	"net/http"
	"testing"
	"time"
)

// TestRetryAfter: seconds and HTTP dates (an upstream's date form was
// ignored, so chatd retried a provider that asked for an hour's pause
// after its own short backoff).
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Sun, 29 Nov 2026 09:00:00 GMT": time.Hour,
		"Sun, 29 Nov 2026 08:00:02 GMT": 2 * time.Second,
		"Sun, 29 Nov 2026 07:00:00 GMT": 0,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}
