package shared_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

var errLoading = errors.New("vector indexes are not loaded yet")

// loadingDaemon answers every call on /v1/loading as vectord does while it
// loads its indexes (ADR-161): 503 with the JSON error body and the
// Retry-After that ?ra= names ("" none).
func loadingDaemon(_ context.Context, env *shared.Env) (*shared.Daemon, error) {
	return &shared.Daemon{Routes: func(r chi.Router) {
		r.Get("/v1/loading", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
			if ra := r.URL.Query().Get("ra"); ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			return errs.E("vector.get", errs.Unavailable, errLoading)
		}))
	}}, nil
}

// TestClientKeepsRetryAfter: every typed client's base (shared.Client)
// hands back a daemon's Retry-After on the error it decodes (errs.RetryAfter),
// through JSON and Do alike, with the kind and message as before; none
// when the answer had none or a malformed one. (It was dropped: matrixd read
// it with a transport of its own.)
func TestClientKeepsRetryAfter(t *testing.T) {
	cfg := shared.Default(t.TempDir())
	cfg.Section("vectord").Bind = "127.0.0.1:0"
	cfg.Report.Enabled = false
	cfg.Log.Access = false
	s, err := shared.Start(context.Background(), "vectord", cfg, loadingDaemon, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := &shared.Client{Service: "vectord", Base: s.URL(), Token: cfg.Auth.Token, HTTP: shared.NewHTTPClient(5 * time.Second)}
	ctx := context.Background()
	call := func(ra string) error {
		t.Helper()
		err := c.JSON(ctx, http.MethodGet, "/v1/loading?ra="+ra, nil, nil)
		if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != http.StatusServiceUnavailable || errs.Message(err) != errLoading.Error() {
			t.Fatalf("Retry-After %q: the error itself changed: %v (%d %q)", ra, err, errs.StatusOf(err), errs.Message(err))
		}
		return err
	}
	for ra, want := range map[string]time.Duration{"1": time.Second, "4": 4 * time.Second, "0": 0} {
		if d, ok := errs.RetryAfter(call(ra)); !ok || d != want {
			t.Errorf("Retry-After %q: errs.RetryAfter = %v, %v; want %v", ra, d, ok, want)
		}
	}
	// An HTTP date: the wait counts from the answer's own Date (whole
	// seconds), so it is the few seconds asked for, give or take one.
	if d, ok := errs.RetryAfter(call(strings.ReplaceAll(time.Now().UTC().Add(3*time.Second).Format(http.TimeFormat), " ", "%20"))); !ok || d < 2*time.Second || d > 4*time.Second {
		t.Errorf("HTTP-date Retry-After: %v, %v; want ~3s", d, ok)
	}
	for _, ra := range []string{"", "soon", "-1"} {
		if d, ok := errs.RetryAfter(call(ra)); ok {
			t.Errorf("Retry-After %q: errs.RetryAfter = %v, true", ra, d)
		}
	}
	req, err := c.NewRequest(ctx, http.MethodGet, "/v1/loading?ra=2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(req); err == nil {
		t.Fatal("Do: no error")
	} else if d, ok := errs.RetryAfter(err); !ok || d != 2*time.Second {
		t.Errorf("Do: errs.RetryAfter = %v, %v; want 2s", d, ok)
	}
}
