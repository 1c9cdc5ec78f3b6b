package observer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/observer"
)

// getBounded is get with a deadline: a stream route that takes the
// request answers 200 and never ends.
func getBounded(t *testing.T, url string) (int, []byte) {
	t.Helper()
	hc := &http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, []byte(fmt.Sprintf("%s (then %v)", b, err))
	}
	return resp.StatusCode, b
}

func decodeErr(t *testing.T, b []byte) errs.Body {
	t.Helper()
	var e errs.Body
	if err := json.Unmarshal(b, &e); err != nil {
		t.Errorf("not an error body: %.300s", b)
	}
	return e
}

// TestHTTPUnknownQueryParams: every observerd route refuses a query
// parameter it does not take with a 400 invalid naming it and the ones it
// takes, and changes nothing (ADR-097). ?servce=x answered every
// service's events, ?limt=5 the default 100, stats?limit=5 every event,
// stream?since=5m nothing from the past without a word, and a POST with
// ?service=x ingested the body. The typed client, with every filter, is
// still answered.
func TestHTTPUnknownQueryParams(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t), 0)
	if _, err := c.Ingest(ctx, []observer.Event{mk(1, "queryd", "GET /v1/x", 200), mk(2, "storaged", "GET /v1/y", 500)}); err != nil {
		t.Fatal(err)
	}
	const filter = "service, op, request_id, since"
	for _, tc := range []struct {
		method, path, body string
		params             []string
		takes, hint        string
	}{
		{"GET", observer.EventsPath + "?servce=queryd", "", []string{"servce"}, filter + ", limit", ""},
		{"GET", observer.EventsPath + "?service=queryd&limt=1", "", []string{"limt"}, filter + ", limit", ""},
		{"GET", observer.EventsPath + "?request_id=req-1&status=500", "", []string{"status"}, filter + ", limit", ""},
		{"GET", observer.StatsPath + "?limit=5", "", []string{"limit"}, filter, ""},
		{"GET", observer.StatsPath + "?sevice=x", "", []string{"sevice"}, filter, ""},
		{"GET", observer.StreamPath + "?since=5m", "", []string{"since"}, "service, op, request_id", "GET /v1/observer/events?since=...&limit=..."},
		{"GET", observer.StreamPath + "?service=queryd&x=1", "", []string{"x"}, "service, op, request_id", ""},
		{"POST", observer.EventsPath + "?service=x", `{"events":[{"service":"chatd","op":"POST /v1/chat","status":200}]}`, []string{"service"}, "none", "the events go in the JSON body"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var code int
			var e errs.Body
			if tc.method == "POST" {
				code, e = post(t, s.URL()+tc.path, tc.body)
			} else {
				var b []byte
				code, b = getBounded(t, s.URL()+tc.path)
				e = decodeErr(t, b)
			}
			word := "parameter"
			if len(tc.params) > 1 {
				word = "parameters"
			}
			want := "unknown query " + word + ` "` + strings.Join(tc.params, `", "`) + `" (this route takes: ` + tc.takes + ")"
			if code != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, want) || !strings.Contains(e.Error.Message, tc.hint) || e.Error.RequestID == "" {
				t.Fatalf("%d %+v, want a 400 saying %q and %q", code, e, want, tc.hint)
			}
		})
	}
	for _, q := range []string{"service=queryd;limit=1", "service=queryd&li%zzmit=1"} {
		code, b := get(t, s.URL()+observer.EventsPath+"?"+q)
		if e := decodeErr(t, b); code != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, "query string: ") {
			t.Errorf("?%s: %d %s, want a 400 saying the query string does not parse", q, code, b)
		}
	}
	// Repeated parameters stay refused on every route that takes them.
	for _, p := range []string{observer.EventsPath + "?limit=1&limit=2", observer.StatsPath + "?op=a&op=b", observer.StreamPath + "?service=a&service=b"} {
		if code, b := getBounded(t, s.URL()+p); code != 400 || !strings.Contains(string(b), "given 2 times") {
			t.Errorf("%s: %d %s", p, code, b)
		}
	}
	// Nothing was ingested by the refused POST.
	if got, err := c.Events(ctx, observer.Filter{}, 0); err != nil || len(got) != 2 {
		t.Fatalf("after the refused requests: %+v %v", got, err)
	}

	// The typed client sends only what the routes take.
	f := observer.Filter{Service: "queryd", Op: "GET /v1/x", Since: base}
	if got, err := c.Events(ctx, f, 5); err != nil || len(got) != 1 {
		t.Fatalf("client Events: %+v %v", got, err)
	}
	if st, err := c.Stats(ctx, f); err != nil || st.Count != 1 {
		t.Fatalf("client Stats: %+v %v", st, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	got := make(chan observer.Event, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(sctx, f, func(e observer.Event) error {
			select {
			case got <- e:
			default:
			}
			cancel()
			return nil
		})
	}()
	deadline := time.After(10 * time.Second)
	for {
		if _, err := c.Ingest(ctx, []observer.Event{{Service: "queryd", Op: "GET /v1/x", Status: 200}}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			// fn cancels once it has an event: Subscribe ends with ctx's error.
			if err != context.Canceled {
				t.Fatalf("client Subscribe (with since set, which it leaves out): %v", err)
			}
			if e := <-got; e.Service != "queryd" {
				t.Fatalf("streamed %+v", e)
			}
			return
		case <-deadline:
			t.Fatal("no event streamed")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestHTTPLabelCharacters: an event's service, op and request_id may not
// hold a control (C1 included), a bidi or zero-width character, another
// space than an inner ASCII one, or U+FFFD ("queryd\u202e" displayed as
// another service in the console and the journal); the batch is a 400
// naming the event, the field and the byte, and nothing is recorded. The
// same holds for the service and op filters (ADR-097). What pathwayd
// refuses in ids (ADR-088) and observerd both accept stays accepted:
// ordinary punctuation, inner spaces, any script.
func TestHTTPLabelCharacters(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t), 0)
	ts := base.Format(time.RFC3339)
	ev := func(field, v string) string {
		e := map[string]any{"ts": ts, "service": "queryd", "op": "GET /v1/x", "status": 200, "request_id": "r1"}
		e[field] = v
		b, _ := json.Marshal(map[string]any{"events": []any{map[string]any{"ts": ts, "service": "ok", "op": "o"}, e}})
		return string(b)
	}
	for _, tc := range []struct{ field, v, want string }{
		{"service", "queryd\u202e", "events[1].service: holds U+202E at byte 6"},
		{"service", "\u200bqueryd", "events[1].service: holds U+200B at byte 0"},
		{"service", "query\u0085d", "events[1].service: holds U+0085 at byte 5"},
		{"service", "queryd\u00a0", "events[1].service: holds U+00A0 at byte 6"},
		{"service", "queryd ", "events[1].service: begins or ends with a space"},
		{"op", "GET /v1/x\u2066", "events[1].op: holds U+2066 at byte 9"},
		{"op", "GET\u2028/v1/x", "events[1].op: holds U+2028 at byte 3"},
		{"op", "GET /v1/\ufeffx", "events[1].op: holds U+FEFF at byte 8"},
		{"request_id", "r\u009b1", "events[1].request_id: holds U+009B at byte 1"},
		{"request_id", "r\ue000", "events[1].request_id: holds U+E000 at byte 1"},
		{"request_id", "r\ufffd", "events[1].request_id: holds U+FFFD at byte 1"},
		{"request_id", "r\u0000", "events[1].request_id: holds U+0000 at byte 1"},
	} {
		t.Run(tc.field+" "+fmt.Sprintf("%+q", tc.v), func(t *testing.T) {
			code, e := post(t, s.URL()+observer.EventsPath, ev(tc.field, tc.v))
			if code != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) {
				t.Fatalf("%d %+v, want a 400 naming %q", code, e, tc.want)
			}
		})
	}
	if got, err := c.Events(ctx, observer.Filter{}, 0); err != nil || len(got) != 0 {
		t.Fatalf("refused batches recorded: %+v %v", got, err)
	}
	for _, tc := range []struct{ query, want string }{
		{"service=" + url.QueryEscape("queryd\u202e"), "service: holds U+202E at byte 6"},
		{"op=" + url.QueryEscape("GET\u200b /v1/x"), "op: holds U+200B at byte 3"},
		{"service=queryd&op=" + url.QueryEscape("GET /v1/x\u0085"), "op: holds U+0085 at byte 9"},
		{"service=" + strings.Repeat("s", observer.MaxServiceLen+1), "service: 65 bytes, at most 64"},
	} {
		for _, p := range []string{observer.EventsPath, observer.StatsPath, observer.StreamPath} {
			code, b := getBounded(t, s.URL()+p+"?"+tc.query)
			if e := decodeErr(t, b); code != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("%s?%s: %d %s, want a 400 naming %q", p, tc.query, code, b, tc.want)
			}
		}
	}
	// Accepted: punctuation, inner spaces, any script.
	ok := observer.Event{TS: base, Service: "José-李_1.x", Op: "POST /v1/x/{id} (retry)", RequestID: "O’Brien:1", Status: 200}
	if _, err := c.Ingest(ctx, []observer.Event{ok}); err != nil {
		t.Fatalf("valid labels: %v", err)
	}
	if got, err := c.Events(ctx, observer.Filter{Service: ok.Service, Op: ok.Op}, 0); err != nil || len(got) != 1 || got[0].RequestID != ok.RequestID {
		t.Fatalf("filter by valid labels: %+v %v", got, err)
	}
}

