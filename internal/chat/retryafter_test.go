package chat

import (
	"math"
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
		// Too big for a Duration, or for int64: the longest wait, never
		// a wrapped-around (negative or short) one (ADR-107).
		"9999999999":            math.MaxInt64,
		"99999999999999999999":  math.MaxInt64,
		"-99999999999999999999": 0,
		"9223372036":            9223372036 * time.Second,
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
