package matrix

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

const loadingOp = "vectord DELETE /v1/vectors/indexes/matrix.docs"

// answer is what the harness's client makes of vectord's answer with
// status and the Retry-After field retryAfter ("" none), sent at now
// (its Date): errs.FromResponse, as shared.Client calls it.
func answer(status int, retryAfter string, now time.Time) error {
	h := http.Header{"Date": {now.Format(http.TimeFormat)}}
	if retryAfter != "" {
		h["Retry-After"] = []string{retryAfter}
	}
	body := `{"error":{"kind":"unavailable","message":"vector indexes are still loading from storaged"}}`
	return errs.FromResponse(loadingOp, &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))})
}

// TestParseRetryAfter: the wait an index job takes from a 503's
// Retry-After (seconds or an HTTP date) is kept within [quickRetryMin,
// quickRetryMax]; a malformed field is no request to retry.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 3 ", 3 * time.Second, true},
		{"0", quickRetryMin, true},
		{"120", quickRetryMax, true},
		{"99999999999999999999999", quickRetryMax, true}, // past uint64
		{"99999999999999999999999x", 0, false},           // then not a number (it was read as quickRetryMax)
		{"1.5", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"soon", 0, false},
		{now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), quickRetryMin, true},
		{now.Add(time.Hour).Format(http.TimeFormat), quickRetryMax, true},
	} {
		service, msg, got, ok := upstreamStarting(answer(http.StatusServiceUnavailable, c.in, now))
		if got != c.want || ok != c.ok {
			t.Errorf("Retry-After %q: wait %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok && (service != "vectord" || msg != "vector indexes are still loading from storaged") {
			t.Errorf("Retry-After %q: service %q, message %q", c.in, service, msg)
		}
	}
}

// TestStartingNeedsItsOwnAnswer: only a 503 whose own answer carried
// Retry-After makes a failure a start, also wrapped by the job: not a 503
// without it, not a 502, not an error wrapped as another kind, not an
// upstream that did not answer.
func TestStartingNeedsItsOwnAnswer(t *testing.T) {
	now := time.Now()
	loading := answer(http.StatusServiceUnavailable, "1", now)
	if s, msg, wait, ok := upstreamStarting(loading); !ok || s != "vectord" || wait != time.Second || msg != errs.Message(loading) {
		t.Fatalf("the 503 with Retry-After: %q %q %v %v", s, msg, wait, ok)
	}
	wrapped := errs.E("matrix.index", errs.Unavailable, "the build", fmt.Errorf("step: %w", loading))
	if _, _, _, ok := upstreamStarting(errors.Join(errors.New("x"), wrapped)); !ok {
		t.Fatal("a wrapped 503 with Retry-After not seen")
	}
	for name, err := range map[string]error{
		"503 without": answer(http.StatusServiceUnavailable, "", now),
		"502 with":    answer(http.StatusBadGateway, "1", now),
		"conflict":    errs.E("matrix.index", errs.Conflict, "held", loading),
		"no answer":   errs.E(loadingOp, errs.Unavailable, "vectord is unreachable (no connection)"),
		"in process":  &errs.Error{Op: loadingOp, Kind: errs.Unavailable, Msg: "x", RetryAfter: time.Second},
		"nil":         nil,
		"as internal": errs.E("matrix.index", errs.Internal, loading),
	} {
		if _, _, _, ok := upstreamStarting(err); ok {
			t.Errorf("%s: taken for a start", name)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "1", "0", "5", "6", "120", "1.5", "-1", " 2", now.Format(http.TimeFormat), "Mon, 30 Nov 2026 12:00:03 GMT", "99999999999999999999", "99999999999999999999x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, d, ok := upstreamStarting(answer(http.StatusServiceUnavailable, s, now))
		if _, parsed := errs.ParseRetryAfter(s, now); ok != parsed {
			t.Fatalf("%q: a start %v, a Retry-After %v", s, ok, parsed)
		}
		if !ok {
			if d != 0 {
				t.Fatalf("%q: not ok with a wait %v", s, d)
			}
			return
		}
		if d < quickRetryMin || d > quickRetryMax {
			t.Fatalf("%q: wait %v outside [%v, %v]", s, d, quickRetryMin, quickRetryMax)
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 5 && d != time.Duration(n)*time.Second {
			t.Fatalf("%q: wait %v, want %ds", s, d, n)
		}
	})
}
