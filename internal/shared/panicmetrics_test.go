package shared

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"lakehouse-go/internal/testutil/syncbuf"
)

// A handler that panics is still counted and logged: the recoverer sits
// outside the access log and metrics (the chain's order), so they saw no
// return — no access line, no request counted, and the in-flight gauge
// was left one higher for good.
func TestPanicCountedAndLogged(t *testing.T) {
	cfg := testConfig(t)
	cfg.Log.Access = true
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
	if !regexp.MustCompile(`(?m)^lakehouse_http_requests_total\{[^}]*code="500"[^}]*route="/v1/panic"[^}]*\} 3$`).MatchString(m) &&
		!regexp.MustCompile(`(?m)^lakehouse_http_requests_total\{[^}]*route="/v1/panic"[^}]*\} 3$`).MatchString(m) {
		t.Errorf("panics not counted:\n%s", grepLines(m, "/v1/panic"))
	}
	s.Shutdown(context.Background()) // flushes the log
	if n := strings.Count(logs.String(), `op="GET /v1/panic" status=500`); n != 3 {
		t.Errorf("%d access lines for three panics:\n%s", n, grepLines(logs.String(), "panic"))
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
