package shared_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// TestExtensionMethodsRoutedByPath: chi refuses a method outside its table
// (PROPFIND, MKCOL, a lower-case "get") with a 405 before it looks at the
// path, so a route that takes every method (the gateway's /v1 prefixes,
// chatd's /v1/chat/api/*) answered 405 naming all seven methods as
// allowed, and a path with no route at all a 405 with no Allow. Such a
// method now reaches an any-method route with its own method, a path
// without a route is a 404, and a route that takes some methods keeps its
// 405 naming them.
func TestExtensionMethodsRoutedByPath(t *testing.T) {
	build := func(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
		return &shared.Daemon{Routes: func(r chi.Router) {
			r.Post("/v1/post", func(w http.ResponseWriter, r *http.Request) {})
			r.Get("/v1/any/fixed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fixed") })
			r.HandleFunc("/v1/any/*", func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "any "+r.Method)
			})
		}}, nil
	}
	s := startDaemon(t, stallConfig(t), "observerd", build)
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL()+path, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, m := range []string{"PROPFIND", "MKCOL", "get"} {
		if resp, body := do(m, "/v1/any/thing"); resp.StatusCode != 200 || body != "any "+m {
			t.Errorf("%s /v1/any/thing: %d Allow %q %q; want 200 from the any-method route with method %s", m, resp.StatusCode, resp.Header.Get("Allow"), body, m)
		}
		if resp, body := do(m, "/v1/any/fixed"); resp.StatusCode != 200 || body != "any "+m {
			t.Errorf("%s /v1/any/fixed: %d Allow %q %q; want 200 from the any-method route", m, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
		resp, body := do(m, "/v1/nowhere")
		var e struct {
			Error struct{ Kind, Message string }
		}
		_ = json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 404 || e.Error.Kind != "not_found" || !strings.Contains(e.Error.Message, m+" /v1/nowhere") {
			t.Errorf("%s /v1/nowhere: %d Allow %q %s; want 404 not_found naming the request", m, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
		if resp, body := do(m, "/v1/post"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s /v1/post: %d Allow %q %s; want 405 Allow POST", m, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
	if resp, body := do("GET", "/v1/any/fixed"); resp.StatusCode != 200 || body != "fixed" {
		t.Errorf("GET /v1/any/fixed: %d %q; want its own GET route", resp.StatusCode, body)
	}
}
