package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// TestHealthReasonNeedsToken: with auth on, a degraded daemon's /health
// says "degraded" to anyone but says why (which names S3 endpoints,
// buckets, index names) only to a request with the token; the gateway's
// probe sends it, so /v1/health still carries the reason. Before, /health
// gave the reason to any peer that reached the port, token or not (ADR-006
// 6.7: /health reveals status and version). A real daemon (the harness
// with a failing Check) and a real gateway.
func TestHealthReasonNeedsToken(t *testing.T) {
	const reason = `index "payroll_2026" cannot be served`
	cfg := shared.Default(t.TempDir())
	for _, n := range shared.Daemons {
		cfg.Section(n).Bind = "127.0.0.1:0"
	}
	cfg.Report.Enabled = false
	cfg.Auth.Token = "tok"
	build := func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(chi.Router) {}, Check: func(context.Context) error {
			return errs.E("vector.load", errs.Unavailable, reason)
		}}, nil
	}
	d, err := shared.Start(context.Background(), "storaged", cfg, build, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	health := func(token string) shared.Health {
		t.Helper()
		req, _ := http.NewRequest("GET", d.URL()+"/health", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var h shared.Health
		if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil {
			t.Fatalf("/health: %d %s", resp.StatusCode, b)
		}
		if strings.Contains(string(b), "payroll") && h.Error == "" {
			t.Fatalf("/health names the index outside error: %s", b)
		}
		return h
	}
	for _, tok := range []string{"", "wrong", "to"} {
		if h := health(tok); h.Status != "degraded" || h.Error != "" {
			t.Errorf("/health with token %q: %+v; want degraded, no reason", tok, h)
		}
	}
	if h := health("tok"); h.Status != "degraded" || h.Error != reason {
		t.Errorf("/health with the token: %+v; want degraded, %q", h, reason)
	}

	gw, _ := startGatewayWith(t, true, d.URL(), func(c *shared.Config) { c.Auth.Token = "tok" })
	req, _ := http.NewRequest("GET", gw.URL()+"/v1/health", nil)
	req.Header.Set("Authorization", "Bearer tok")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep HealthReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if st := rep.Daemons["storaged"]; st.Status != "degraded" || st.Error != reason {
		t.Fatalf("/v1/health's storaged: %+v; want degraded with %q", st, reason)
	}
}
