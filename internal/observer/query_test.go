package observer_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/observer"
)

// TestHTTPRepeatedQueryParams: service, op, since and limit given twice are
// a 400 naming the parameter on /events, /stats and /stream (the first value
// was used: service=a&service=b answered a's events as if b was not asked).
func TestHTTPRepeatedQueryParams(t *testing.T) {
	s, _ := start(t, config(t), 0)
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	if code, b := post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ts+`","service":"a","op":"x","status":200},{"ts":"`+ts+`","service":"b","op":"y","status":200}]}`); code != 200 {
		t.Fatalf("ingest: %d %+v", code, b)
	}
	for _, tc := range []struct{ path, param string }{
		{observer.EventsPath + "?service=a&service=b", "service"},
		{observer.EventsPath + "?op=x&op=x", "op"},
		{observer.EventsPath + "?since=1h&since=2h", "since"},
		{observer.EventsPath + "?limit=1&limit=2", "limit"},
		{observer.StatsPath + "?service=a&service=b", "service"},
		{observer.StatsPath + "?since=1h&op=x&since=1h", "since"},
		{observer.StreamPath + "?service=a&service=b", "service"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// A stream that was wrongly accepted would never end: bound it.
			c := &http.Client{Timeout: 3 * time.Second}
			resp, err := c.Get(s.URL() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := resp.StatusCode
			var b errs.Body
			json.Unmarshal(body, &b)
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, `query parameter "`+tc.param+`" given 2 times; give it once`) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	// Given once, each still filters.
	code, body := get(t, s.URL()+observer.EventsPath+"?service=b&limit=5&since=1h")
	if code != 200 || !strings.Contains(string(body), `"service":"b"`) || strings.Contains(string(body), `"service":"a"`) {
		t.Fatalf("service=b: %d %s", code, body)
	}
}

// TestHTTPAttrsNumbersExact: an attrs number a float64 does not hold
// (9007199254740993, a long decimal) is answered as sent, before and after
// a restart (ops.jsonl); it came back as 9007199254740992.
func TestHTTPAttrsNumbersExact(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg, 0)
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	const attrs = `{"id":9007199254740993,"ratio":0.10000000000000000555,"n":-12345678901234567890}`
	if code, b := post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ts+`","service":"a","op":"x","status":200,"attrs":`+attrs+`}]}`); code != 200 {
		t.Fatalf("ingest: %d %+v", code, b)
	}
	check := func(when string) {
		t.Helper()
		code, body := get(t, s.URL()+observer.EventsPath+"?service=a")
		for _, n := range []string{"9007199254740993", "0.10000000000000000555", "-12345678901234567890"} {
			if code != 200 || !strings.Contains(string(body), n) {
				t.Fatalf("%s: %s not in %d %s", when, n, code, body)
			}
		}
	}
	check("answered")
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, _ = start(t, cfg, 0)
	check("after a restart")
}

// TestHTTPSinceBounded: since as a duration is at most observer.MaxSince
// (366 days) on /events, /stats and /stream; since=876000h (a century) was
// taken. A longer one, negative or malformed, is a 400 naming since; the
// bound itself and RFC 3339 times still filter (ADR-088).
func TestHTTPSinceBounded(t *testing.T) {
	s, _ := start(t, config(t), 0)
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	if code, b := post(t, s.URL()+observer.EventsPath, `{"events":[{"ts":"`+ts+`","service":"a","op":"x","status":200}]}`); code != 200 {
		t.Fatalf("ingest: %d %+v", code, b)
	}
	for _, path := range []string{
		observer.EventsPath + "?since=876000h",
		observer.StatsPath + "?since=8785h",
		observer.StreamPath + "?since=2562047h",
		observer.EventsPath + "?since=-1h",
		observer.EventsPath + "?since=99999999999h",
	} {
		t.Run(path, func(t *testing.T) {
			c := &http.Client{Timeout: 3 * time.Second} // a stream wrongly accepted never ends
			resp, err := c.Get(s.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var b errs.Body
			json.Unmarshal(body, &b)
			if resp.StatusCode != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, "since") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	for _, q := range []string{"since=8784h", "since=1h", "since=1970-01-01T00:00:00Z"} {
		code, body := get(t, s.URL()+observer.EventsPath+"?"+q)
		if code != 200 || !strings.Contains(string(body), `"service":"a"`) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}
