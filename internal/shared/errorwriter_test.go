package shared_test

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

// customBody is the error shape errorWriterDaemon's writer answers on
// /v1/x/ (chatd's OpenAI and Ollama routes have theirs).
type customBody struct {
	Custom struct {
		Status  int       `json:"status"`
		Kind    errs.Kind `json:"kind"`
		Message string    `json:"message"`
	} `json:"custom"`
}

// errorWriterDaemon has the same routes under /v1/x/ (its ErrorWriter
// takes them) and /v1/y/ (left to the harness).
func errorWriterDaemon(_ context.Context, env *shared.Env) (*shared.Daemon, error) {
	return &shared.Daemon{
		Routes: func(r chi.Router) {
			for _, p := range []string{"/v1/x", "/v1/y"} {
				r.Get(p+"/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
				r.Get(p+"/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
				r.Post(p+"/body", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
					if _, err := io.Copy(io.Discard, r.Body); err != nil {
						return errs.E("body", errs.Invalid, err)
					}
					return nil
				}))
			}
		},
		ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) bool {
			if !strings.HasPrefix(r.URL.Path, "/v1/x/") {
				return false
			}
			var b customBody
			b.Custom.Status, b.Custom.Kind, b.Custom.Message = errs.StatusOf(err), errs.KindOf(err), errs.Message(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(b.Custom.Status)
			json.NewEncoder(w).Encode(b)
			return true
		},
	}, nil
}

// The errors the harness answers itself (401, 403, 413 by Content-Length,
// 404, 405, the recoverer's 500, a stalled body's 408) go through the
// daemon's ErrorWriter on the paths it takes, with the status and message
// the harness gives them; elsewhere, and in a daemon without one, they are
// DESIGN.md's body as before. ADR-125.
func TestDaemonErrorWriter(t *testing.T) {
	const bound = 300 * time.Millisecond
	setBodyTimeout(t, bound)
	cfg := stallConfig(t)
	cfg.Auth.Token = "tok"
	cfg.Storaged.MaxBodyBytes = 100
	s := startDaemon(t, cfg, "storaged", errorWriterDaemon)

	do := func(method, path, token string, body io.Reader, length int64) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+path, body)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if length > 0 {
			req.ContentLength = length
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name, method, path, token string
		body                      string
		status                    int
		kind                      errs.Kind
		msg                       string
	}{
		{"401", "GET", "/ok", "", "", 401, errs.Unauthorized, "missing or wrong bearer token"},
		{"413", "POST", "/body", "tok", strings.Repeat("a", 1000), 413, errs.TooLarge, "over the limit of 100"},
		{"404", "GET", "/nope", "tok", "", 404, errs.NotFound, "no route GET /v1/"},
		{"405", "PUT", "/ok", "tok", "", 405, errs.Invalid, "method PUT not allowed on /v1/"},
		{"500", "GET", "/panic", "tok", "", 500, errs.Internal, "internal error"},
	}
	for _, c := range cases {
		for _, prefix := range []string{"/v1/x", "/v1/y"} {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			status, b := do(c.method, prefix+c.path, c.token, body, int64(len(c.body)))
			if status != c.status {
				t.Fatalf("%s %s: %d %s, want %d", c.name, prefix, status, b, c.status)
			}
			checkShape(t, c.name+" "+prefix, prefix == "/v1/x", b, c.status, c.kind, c.msg)
		}
	}
	// A stalled body's 408 replaces the handler's error answer.
	for _, prefix := range []string{"/v1/x", "/v1/y"} {
		resp, b, _, _ := stallRequest(t, s.Addr, "POST "+prefix+"/body HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 90\r\n\r\n", "abc")
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("stall %s: %d %s, want 408", prefix, resp.StatusCode, b)
		}
		checkShape(t, "stall "+prefix, prefix == "/v1/x", b, 408, errs.Timeout, "stalled")
	}

	// 403 from allowed_ips.
	cfg2 := stallConfig(t)
	cfg2.Auth.AllowedIPs = []string{"10.0.0.0/8"}
	if err := cfg2.Validate(); err != nil {
		t.Fatal(err)
	}
	s2 := startDaemon(t, cfg2, "storaged", errorWriterDaemon)
	for _, prefix := range []string{"/v1/x", "/v1/y"} {
		resp, err := http.Get(s2.URL() + prefix + "/ok")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("403 %s: %d %s", prefix, resp.StatusCode, b)
		}
		checkShape(t, "403 "+prefix, prefix == "/v1/x", string(b), 403, errs.Forbidden, "allowed_ips")
	}
}

func checkShape(t *testing.T, what string, custom bool, b string, status int, kind errs.Kind, msg string) {
	t.Helper()
	if custom {
		var cb customBody
		if err := json.Unmarshal([]byte(b), &cb); err != nil || cb.Custom.Status != status || cb.Custom.Kind != kind || !strings.Contains(cb.Custom.Message, msg) {
			t.Fatalf("%s: %s, want the daemon's body with %d %s %q", what, b, status, kind, msg)
		}
		return
	}
	var eb errs.Body
	if err := json.Unmarshal([]byte(b), &eb); err != nil || eb.Error.Kind != kind || !strings.Contains(eb.Error.Message, msg) || eb.Error.RequestID == "" {
		t.Fatalf("%s: %s, want DESIGN.md's body with %s %q", what, b, kind, msg)
	}
	if strings.Contains(b, "custom") {
		t.Fatalf("%s: %s: the daemon's writer answered a path it left", what, b)
	}
}

// TestClientBodyStallWithRequestTimeout: a daemon with a request_timeout
// (queryd's default 60 s; chatd's 10 min) answered a stalled body with
// its handler's error — chatd's 400 "request body is not valid JSON: read
// tcp ...: i/o timeout" — not the 408: net/http cancels the request's
// context when the body's read fails, and the stall check took any ended
// context for request_timeout's.
func TestClientBodyStallWithRequestTimeout(t *testing.T) {
	const bound = 300 * time.Millisecond
	setBodyTimeout(t, bound)
	cfg := stallConfig(t)
	if cfg.Queryd.RequestTimeout.Duration == 0 {
		t.Fatal("queryd has no default request_timeout any more: pick another daemon")
	}
	s := startDaemon(t, cfg, "queryd", slowRoute(0))
	resp, body, took, closed := stallRequest(t, s.Addr, "POST /v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "abc")
	want408(t, "queryd POST", resp, body, took, closed, bound)
}