// TestOldLabelsStillLoad: ops.jsonl lines written before ADR-097, whose
// service, op and request_id hold a bidi override, a zero-width space and
// a C1 control, still load on start: they are listed and counted with the
// rest, and compaction keeps them. Only new events are refused.
func TestOldLabelsStillLoad(t *testing.T) {
	cfg := config(t)
	path := cfg.DataPath(cfg.Observerd.StatePath, "observerd/ops.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ts := base.Format(time.RFC3339)
	old := `{"ts":"` + ts + `","service":"queryd\u202e","op":"GET\u200b /v1/x","status":200,"duration_ms":1,"request_id":"r\u0085"}` + "\n" +
		`{"ts":"` + ts + `","service":"queryd","op":"GET /v1/x","status":500,"duration_ms":2,"request_id":"r2"}` + "\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	s, c := start(t, cfg, 0)
	got, err := c.Events(context.Background(), observer.Filter{}, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("after reload: %+v %v, want both old events", got, err)
	}
	seen := false
	for _, e := range got {
		seen = seen || (e.Service == "queryd\u202e" && e.Op == "GET\u200b /v1/x" && e.RequestID == "r\u0085")
	}
	if !seen {
		t.Fatalf("old event not loaded as written: %+v", got)
	}
	if st, err := c.Stats(context.Background(), observer.Filter{}); err != nil || st.Count != 2 || len(st.Services) != 2 {
		t.Fatalf("stats after reload: %+v %v", st, err)
	}
	// A restart loads them again (nothing was dropped as corrupt).
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, c = start(t, cfg, 0)
	if got, err := c.Events(context.Background(), observer.Filter{}, 0); err != nil || len(got) != 2 {
		t.Fatalf("after a second reload: %+v %v", got, err)
	}
}

// TestHTTPRequestIDFilter: ?request_id= on events, stats and the stream
// selects what every daemon reported of one request (the id is forwarded
// from daemon to daemon, so one id finds the gateway's, queryd's and
// catalogd's events of a query); the typed client sends it; an id no event
// may hold is a 400 as service and op are.
func TestHTTPRequestIDFilter(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t), 0)
	evs := []observer.Event{mk(1, "gateway", "POST /v1/sql", 200), mk(2, "queryd", "POST /v1/sql", 200),
		mk(3, "catalogd", "GET /v1/catalog/datasets", 200), mk(4, "queryd", "POST /v1/sql", 500)}
	evs[1].RequestID, evs[2].RequestID = evs[0].RequestID, evs[0].RequestID
	if _, err := c.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	id := evs[0].RequestID
	got, err := c.Events(ctx, observer.Filter{RequestID: id}, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("events of %s: %+v %v", id, got, err)
	}
	for _, e := range got {
		if e.RequestID != id {
			t.Fatalf("event %+v of another request", e)
		}
	}
	if got, err := c.Events(ctx, observer.Filter{RequestID: id, Service: "queryd"}, 0); err != nil || len(got) != 1 || got[0].Service != "queryd" {
		t.Fatalf("queryd's event of %s: %+v %v", id, got, err)
	}
	if st, err := c.Stats(ctx, observer.Filter{RequestID: evs[3].RequestID}); err != nil || st.Count != 1 || st.Errors != 1 {
		t.Fatalf("stats of %s: %+v %v", evs[3].RequestID, st, err)
	}
	code, b := get(t, s.URL()+observer.EventsPath+"?request_id="+url.QueryEscape("r\u202e1"))
	if e := decodeErr(t, b); code != 400 || !strings.Contains(e.Error.Message, "request_id: holds U+202E at byte 1") {
		t.Fatalf("a request id with a bidi override: %d %s", code, b)
	}
	code, b = get(t, s.URL()+observer.StatsPath+"?request_id="+strings.Repeat("r", observer.MaxRequestIDLen+1))
	if e := decodeErr(t, b); code != 400 || e.Error.Kind != errs.Invalid {
		t.Fatalf("a request id over the limit: %d %s", code, b)
	}

	// The stream passes only that request's events.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streamed := make(chan observer.Event, 16)
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(sctx, observer.Filter{RequestID: "wanted"}, func(e observer.Event) error {
			streamed <- e
			return nil
		})
	}()
	deadline := time.After(10 * time.Second)
	for {
		other := observer.Event{Service: "queryd", Op: "GET /v1/x", Status: 200, RequestID: "other"}
		wanted := observer.Event{Service: "storaged", Op: "GET /v1/y", Status: 200, RequestID: "wanted"}
		if _, err := c.Ingest(ctx, []observer.Event{other, wanted, other}); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-streamed:
			if e.RequestID != "wanted" || e.Service != "storaged" {
				t.Fatalf("streamed %+v", e)
			}
			cancel()
			<-done
			select {
			case e := <-streamed:
				if e.RequestID != "wanted" {
					t.Fatalf("streamed %+v", e)
				}
			default:
			}
			return
		case err := <-done:
			t.Fatalf("stream ended: %v", err)
		case <-deadline:
			t.Fatal("nothing streamed")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
