package matrix

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

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
		{"1.5", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"soon", 0, false},
		{now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), quickRetryMin, true},
		{now.Add(time.Hour).Format(http.TimeFormat), quickRetryMax, true},
	} {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestStartingNeedsItsOwnAnswer: only the failed call's own 503 with
// Retry-After makes a failure a start: not a 503 of another call, not a
// 502, not an error wrapped as another kind.
func TestStartingNeedsItsOwnAnswer(t *testing.T) {
	const op = "vectord DELETE /v1/vectors/indexes/matrix.docs"
	n := &upstreamNotes{}
	n.note(op, "vectord", "1")
	n.note("vectord GET /v1/vectors/indexes", "vectord", "")
	loading := &errs.Error{Op: op, Kind: errs.Unavailable, Msg: "vector indexes are still loading from storaged"}
	if s, msg, wait, ok := n.starting(loading, time.Now()); !ok || s != "vectord" || wait != time.Second || msg != loading.Msg {
		t.Fatalf("the 503 with Retry-After: %q %q %v %v", s, msg, wait, ok)
	}
	wrapped := errs.E("matrix.index", errs.Unavailable, "the build", fmt.Errorf("step: %w", loading))
	if _, _, _, ok := n.starting(errors.Join(errors.New("x"), wrapped), time.Now()); !ok {
		t.Fatal("a wrapped 503 with Retry-After not seen")
	}
	for name, err := range map[string]error{
		"other call": &errs.Error{Op: "vectord GET /v1/vectors/indexes", Kind: errs.Unavailable, Msg: "x"},
		"502":        &errs.Error{Op: op, Kind: errs.Unavailable, Msg: "x", Status: http.StatusBadGateway},
		"conflict":   errs.E("matrix.index", errs.Conflict, "held", loading),
		"no answer":  errs.E(op, errs.Unavailable, "vectord is unreachable (no connection)"),
		"nil":        nil,
	} {
		if name == "no answer" {
			n.note(op, "vectord", "") // the last answer of the op had none
		}
		if _, _, _, ok := n.starting(err, time.Now()); ok {
			t.Errorf("%s: taken for a start", name)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "1", "0", "5", "6", "120", "1.5", "-1", " 2", now.Format(http.TimeFormat), "Mon, 30 Nov 2026 12:00:03 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
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
