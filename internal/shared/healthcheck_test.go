package shared

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestHealthCheckHook: a daemon's Check (storaged: S3 reachable, bucket
// there) makes /health say "degraded" with its message while it fails —
// still HTTP 200, /health is liveness — and "ok" again when it passes; a
// result is reused for healthCheckTTL; a check that hangs holds /health
// about healthCheckTimeout, not longer; -healthcheck (checkHealth) exits 0
// for a degraded daemon (alive), as docker's healthchecks expect.
func TestHealthCheckHook(t *testing.T) {
	var fail atomic.Bool
	var hang atomic.Bool
	var calls atomic.Int64
	build := func(ctx context.Context, env *Env) (*Daemon, error) {
		d, _ := testDaemon(ctx, env)
		d.Check = func(ctx context.Context) error {
			calls.Add(1)
			if hang.Load() {
				<-time.After(5 * time.Second) // ignores ctx
			}
			if fail.Load() {
				return errs.E("s3.check", errs.Unavailable, `S3 endpoint http://127.0.0.1:1 bucket "b" is unavailable`, errors.New("connection refused"))
			}
			return nil
		}
		return d, nil
	}
	cfg := testConfig(t)
	s, err := Start(context.Background(), "storaged", cfg, build, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	health := func() (int, Health, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, b := get(t, s.URL()+"/health", "")
		var h Health
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("/health: %s", b)
		}
		return resp.StatusCode, h, time.Since(start)
	}
	if code, h, _ := health(); code != 200 || h.Status != "ok" || h.Error != "" {
		t.Fatalf("healthy: %d %+v", code, h)
	}
	fail.Store(true)
	time.Sleep(healthCheckTTL + 100*time.Millisecond)
	code, h, _ := health()
	if code != 200 || h.Status != "degraded" || !strings.Contains(h.Error, "127.0.0.1:1") || !strings.Contains(h.Error, `bucket "b"`) {
		t.Fatalf("check failing: %d %+v, want 200 degraded naming endpoint and bucket", code, h)
	}
	// -healthcheck: alive is enough.
	_, port, _ := net.SplitHostPort(s.Addr)
	cfg.Storaged.Bind = "127.0.0.1:" + port
	var out, errOut bytes.Buffer
	if rc := checkHealth("storaged", cfg, &out, &errOut); rc != 0 || !strings.Contains(out.String(), "degraded") {
		t.Fatalf("-healthcheck of a degraded daemon: exit %d, %q %q", rc, out.String(), errOut.String())
	}
	// Cached: a burst of /health runs the check at most once more.
	n := calls.Load()
	for range 20 {
		health()
	}
	if got := calls.Load() - n; got > 1 {
		t.Errorf("20 /health in a row ran the check %d times", got)
	}
	// A check that hangs (5 s) holds /health about healthCheckTimeout (1 s),
	// not until it ends: bounded below the hang, loose enough for a loaded
	// machine (2.8 s seen in a CI run beside other work).
	hang.Store(true)
	time.Sleep(healthCheckTTL + 100*time.Millisecond)
	code, h, took := health()
	if code != 200 || h.Status != "degraded" || took > healthCheckTimeout+2500*time.Millisecond {
		t.Fatalf("hanging check: %d %+v after %v", code, h, took)
	}
	t.Logf("hanging check: %q after %v", h.Error, took.Round(time.Millisecond))
	hang.Store(false)
	fail.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, h, _ := health()
		if code == 200 && h.Status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("check passing again: %d %+v", code, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
