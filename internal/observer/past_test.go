package observer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestPastEventsRefused: an event that ended (ts + duration_ms) more than
// MaxEventAge before observerd's clock is refused, the batch a 400 naming
// its index, so /stats "from" never drops to 1970 (ADR-050). A request that
// began long ago but ended recently (a stream held open for days) is
// accepted. On reload an event far older than the newest one in ops.jsonl
// is skipped, but a file whose events are all old (observerd was down) is
// reloaded whole.
func TestPastEventsRefused(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	o, err := Open(Options{RingSize: 100, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(t.Context())
	at := func(d time.Duration, durMS float64) Event {
		return Event{TS: now.Add(d), Service: "s", Op: "o", Status: 200, DurationMS: durMS}
	}
	for _, tc := range []struct {
		name string
		e    Event
	}{
		{"1970", Event{TS: time.Unix(0, 0).UTC(), Service: "s", Op: "o"}},
		{"year 0 east of UTC", Event{TS: time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600)), Service: "s", Op: "o"}},
		{"just past the bound", at(-MaxEventAge-time.Nanosecond, 0)},
		{"a month ago, ran a day", at(-30*24*time.Hour, 24*3600*1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := o.Ingest(t.Context(), []Event{at(-time.Second, 1), tc.e})
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "events[1].ts: ") || !strings.Contains(err.Error(), "ended more than 7 days before observerd's clock") {
				t.Fatalf("%v", err)
			}
		})
	}
	ok := []Event{
		at(-MaxEventAge, 0),                        // at the bound
		at(-30*24*time.Hour, 30*24*3600*1000-60e3), // began a month ago, ended a minute ago
		at(-time.Second, 1),
	}
	if _, err := o.Ingest(t.Context(), ok); err != nil {
		t.Fatalf("within the bound: %v", err)
	}
	st, _ := o.Stats(t.Context(), Filter{})
	if st.Count != 3 || !st.From.Equal(now.Add(-30*24*time.Hour)) {
		t.Fatalf("stats: count %d, from %v; the refused batches must not count", st.Count, st.From)
	}

	// Reload: the 1970 line (accepted by an earlier build) is skipped.
	line := func(ts time.Time, id int) string {
		return fmt.Sprintf(`{"ts":%q,"service":"s","op":"o","status":200,"duration_ms":1,"request_id":"r%d"}`+"\n", ts.Format(time.RFC3339Nano), id)
	}
	path := filepath.Join(t.TempDir(), "ops.jsonl")
	data := line(now.Add(-time.Hour), 1) + line(time.Unix(0, 0).UTC(), 2) + line(now.Add(-time.Minute), 3)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := loadTail(path, 100, now)
	if err != nil || len(res.events) != 2 || res.old != 1 || res.events[0].RequestID != "r1" || res.events[1].RequestID != "r3" {
		t.Fatalf("reload with a 1970 event: %+v %v", res, err)
	}
	// Reload after an outage longer than MaxEventAge: all kept.
	month := now.Add(-30 * 24 * time.Hour)
	data = line(month.Add(-time.Hour), 1) + line(month, 2)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := loadTail(path, 100, now); err != nil || len(res.events) != 2 || res.old != 0 {
		t.Fatalf("reload of a month-old file: %+v %v", res, err)
	}
}
