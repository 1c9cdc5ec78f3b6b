package pathway_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway"
)

// TestHTTPMetadataNotObject: metadata that is not a JSON object is a 400
// naming the field, on an add, a PUT and a trace step, and nothing is
// stored. The message said "the request body: want an object, got a JSON
// string", as if the whole body were wrong (ADR-111).
func TestHTTPMetadataNotObject(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	s, c := start(t, cfg)
	res, err := c.Add(ctx, pathway.AddRequest{Text: "I live in Lisbon", Scope: pathway.Scope{UserID: "ana"}})
	if err != nil || len(res.Results) != 1 {
		t.Fatalf("add: %+v %v", res, err)
	}
	id := res.Results[0].ID
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/v1/pathway/memories", `{"text":"I like jazz","user_id":"ana","metadata":"x"}`,
			`field "metadata": want an object, got a JSON string`},
		{"POST", "/v1/pathway/memories", `{"text":"I like jazz","user_id":"ana","metadata":[1]}`,
			`field "metadata": want an object, got a JSON array`},
		{"PUT", "/v1/pathway/memories/" + id, `{"text":"Lives in Porto","metadata":5}`,
			`field "metadata": want an object, got a JSON number`},
		{"POST", "/v1/pathway/traces", `{"run_id":"r1","steps":[{"type":"llm","metadata":true}]}`,
			`field "steps.metadata": want an object, got a JSON bool`},
	} {
		code, body := do(t, tc.method, s.URL()+tc.path, tc.body)
		var e errs.Body
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 400 || e.Error.Kind != errs.Invalid || e.Error.Message != tc.want {
			t.Errorf("%s %s %s: %d %s, want a 400 saying %q", tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	list, err := c.List(ctx, pathway.Scope{UserID: "ana"}, pathway.ListOptions{})
	if err != nil || len(list.Results) != 1 || list.Results[0].Memory != "Lives in Lisbon" {
		t.Fatalf("after the refused requests: %+v %v, want the one memory unchanged", list, err)
	}
	if code, body := do(t, "GET", s.URL()+"/v1/pathway/traces/r1", ""); code != 404 {
		t.Fatalf("trace after the refused step: %d %s, want 404", code, body)
	}
}

// TestHTTPTooLongTextNamed: a text over MaxTextBytes is a 413 naming the
// field the client sent: "text" or "messages" (a string), or
// messages[i].content. A "text" was reported as "messages[0].content"
// (ADR-111).
func TestHTTPTooLongTextNamed(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	long := strings.Repeat("a", pathway.MaxTextBytes+1)
	for _, tc := range []struct{ body, want string }{
		{`{"text":"` + long + `","user_id":"z"}`, "text: "},
		{`{"messages":"` + long + `","user_id":"z"}`, "messages: "},
		{`{"messages":[{"role":"user","content":"hi"},{"role":"user","content":"` + long + `"}],"user_id":"z"}`, "messages[1].content: "},
	} {
		code, body := do(t, "POST", s.URL()+"/v1/pathway/memories", tc.body)
		var e errs.Body
		want := tc.want + strconv.Itoa(len(long)) + " bytes, at most " + strconv.Itoa(pathway.MaxTextBytes)
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 413 || e.Error.Kind != errs.TooLarge || e.Error.Message != want {
			t.Errorf("%.60s...: %d %.300s, want a 413 saying %q", tc.body, code, body, want)
		}
	}
	if code, body := do(t, "GET", s.URL()+"/v1/pathway/memories?user_id=z", ""); code != 200 || strings.TrimSpace(body) != `{"results":[]}` {
		t.Fatalf("after the refused adds: %d %s, want no memory", code, body)
	}
}

// TestHTTPStepTimeInUTC: a step's ts is answered in UTC whatever offset
// it was sent with, also after a restart; memories' times already were.
// A "+01:00" came back as sent, so a trace mixed "Z" and "+01:00" times
// (ADR-111).
func TestHTTPStepTimeInUTC(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 7200))
	body := `{"run_id":"r1","steps":[{"type":"llm","ts":"` + at.Format(time.RFC3339) + `"},{"type":"tool"}]}`
	if code, b := do(t, "POST", s.URL()+"/v1/pathway/traces", body); code != 200 {
		t.Fatalf("append: %d %s", code, b)
	}
	check := func(when string) {
		code, b := do(t, "GET", s.URL()+"/v1/pathway/traces/r1", "")
		var tr struct {
			Steps []struct {
				TS string `json:"ts"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(b), &tr); err != nil || code != 200 || len(tr.Steps) != 2 {
			t.Fatalf("%s: %d %s", when, code, b)
		}
		if tr.Steps[0].TS != "2026-05-01T08:00:00Z" || !strings.HasSuffix(tr.Steps[1].TS, "Z") {
			t.Errorf("%s: steps' ts %q, %q, want 2026-05-01T08:00:00Z and a stamped UTC time", when, tr.Steps[0].TS, tr.Steps[1].TS)
		}
	}
	check("after the append")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, cfg)
	check("after a restart")
}
