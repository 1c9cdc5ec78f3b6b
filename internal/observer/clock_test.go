package observer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestFutureEventsRefused: an event dated more than MaxClockSkew after
// observerd's clock is refused (the batch is a 400 naming its index), so
// /stats "to" never jumps to the year 3026; one already in ops.jsonl is
// skipped on reload. Up to MaxClockSkew ahead is accepted (clock skew).
func TestFutureEventsRefused(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "ops.jsonl")
	old := `{"ts":"2026-11-29T08:59:00Z","service":"s","op":"o","status":200,"duration_ms":1}` + "\n"
	future := `{"ts":"3026-01-01T00:00:00Z","service":"s","op":"o","status":200,"duration_ms":1}` + "\n"
	if err := os.WriteFile(path, []byte(old+future), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Open(Options{Path: path, RingSize: 100, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(t.Context())
	st, _ := o.Stats(t.Context(), Filter{})
	if st.Count != 1 || !st.To.Equal(now.Add(-time.Minute)) {
		t.Fatalf("after reload: count %d, to %v; want the 08:59 event only", st.Count, st.To)
	}

	at := func(d time.Duration) Event { return Event{TS: now.Add(d), Service: "s", Op: "o", Status: 200} }
	_, err = o.Ingest(t.Context(), []Event{at(0), at(time.Second), at(100 * 365 * 24 * time.Hour)})
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "events[2].ts: 2126-") || !strings.Contains(err.Error(), "ahead of observerd's clock") {
		t.Fatalf("a century ahead: %v", err)
	}
	if _, err := o.Ingest(t.Context(), []Event{at(MaxClockSkew + time.Nanosecond)}); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "events[0].ts") {
		t.Fatalf("just past the skew: %v", err)
	}
	if _, err := o.Ingest(t.Context(), []Event{at(time.Second), at(MaxClockSkew)}); err != nil {
		t.Fatalf("within the skew: %v", err)
	}
	st, _ = o.Stats(t.Context(), Filter{})
	if st.Count != 3 || !st.To.Equal(now.Add(MaxClockSkew)) {
		t.Fatalf("stats: count %d, to %v; the refused batches must not count", st.Count, st.To)
	}
}
