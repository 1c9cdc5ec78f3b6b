package queryd_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/inproc"
)

// TestUnknownQueryParams: POST /v1/sql takes no query parameter; one is a
// 400 invalid naming it, saying the options are fields of the JSON body,
// and nothing runs (ADR-099). POST /v1/sql?format=csv answered JSON and
// ?max_rows=1 every row, as if asked for nothing else. The typed client
// is still answered.
func TestUnknownQueryParams(t *testing.T) {
	cfg := inproc.Config(t)
	s := inproc.Start(t, cfg, "queryd", queryd.New)
	const body = `{"sql":"SELECT range AS n FROM range(3)"}`
	for _, tc := range []struct{ query, want string }{
		{"format=csv", `unknown query parameter "format" (this route takes: none)`},
		{"max_rows=1&timeout_ms=5", `unknown query parameters "max_rows", "timeout_ms" (this route takes: none)`},
		{"sql=SELECT%201", `unknown query parameter "sql" (this route takes: none)`},
		{"format=csv;x", "query string: "},
	} {
		resp, err := http.Post(s.URL()+query.Route+"?"+tc.query, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errs.Body
		json.Unmarshal(b, &e)
		if resp.StatusCode != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) || e.Error.RequestID == "" {
			t.Errorf("?%s: %d %s, want a 400 saying %q", tc.query, resp.StatusCode, b, tc.want)
		}
		if strings.Contains(tc.want, "unknown") && !strings.Contains(e.Error.Message, `fields of the JSON body ({"sql":"...","format":"csv"})`) {
			t.Errorf("?%s: %s, want it to say the options go in the body", tc.query, b)
		}
	}
	// The same options in the body, through the typed client.
	env := &shared.Env{Config: cfg, HTTP: shared.NewHTTPClient(time.Minute)}
	res, err := query.NewClient(env.Client("queryd")).Query(context.Background(), query.Request{SQL: "SELECT range AS n FROM range(3)", MaxRows: 1})
	if err != nil || res.RowCount != 1 || !res.Truncated {
		t.Fatalf("client with max_rows 1: %+v %v", res, err)
	}
	resp, err := http.Post(s.URL()+query.Route+"?", "application/json", strings.NewReader(`{"sql":"SELECT 1 AS n","format":"csv"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "n\n1\n" {
		t.Fatalf("format csv in the body: %d %q", resp.StatusCode, b)
	}
}
