package errs

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{" 3 ", 3 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{"007", 7 * time.Second, true},
		{"86400", MaxRetryAfter, true},
		{"86401", MaxRetryAfter, true},
		{"9999999999", MaxRetryAfter, true},              // overflows time.Duration in ns
		{"99999999999999999999999", MaxRetryAfter, true}, // past uint64
		{"1.5", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1_0", 0, false},
		{"0x10", 0, false},
		{"1 2", 0, false},
		{"100000000000000000000A", 0, false}, // past uint64, then a letter (the fuzz target found it taken for MaxRetryAfter)
		{"soon", 0, false},
		{"Mon, 30 Nov 2026 12:00:99 GMT", 0, false},
		{now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second, true},
		{now.Add(90 * time.Minute).Format(http.TimeFormat), 90 * time.Minute, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{now.Add(5 * time.Second).Format(time.RFC850), 5 * time.Second, true}, // obsolete forms RFC 9110 accepts
		{now.Add(5 * time.Second).Format(time.ANSIC), 5 * time.Second, true},
	} {
		got, ok := ParseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestFromResponseRetryAfter: a real server's 503 with Retry-After (the
// JSON error body, as vectord answers while it loads its indexes) decodes
// into an *Error that carries the wait; RetryAfter reads it through
// wrapping of the same kind, not through a wrap as another kind, and not
// from an answer without the field or with a malformed one. An HTTP date
// counts from the answer's own Date.
func TestFromResponseRetryAfter(t *testing.T) {
	var retryAfter, date string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		if date != "" {
			w.Header().Set("Date", date)
		}
		WriteBody(w, http.StatusServiceUnavailable, Unavailable, "vector indexes are not loaded yet", "")
	}))
	defer srv.Close()
	get := func() error {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return FromResponse("vectord GET /", resp)
	}

	retryAfter = "1"
	err := get()
	if d, ok := RetryAfter(err); !ok || d != time.Second {
		t.Fatalf("503 with Retry-After: 1: RetryAfter = %v, %v", d, ok)
	}
	if !Is(err, Unavailable) || StatusOf(err) != 503 || Message(err) != "vector indexes are not loaded yet" {
		t.Fatalf("kind, status, message changed: %v %d %q", KindOf(err), StatusOf(err), Message(err))
	}
	same := E("matrix.index", Unavailable, "the build", fmt.Errorf("step: %w", err))
	if d, ok := RetryAfter(errors.Join(errors.New("x"), same)); !ok || d != time.Second {
		t.Errorf("wrapped as unavailable: RetryAfter = %v, %v", d, ok)
	}
	if e, ok := RetryAfterOf(same); !ok || e != err {
		t.Errorf("RetryAfterOf = %v, %v; want the answer's own error", e, ok)
	}
	if _, ok := RetryAfter(E("matrix.index", Conflict, "held", err)); ok {
		t.Error("a 503 wrapped as a conflict still asks to be called again")
	}
	if _, ok := RetryAfter(nil); ok {
		t.Error("nil asks to be called again")
	}

	// An HTTP date ten seconds after the answer's Date, from a server
	// whose clock is an hour behind ours: ten seconds, not 0.
	srvNow := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	date, retryAfter = srvNow.Format(http.TimeFormat), srvNow.Add(10*time.Second).Format(http.TimeFormat)
	if d, ok := RetryAfter(get()); !ok || d != 10*time.Second {
		t.Errorf("HTTP date: RetryAfter = %v, %v; want 10s", d, ok)
	}
	date = ""

	for _, v := range []string{"", "soon", "-1", "1.5"} {
		retryAfter = v
		err := get()
		if d, ok := RetryAfter(err); ok {
			t.Errorf("Retry-After %q: RetryAfter = %v, true", v, d)
		}
		if !Is(err, Unavailable) || Message(err) != "vector indexes are not loaded yet" {
			t.Errorf("Retry-After %q: the answer itself changed: %v", v, err)
		}
	}
}

// A plain *Error built in process carries no Retry-After.
func TestRetryAfterNone(t *testing.T) {
	for _, err := range []error{
		E("op", Unavailable, "down"),
		errors.New("plain"),
		&Error{Op: "op", Kind: Unavailable, RetryAfter: time.Second}, // not HasRetryAfter
	} {
		if _, ok := RetryAfter(err); ok {
			t.Errorf("%v: asks to be called again", err)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "1", "0", "5", "120", "1.5", "-1", "+3", " 2", "86401", "99999999999999999999",
		now.Format(http.TimeFormat), "Mon, 30 Nov 2026 12:00:03 GMT", "Monday, 30-Nov-26 12:00:03 GMT", "Mon Nov 30 12:00:03 2026"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("%q: wait %v outside [0, %v]", s, d, MaxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("%q: not ok with a wait %v", s, d)
		}
		v := strings.TrimSpace(s)
		digits := v != "" && strings.Trim(v, "0123456789") == ""
		_, dateErr := http.ParseTime(v)
		if ok != (digits || dateErr == nil) {
			t.Fatalf("%q: ok %v; digits %v, date %v", s, ok, digits, dateErr)
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && digits && n <= uint64(MaxRetryAfter/time.Second) && d != time.Duration(n)*time.Second {
			t.Fatalf("%q: wait %v, want %ds", s, d, n)
		}
		// What FromResponse keeps of an answer with this field is what
		// ParseRetryAfter says (the answer's Date pins now).
		h := http.Header{"Retry-After": {s}, "Date": {now.Format(http.TimeFormat)}}
		resp := &http.Response{StatusCode: 503, Header: h, Body: io.NopCloser(strings.NewReader(""))}
		got, gotOK := RetryAfter(FromResponse("op", resp))
		if h.Get("Retry-After") != "" && (got != d || gotOK != ok) {
			t.Fatalf("%q: FromResponse kept %v, %v; ParseRetryAfter %v, %v", s, got, gotOK, d, ok)
		}
	})
}

// TestWriteHTTPPassesRetryAfterOn: a daemon answering a 503 that an
// upstream's 503 + Retry-After caused says Retry-After too (rounded up to
// whole seconds); not when the daemon turned it into another kind, nor
// over a Retry-After the handler set itself.
func TestWriteHTTPPassesRetryAfterOn(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", r.URL.Query().Get("ra"))
		WriteBody(w, http.StatusServiceUnavailable, Unavailable, "vector indexes are not loaded yet", "")
	}))
	defer upstream.Close()
	call := func(ra string) error {
		t.Helper()
		resp, err := http.Get(upstream.URL + "/?ra=" + ra)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return FromResponse("vectord POST /search", resp)
	}
	for _, tc := range []struct {
		name, preset, want string
		err                error
	}{
		{"passed on", "", "1", E("matrix.search", Unavailable, "vectors", call("1"))},
		{"rounded up", "", "3", E("matrix.search", Unavailable, "vectors", fmt.Errorf("search: %w", &Error{Kind: Unavailable, RetryAfter: 2100 * time.Millisecond, HasRetryAfter: true}))},
		{"zero", "", "0", call("0")},
		{"another kind", "", "", E("matrix.search", Internal, "vectors", call("1"))},
		{"none upstream", "", "", E("matrix.search", Unavailable, "vectors", call(""))},
		{"handler's own", "7", "7", call("1")},
	} {
		rec := httptest.NewRecorder()
		if tc.preset != "" {
			rec.Header().Set("Retry-After", tc.preset)
		}
		WriteHTTP(rec, httptest.NewRequest("POST", "/search", nil), nil, tc.err)
		if got := rec.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("%s: status %d, Retry-After %q, want %q", tc.name, rec.Code, got, tc.want)
		}
	}
}
