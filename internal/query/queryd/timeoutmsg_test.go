package queryd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/testutil/inproc"
)

// TestTimeoutMessage: a query past its timeout_ms is a 504 timeout whose
// message says so in one line, with DESIGN.md's error body. It carried
// DuckDB's own text ("...: context deadline exceeded\nINTERRUPT Error:
// Interrupted!"), a Go error and a newline, where internal details stay in
// the log (ADR-111).
func TestTimeoutMessage(t *testing.T) {
	cfg := inproc.Config(t)
	s := inproc.Start(t, cfg, "queryd", queryd.New)
	resp, err := http.Post(s.URL()+query.Route, "application/json",
		strings.NewReader(`{"sql":"SELECT count(*) FROM range(100000000000) a","timeout_ms":150}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e errs.Body
	if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 504 || e.Error.Kind != errs.Timeout || e.Error.RequestID == "" {
		t.Fatalf("%d %s, want a 504 timeout error body", resp.StatusCode, b)
	}
	if want := "query timed out after 150 ms and was interrupted"; e.Error.Message != want {
		t.Fatalf("message %q, want %q", e.Error.Message, want)
	}
}

// TestWriteStatementMessage: a statement that is not a query is a 403
// forbidden naming its type in plain English. It read "this is a ATTACH
// statement", "a EXPLAIN", "a INSERT" (ADR-111).
func TestWriteStatementMessage(t *testing.T) {
	cfg := inproc.Config(t)
	s := inproc.Start(t, cfg, "queryd", queryd.New)
	for sql, want := range map[string]string{
		"ATTACH '/tmp/x.db'": "only read-only queries are allowed; this is an ATTACH statement",
		"EXPLAIN SELECT 1":   "only read-only queries are allowed; this is an EXPLAIN statement",
		"SET threads = 1":    "only read-only queries are allowed; this is a SET statement",
	} {
		b, _ := json.Marshal(map[string]string{"sql": sql})
		resp, err := http.Post(s.URL()+query.Route, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errs.Body
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 403 || e.Error.Kind != errs.Forbidden || e.Error.Message != want {
			t.Errorf("%s: %d %s, want a 403 saying %q", sql, resp.StatusCode, body, want)
		}
	}
}
