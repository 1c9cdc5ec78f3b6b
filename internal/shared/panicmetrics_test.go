package shared

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/syncbuf"
)

// A handler that panics is still counted and logged: the recoverer sits
// outside the access log and metrics (the chain's order), so they saw no
// return — no access line, no request counted, and the in-flight gauge
// was left one higher for good.
func TestPanicCountedAndLogged(t *testing.T) {
	fake := &fakeLangfuse{received: make(chan struct{}, 16)}
	lf := httptest.NewServer(fake)
	defer lf.Close()
	var reported sync.Map // op -> status of observer reports
	obs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Events []OpEvent }
		json.NewDecoder(r.Body).Decode(&body)
		for _, e := range body.Events {
			reported.Store(e.Op+" "+fmt.Sprint(e.Status), true)
		}
	}))
	defer obs.Close()
	cfg := langfuseConfig(t, lf.URL)
	cfg.Log.Access = true
	cfg.Report.Enabled = true
	cfg.Report.FlushInterval = Duration{20 * time.Millisecond}
	cfg.Observerd.URL = obs.URL
	logs := &syncbuf.Buffer{}
	s, err := Start(context.Background(), "storaged", cfg, testDaemon, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	scrape := func() string {
		resp, err := http.Get(s.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	inflight := regexp.MustCompile(`(?m)^lakehouse_http_in_flight_requests\{[^}]*\} (\d+)$`)
	before := inflight.FindStringSubmatch(scrape())
	for i := 0; i < 3; i++ {
		if resp, _ := get(t, s.URL()+"/v1/panic", ""); resp.StatusCode != 500 {
			t.Fatalf("panic answered %d", resp.StatusCode)
		}
	}
	m := scrape()
	after := inflight.FindStringSubmatch(m)
	if before == nil || after == nil || before[1] != after[1] {
		t.Errorf("in-flight gauge %v before, %v after three panics", before, after)
	}
	if !regexp.MustCompile(`(?m)^lakehouse_http_requests_total\{[^}]*route="/v1/panic"[^}]*status="500"[^}]*\} 3$`).MatchString(m) {
		t.Errorf("panics not counted:\n%s", grepLines(m, "/v1/panic"))
	}
	s.Shutdown(context.Background()) // flushes the log, Langfuse and the reports
	if n := strings.Count(logs.String(), `op="GET /v1/panic" status=500`); n != 3 {
		t.Errorf("%d access lines for three panics:\n%s", n, grepLines(logs.String(), "panic"))
	}
	fake.mu.Lock()
	spans := 0
	for _, e := range fake.events {
		if e.Type == "span-create" && e.Body["name"] == "storaged GET /v1/panic" && e.Body["level"] == "ERROR" {
			spans++
		}
	}
	fake.mu.Unlock()
	if spans != 3 {
		t.Errorf("%d Langfuse ERROR spans for three panics", spans)
	}
	n := 0
	reported.Range(func(k, _ any) bool {
		if strings.Contains(k.(string), "/v1/panic 500") {
			n++
		}
		return true
	})
	if n == 0 {
		t.Errorf("panics not reported to observerd")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
