package shared_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// TestHeadAnswersAsGet: every daemon's GET routes answered HEAD with 405
// (Allow: GET), so curl -I and load-balancer HEAD probes of /health,
// /metrics, /v1/catalog/datasets, /v1/observer/stats... saw a broken
// daemon. HEAD now runs the GET route and sends its head without the body,
// in a mounted sub-router too; a HEAD route of its own still wins; a path
// with no GET stays a 405 naming what it takes.
func TestHeadAnswersAsGet(t *testing.T) {
	cfg := stallConfig(t)
	build := func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(r chi.Router) {
			r.Get("/v1/list", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"items":[1,2,3]}`)
			})
			r.Route("/v1/sub", func(r chi.Router) {
				r.Get("/{id}", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Id", chi.URLParam(r, "id"))
					io.WriteString(w, "sub body")
				})
			})
			r.Get("/v1/own", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "get") })
			r.Head("/v1/own", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Own-Head", "1") })
			r.Post("/v1/post", func(w http.ResponseWriter, r *http.Request) {})
			r.Post("/v1/list", func(w http.ResponseWriter, r *http.Request) {})
		}}, nil
	}
	s := startDaemon(t, cfg, "observerd", build)
	head := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Head(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(b) != 0 {
			t.Errorf("HEAD %s: a body of %d bytes", path, len(b))
		}
		return resp
	}
	for _, p := range []string{"/health", "/metrics", "/v1/list", "/v1/sub/x7"} {
		if resp := head(p); resp.StatusCode != 200 {
			t.Errorf("HEAD %s: %d (Allow %q), want 200 as GET", p, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if resp := head("/v1/list"); resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != int64(len(`{"items":[1,2,3]}`)) {
		t.Errorf("HEAD /v1/list: Content-Type %q, Content-Length %d: not GET's head", resp.Header.Get("Content-Type"), resp.ContentLength)
	}
	if resp := head("/v1/sub/x7"); resp.Header.Get("X-Id") != "x7" {
		t.Errorf("HEAD /v1/sub/x7 in a sub-router: X-Id %q", resp.Header.Get("X-Id"))
	}
	if resp := head("/v1/own"); resp.StatusCode != 200 || resp.Header.Get("X-Own-Head") != "1" {
		t.Errorf("HEAD /v1/own: %d, X-Own-Head %q: its own HEAD route did not answer", resp.StatusCode, resp.Header.Get("X-Own-Head"))
	}
	if resp := head("/v1/post"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("HEAD /v1/post: %d, Allow %q; want 405, Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	req, _ := http.NewRequest("DELETE", s.URL()+"/v1/list", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if allow := resp.Header.Get("Allow"); resp.StatusCode != 405 || !strings.Contains(allow, "GET, HEAD") {
		t.Errorf("DELETE /v1/list: %d, Allow %q; want 405 naming GET, HEAD", resp.StatusCode, allow)
	}
}
