package observer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTPTimesInUTC: an event's ts is answered in UTC ("Z") whatever
// offset it was sent with, in /events, /stats' from and to, and after a
// restart from an ops.jsonl line that holds an offset. A ts sent as
// "...+01:00" (the harness of a daemon on a host with TZ set) came back
// with the offset, so /events mixed "Z" and "+01:00" times that do not
// sort as text and /stats' from/to changed format (ADR-111).
func TestHTTPTimesInUTC(t *testing.T) {
	cfg := config(t)
	berlin := time.FixedZone("CET", 3600)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	old := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	// A line persisted before the change, with an offset.
	path := cfg.DataPath(cfg.Observerd.StatePath, "observerd/ops.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	line := `{"ts":"` + old.In(berlin).Format(time.RFC3339) + `","service":"old","op":"y","status":200,"duration_ms":1}` + "\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := start(t, cfg, 0)
	body := `{"events":[{"ts":"` + at.In(berlin).Format(time.RFC3339) + `","service":"tz","op":"y","status":200,"duration_ms":1}]}`
	if code, e := post(t, s.URL()+"/v1/observer/events", body); code != 200 {
		t.Fatalf("ingest: %d %+v", code, e)
	}
	for _, tc := range []struct{ service, want string }{
		{"tz", at.UTC().Format(time.RFC3339)},
		{"old", old.UTC().Format(time.RFC3339)},
	} {
		code, b := get(t, s.URL()+"/v1/observer/events?service="+tc.service)
		var ev struct {
			Events []struct {
				TS json.RawMessage `json:"ts"`
			} `json:"events"`
		}
		if err := json.Unmarshal(b, &ev); err != nil || code != 200 || len(ev.Events) != 1 || string(ev.Events[0].TS) != `"`+tc.want+`"` {
			t.Errorf("events of %s: %d %s, want one with ts %q", tc.service, code, b, tc.want)
		}
		code, b = get(t, s.URL()+"/v1/observer/stats?service="+tc.service)
		if code != 200 || !strings.Contains(string(b), `"from":"`+tc.want+`","to":"`+tc.want+`"`) {
			t.Errorf("stats of %s: %d %s, want from and to %q", tc.service, code, b, tc.want)
		}
	}
}
