package observer

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzEventPaths: any ingest body is read by eventPaths without a panic;
// an error it answers is Invalid and names each problem as events[N];
// when it answers nil, every event of an array of events decodes.
func FuzzEventPaths(f *testing.F) {
	f.Add([]byte(`{"events":[{"ts":"2026-11-28T10:00:00Z","service":"a","op":"b","status":200,"duration_ms":1.5}]}`))
	f.Add([]byte(`{"events":[{"ts":"bad","service":"a","op":"b"},7,{"status":"x"},{"attrs":[1]},{"Service":"a"}]}`))
	f.Add([]byte(`{"events":[{"ts":5},{"duration_ms":1e400},{"sevrice":1},{"a":1,"a":2},null]}`))
	f.Add([]byte(`{"events":{}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		err := eventPaths(body)
		if err != nil {
			msg := errs.Message(err)
			if errs.KindOf(err) != errs.Invalid || !strings.HasPrefix(msg, "events[") {
				t.Fatalf("%q: %v %q", body, errs.KindOf(err), msg)
			}
			for _, p := range strings.Split(msg, "; events[")[1:] {
				if p == "" {
					t.Fatalf("empty problem in %q", msg)
				}
			}
			return
		}
		var outer struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.Unmarshal(body, &outer) != nil {
			return
		}
		for i, raw := range outer.Events {
			if m := eventError(raw); m != "" {
				t.Fatalf("events[%d] does not decode (%s) but eventPaths said nil", i, m)
			}
		}
	})
}
