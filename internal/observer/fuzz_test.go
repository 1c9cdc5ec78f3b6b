package observer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoadTail: any bytes as ops.jsonl reload without a panic; the file is
// left ending in a newline (a torn tail cut), and a second load agrees.
func FuzzLoadTail(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-11-28T10:00:00Z","service":"queryd","op":"POST /v1/sql","status":200,"duration_ms":1.5}` + "\n"))
	f.Add([]byte(`{"ts":"2026-11-28T10:00:00Z","service":"a","op":"b","status":200}` + "\n{\"ts\":"))
	f.Add([]byte("garbage\n\n\n{}\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "ops.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Skip()
		}
		now := time.Now()
		first, err := loadTail(p, 16, now)
		if err != nil {
			return
		}
		b, _ := os.ReadFile(p)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("torn tail left in place: %q", b)
		}
		second, err := loadTail(p, 16, now)
		if err != nil || len(second.events) != len(first.events) || second.torn {
			t.Fatalf("reload disagrees: %d vs %d events, torn=%v, err=%v", len(first.events), len(second.events), second.torn, err)
		}
	})
}

// FuzzIngest: any request body that decodes is either refused or accepted
// whole, and what was accepted always encodes: /events and /stats answer
// JSON (a 1.7e308 duration once made every /stats a 500), and every event
// lies within MaxEventAge before and MaxClockSkew after the clock.
func FuzzIngest(f *testing.F) {
	f.Add([]byte(`{"events":[{"ts":"2026-11-29T08:59:00Z","service":"queryd","op":"POST /v1/sql","status":200,"duration_ms":1.5,"attrs":{"n":9007199254740993}}]}`))
	f.Add([]byte(`{"events":[{"ts":"1970-01-01T00:00:00Z","service":"a","op":"b"},{"service":"a","op":"b","duration_ms":31536000000}]}`))
	f.Add([]byte(`{"events":[{"ts":"0000-01-01T00:00:00+23:00","service":"a","op":"b","status":599,"duration_ms":1e-320}]}`))
	f.Add([]byte(`{"events":[{"ts":"2026-11-29T09:04:59-00:01","service":"🍵","op":"b\u2028","attrs":{"x":1e400}}]}`))
	f.Add([]byte(`{"events":[{"service":"q\u202e","op":"GET\u200b /x","request_id":"r\u0085"},{"service":" a","op":"b "}]}`))
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req IngestRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&req) != nil {
			return
		}
		o, err := Open(Options{RingSize: 64, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close(t.Context())
		res, err := o.Ingest(t.Context(), req.Events)
		if err != nil {
			return
		}
		evs, _ := o.Events(t.Context(), Filter{}, 1000)
		if res.Accepted != len(req.Events) || len(evs) != min(len(req.Events), 64) {
			t.Fatalf("accepted %d of %d, ring holds %d", res.Accepted, len(req.Events), len(evs))
		}
		for _, e := range evs {
			if e.TS.After(now.Add(MaxClockSkew)) || eventEnd(&e).Before(now.Add(-MaxEventAge)) {
				t.Fatalf("accepted an event at %v (now %v)", e.TS, now)
			}
			// No label displays as another (ADR-097).
			for _, v := range []string{e.Service, e.Op, e.RequestID} {
				if checkLabel(v, len(v)) != "" {
					t.Fatalf("accepted the label %+q: %s", v, checkLabel(v, len(v)))
				}
			}
		}
		st, _ := o.Stats(t.Context(), Filter{})
		if _, err := json.Marshal(st); err != nil {
			t.Fatalf("stats do not encode: %v", err)
		}
		if _, err := json.Marshal(EventsResponse{Events: evs}); err != nil {
			t.Fatalf("events do not encode: %v", err)
		}
	})
}
