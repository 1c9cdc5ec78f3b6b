package chat

import (
	"net/http"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestRetryAfter: an upstream's Retry-After is read as errs.ParseRetryAfter
// reads it (ADR-167), seconds or an HTTP date counted from the answer's own
// Date. chatd's own parser read a malformed 999999999999999999999x as the
// longest wait there is (strconv reports the overflow before the letter),
// held an all-digit huge value at 292 years instead of a day, and counted a
// date from chatd's clock: an upstream whose clock ran an hour ahead asking
// for 2 s was read as an hour's pause.
func TestRetryAfter(t *testing.T) {
	date := "Sun, 29 Nov 2026 08:00:00 GMT" // the answer's own Date
	for _, tc := range []struct {
		v, date string
		want    time.Duration
	}{
		{"", date, 0},
		{"7", date, 7 * time.Second},
		{"0", date, 0},
		{"-3", date, 0},
		{"1.5", date, 0},
		{"soon", date, 0},
		{"999999999999999999999x", date, 0},
		{"99999999999999999999x", "", 0},
		{"7x", date, 0},
		{"Sun, 29 Nov 2026 09:00:00 GMT", date, time.Hour},
		{"Sun, 29 Nov 2026 08:00:02 GMT", date, 2 * time.Second},
		{"Sun, 29 Nov 2026 07:00:00 GMT", date, 0},
		{"Sunday, 29-Nov-26 08:00:05 GMT", date, 5 * time.Second}, // RFC 850
		{"Sun Nov 29 08:00:03 2026", date, 3 * time.Second},       // asctime
		// Too big for a Duration, or for int64: the longest wait the
		// shared parser reports (a day), never a wrapped-around one
		// (ADR-107).
		{"9999999999", date, errs.MaxRetryAfter},
		{"99999999999999999999", date, errs.MaxRetryAfter},
		{"-99999999999999999999", date, 0},
		{"86400", date, 24 * time.Hour},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if tc.date != "" {
			h.Set("Date", tc.date)
		}
		if got := RetryAfter(h); got != tc.want {
			t.Errorf("Retry-After %q (Date %q): %v, want %v", tc.v, tc.date, got, tc.want)
		}
		// The same as the shared parser, whatever the value.
		now, _ := http.ParseTime(tc.date)
		if tc.date == "" {
			continue
		}
		if want, _ := errs.ParseRetryAfter(tc.v, now); RetryAfter(h) != want {
			t.Errorf("Retry-After %q: %v, errs.ParseRetryAfter says %v", tc.v, RetryAfter(h), want)
		}
	}
}
