package observer_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"lakehouse-go/internal/observer"
)

// TestHTTPFieldErrorsNameTheEvent: a field of an event that does not
// decode (a ts that is no time, a status that is no integer, ...) is a 400
// naming the event and field (events[3].ts), and nothing of the batch is
// stored. Before: `a time is not an RFC 3339 time like ...: "bad"` and
// `field "events.status": ...`, with no index: the reporter could not
// tell which of its 1000 events to fix.
func TestHTTPFieldErrorsNameTheEvent(t *testing.T) {
	s, _ := start(t, config(t), 0)
	url := s.URL() + observer.EventsPath
	good := func(i int) string {
		b, _ := json.Marshal(mk(i, "storaged", "GET /v1/x", 200))
		return string(b)
	}
	batch := func(bad int, ev string) string {
		var evs []string
		for i := 0; i < 5; i++ {
			if i == bad {
				evs = append(evs, ev)
				continue
			}
			evs = append(evs, good(i))
		}
		return `{"events":[` + strings.Join(evs, ",") + `]}`
	}
	ts := base.Format("2006-01-02T15:04:05Z07:00")
	ev := func(field string) string {
		return fmt.Sprintf(`{"ts":%q,"service":"storaged","op":"GET /v1/x",%s}`, ts, field)
	}
	for _, c := range []struct {
		bad  int
		body string
		want string
	}{
		{3, `{"ts":"bad","service":"storaged","op":"GET /v1/x"}`,
			`events[3].ts: not an RFC 3339 time like "2006-01-02T15:04:05Z": "bad"`},
		{2, `{"ts":5,"service":"storaged","op":"GET /v1/x"}`,
			`events[2].ts: want a JSON string holding an RFC 3339 time`},
		{1, ev(`"status":"200"`), `events[1].status: want an integer, got a JSON string`},
		{4, ev(`"status":200.5`), `events[4].status: want an integer, got a JSON number`},
		{0, ev(`"duration_ms":"12"`), `events[0].duration_ms: want a number, got a JSON string`},
		{3, ev(`"duration_ms":1e400`), `events[3].duration_ms: want a number, got a JSON number`},
		{2, ev(`"attrs":[1]`), `events[2].attrs: want an object, got a JSON array`},
		{1, ev(`"request_id":7`), `events[1].request_id: want a string, got a JSON number`},
		{4, `7`, `events[4]: want an object, got a JSON number`},
		{0, ev(`"sevrice":"x"`), `events[0]: unknown field "sevrice"`},
	} {
		code, b := post(t, url, batch(c.bad, c.body))
		if code != 400 || !strings.Contains(b.Error.Message, c.want) {
			t.Errorf("event %s: %d %q, want 400 naming %q", c.body, code, b.Error.Message, c.want)
		}
	}
	// two bad events: both named
	body := strings.Replace(batch(1, ev(`"status":"x"`)), good(3), `{"ts":"bad","service":"s","op":"o"}`, 1)
	code, b := post(t, url, body)
	if code != 400 || !strings.Contains(b.Error.Message, "events[1].status") || !strings.Contains(b.Error.Message, "events[3].ts") {
		t.Errorf("two bad events: %d %q", code, b.Error.Message)
	}
	// all or nothing: no good event of those batches was stored
	code, raw := get(t, url)
	var got observer.EventsResponse
	if code != 200 || json.Unmarshal(raw, &got) != nil || len(got.Events) != 0 {
		t.Fatalf("after refused batches: %d %s", code, raw)
	}
	// a fault outside the events keeps its message
	code, b = post(t, url, `{"events":[`+good(0)+`],"extra":1}`)
	if code != 400 || !strings.Contains(b.Error.Message, `unknown field "extra"`) || strings.Contains(b.Error.Message, "events[") {
		t.Errorf("top-level unknown field: %d %q", code, b.Error.Message)
	}
	code, b = post(t, url, batch(2, `{"service":"","op":"o"}`))
	if code != 400 || !strings.Contains(b.Error.Message, "events[2].service: required") {
		t.Errorf("validation: %d %q", code, b.Error.Message)
	}
	// a body over the copy kept for naming paths (16 MiB) keeps json's message
	huge := batch(1, `{"ts":"bad","service":"s","op":"o","request_id":"`+strings.Repeat("x", 17<<20)+`"}`)
	code, b = post(t, url, huge)
	if code != 400 || !strings.Contains(b.Error.Message, `not an RFC 3339 time`) {
		t.Errorf("huge body: %d %q", code, b.Error.Message)
	}
	// and a good batch still goes in
	if code, b = post(t, url, batch(-1, "")); code != 200 {
		t.Fatalf("good batch: %d %+v", code, b)
	}
}
