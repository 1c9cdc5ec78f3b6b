package queryd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
	"lakehouse-go/internal/testutil/syncbuf"
)

// TestCallerLeftIs499: a query whose caller closed its connection mid-query
// (a client's Ctrl-C, the gateway hanging up when its own client left) is
// interrupted and counted as nginx's 499, a client's doing: an INFO line
// that says so, the access line and the metrics at 499, and no ERROR line.
// It was a 503 "query canceled" logged at ERROR with DuckDB's "INTERRUPT
// Error: Interrupted!", counted as a server error.
func TestCallerLeftIs499(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.Log.Level = "info"
	cfg.Log.Access = true
	logs := &syncbuf.Buffer{}
	s, err := shared.Start(context.Background(), "queryd", cfg, queryd.New, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	body := `{"sql":"SELECT count(*) FROM range(100000000000) a, range(10) b","timeout_ms":60000}`
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: caller-left-1\r\nContent-Length: %d\r\n\r\n%s", query.Route, len(body), body)
	// The query is running (admitted, in DuckDB) when the caller leaves.
	time.Sleep(500 * time.Millisecond)
	c.Close()

	access := regexp.MustCompile(`msg=request svc=queryd req_id=caller-left-1 op="POST /v1/sql" status=(\d+)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m = access.FindStringSubmatch(logs.String()); m != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access line for the abandoned query (not interrupted?):\n%s", logs.String())
		}
	}
	out := logs.String()
	if m[1] != "499" {
		t.Errorf("the abandoned query's access line has status %s, want 499", m[1])
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("an abandoned query is logged at ERROR:\n%s", out)
	}
	if !regexp.MustCompile(`level=INFO msg="query abandoned: the client closed the connection[^"]*" svc=queryd req_id=caller-left-1 op=query status=499`).MatchString(out) {
		t.Errorf("no INFO line saying the caller left:\n%s", out)
	}
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "lakehouse_http_requests_total{") && strings.Contains(line, `route="/v1/sql"`) && !strings.Contains(line, `status="499"`) {
			t.Errorf("the abandoned query is counted under another status: %s", line)
		}
	}
	if !strings.Contains(string(b), `status="499"`) {
		t.Errorf("no 499 in the metrics:\n%s", b)
	}
}

// TestShutdownInterruptIs503: a query still running when queryd's stop
// runs out of drain time is interrupted by queryd, not by its caller: a
// 503 saying queryd is shutting down, never the caller's 499.
func TestShutdownInterruptIs503(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.Queryd.ShutdownTimeout.Duration = 2 * time.Second
	s, err := shared.Start(context.Background(), "queryd", cfg, queryd.New, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Post(s.URL()+query.Route, "application/json",
			strings.NewReader(`{"sql":"SELECT count(*) FROM range(100000000000) a, range(10) b","timeout_ms":60000}`))
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{status: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(500 * time.Millisecond)
	s.Shutdown(context.Background())
	a := <-done
	if a.err != nil || a.status != 503 || !strings.Contains(a.body, "queryd is shutting down") {
		t.Fatalf("a query interrupted by queryd's stop: %d %s %v, want a 503 saying queryd is shutting down", a.status, a.body, a.err)
	}
}
