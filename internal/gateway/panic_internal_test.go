package gateway

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// A panic while the fast path serves a request is answered with the JSON
// 500 and still ends the request: one access line, counted in /metrics,
// the in-flight gauge back down (it stayed one higher for good).
func TestFastPathPanicEndsRequest(t *testing.T) {
	up := okUpstream(t)
	defer up.Close()
	testPanic = func(path string) {
		if strings.HasSuffix(path, "/boom") {
			panic("boom")
		}
	}
	defer func() { testPanic = nil }()
	s, logs := startGatewayWith(t, true, up.URL, nil)
	for i := 0; i < 3; i++ {
		resp, err := http.Get(s.URL() + "/v1/storage/objects/boom")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(b), `"kind":"internal"`) {
			t.Fatalf("panic answered %d %s", resp.StatusCode, b)
		}
	}
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := regexp.MustCompile(`(?m)^lakehouse_http_in_flight_requests\{[^}]*\} (\d+)$`).FindStringSubmatch(string(b)); m == nil || m[1] != "1" {
		t.Errorf("in-flight gauge after three panics (the scrape itself is 1): %v", m)
	}
	if !regexp.MustCompile(`(?m)^lakehouse_http_requests_total\{[^}]*status="500"[^}]*\} 3$`).Match(b) {
		t.Errorf("panics not counted: %s", regexp.MustCompile(`(?m)^lakehouse_http_requests_total.*$`).FindAll(b, -1))
	}
	s.Shutdown(t.Context())
	if n := strings.Count(logs.String(), `op="GET /v1/storage/objects/boom" status=500`); n != 3 {
		t.Errorf("%d access lines for three panics", n)
	}
}
