package observer_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/observer"
)

// TestHTTPFutureEvent: through HTTP a batch with an event in the year 3026
// is a 400 in DESIGN.md's error body naming the event, nothing of the batch
// is recorded, and /stats "to" stays at the events that were accepted.
func TestHTTPFutureEvent(t *testing.T) {
	s, _ := start(t, config(t), 0)
	now := time.Now().UTC()
	ok := now.Add(-time.Minute).Format(time.RFC3339Nano)
	code, b := post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ok+`","service":"a","op":"b","status":200,"duration_ms":1}]}`)
	if code != 200 {
		t.Fatalf("valid event: %d %+v", code, b)
	}
	code, b = post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ok+`","service":"a","op":"b","status":200},{"ts":"3026-01-01T00:00:00Z","service":"a","op":"b","status":200}]}`)
	if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, "events[1].ts: 3026-01-01T00:00:00Z is more than 5m0s ahead") || b.Error.RequestID == "" {
		t.Fatalf("event in 3026: %d %+v", code, b)
	}
	code, body := get(t, s.URL()+observer.StatsPath)
	var st observer.Stats
	if err := json.Unmarshal(body, &st); code != 200 || err != nil {
		t.Fatalf("stats: %d %s", code, body)
	}
	if st.Count != 1 || st.To.Format(time.RFC3339Nano) != ok {
		t.Fatalf("stats after the refused batch: count %d, to %v, want 1 and %s", st.Count, st.To, ok)
	}
}

// TestHTTPPastEvent: through HTTP an event from 1970 is a 400 in DESIGN.md's
// error body naming it; nothing of its batch is recorded and /stats "from"
// stays at the events that were accepted.
func TestHTTPPastEvent(t *testing.T) {
	s, _ := start(t, config(t), 0)
	ok := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	code, b := post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ok+`","service":"a","op":"b","status":200,"duration_ms":1}]}`)
	if code != 200 {
		t.Fatalf("valid event: %d %+v", code, b)
	}
	for _, ts := range []string{"1970-01-01T00:00:00Z", "0000-01-01T00:00:00+23:00"} {
		code, b = post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ok+`","service":"a","op":"b","status":200},{"ts":"`+ts+`","service":"a","op":"b","status":200}]}`)
		if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, "events[1].ts: "+ts+" (+ duration_ms) ended more than 7 days before") || b.Error.RequestID == "" {
			t.Fatalf("event at %s: %d %+v", ts, code, b)
		}
	}
	code, body := get(t, s.URL()+observer.StatsPath)
	var st observer.Stats
	if err := json.Unmarshal(body, &st); code != 200 || err != nil {
		t.Fatalf("stats: %d %s", code, body)
	}
	if st.Count != 1 || st.From.Format(time.RFC3339Nano) != ok {
		t.Fatalf("stats after the refused batches: count %d, from %v, want 1 and %s", st.Count, st.From, ok)
	}
}
