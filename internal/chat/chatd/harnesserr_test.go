package chatd_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// wantOllamaErr checks Ollama's error body ({"error":"<message>"} with kind
// and request_id beside it): ollama-js makes `error` its message, a
// DESIGN.md object there was "[object Object]".
func wantOllamaErr(t *testing.T, what string, resp *http.Response, status int, kind, msg string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var o map[string]any
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s: %q: %v", what, b, err)
	}
	m, ok := o["error"].(string)
	if resp.StatusCode != status || !ok || !strings.Contains(m, msg) || o["kind"] != kind || o["request_id"] == "" {
		t.Fatalf("%s: %d %s, want %d Ollama's body with %q", what, resp.StatusCode, b, status, msg)
	}
	wantErrorHeader(t, what, resp, kind, m)
}

// wantErrorHeader checks X-Lakehouse-Error, "kind; <message
// percent-escaped>", which every error answer carries (the answer to a
// HEAD has no body): Ollama's were without it.
func wantErrorHeader(t *testing.T, what string, resp *http.Response, kind, msg string) {
	t.Helper()
	k, m, ok := strings.Cut(resp.Header.Get(errs.ErrorHeader), "; ")
	if um, err := url.QueryUnescape(m); !ok || err != nil || k != kind || um != msg {
		t.Errorf("%s: %s %q, want %q with the body's message %q", what, errs.ErrorHeader, resp.Header.Get(errs.ErrorHeader), kind, msg)
	}
}

// TestHarnessErrorShapes: the errors the shared harness answers before
// chatd's handlers (401 bad token, 403 allowed_ips, 413 by
// Content-Length, 404 no route, 405 method, 408 stalled body) were
// DESIGN.md's body on every route: on the OpenAI routes without type,
// code and param (openai-node's err.type undefined), on the Ollama routes
// an object where ollama-js wants a string ("[object Object]"). They are
// now the route's shape (ADR-125); the native routes keep DESIGN.md's.
func TestHarnessErrorShapes(t *testing.T) {
	old := shared.ClientBodyTimeout
	shared.ClientBodyTimeout = 300 * time.Millisecond
	t.Cleanup(func() { shared.ClientBodyTimeout = old })
	cfg := config(t)
	cfg.Auth.Token = "tok"
	cfg.Chatd.MaxBodyBytes = 4096
	e := start(t, cfg)
	do := func(method, path, token, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL()+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const hi = `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}]}`
	big := `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`

	for _, route := range []string{chat.RouteCompletions, chat.RouteBaseCompletions} {
		wantOpenAIErr(t, route+" no token", do("POST", route, "", hi), 401, "unauthorized", "invalid_request_error", chat.CodeInvalidAPIKey, nil)
		wantOpenAIErr(t, route+" wrong token", do("POST", route, "nope", hi), 401, "unauthorized", "invalid_request_error", chat.CodeInvalidAPIKey, nil)
		wantOpenAIErr(t, route+" 413", do("POST", route, "tok", big), 413, "too_large", "invalid_request_error", nil, nil)
		wantOpenAIErr(t, route+" GET", do("GET", route, "tok", ""), 405, "invalid", "invalid_request_error", nil, nil)
	}
	wantOpenAIErr(t, "models no token", do("GET", chat.RouteModels, "", ""), 401, "unauthorized", "invalid_request_error", chat.CodeInvalidAPIKey, nil)
	// client.embeddings.create with base /v1/chat: no such route; the 404
	// is about the URL, not a model (api.openai.com: code null).
	wantOpenAIErr(t, "embeddings", do("POST", "/v1/chat/embeddings", "tok", `{"model":"x","input":"a"}`), 404, "not_found", "invalid_request_error", nil, nil)

	wantOllamaErr(t, "ollama chat no token", do("POST", chat.RouteOllamaChat, "", hi), 401, "unauthorized", "missing or wrong bearer token")
	wantOllamaErr(t, "ollama tags no token", do("GET", chat.RouteOllamaTags, "", ""), 401, "unauthorized", "missing or wrong bearer token")
	// A HEAD's answer has no body: the header is all an Ollama-route
	// client (curl -I, a probe) gets.
	resp := do("HEAD", chat.RouteOllamaTags, "", "")
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("HEAD %s: %d, want 401", chat.RouteOllamaTags, resp.StatusCode)
	}
	wantErrorHeader(t, "HEAD ollama tags no token", resp, "unauthorized", "missing or wrong bearer token")
	wantOllamaErr(t, "ollama chat 413", do("POST", chat.RouteOllamaChat, "tok", big), 413, "too_large", "over the limit")
	// (the rest of /api/* is chatd's own 404; the host's bare path is the harness's)
	wantOllamaErr(t, "ollama bare path", do("GET", chat.RouteOllamaPrefix, "tok", ""), 404, "not_found", "no route GET /v1/chat/api")

	// The native routes keep DESIGN.md's body.
	errBody(t, do("POST", chat.RouteChat, "", hi), 401, "unauthorized")
	errBody(t, do("GET", chat.RouteProviders, "", ""), 401, "unauthorized")
	errBody(t, do("GET", chat.RouteChat, "tok", ""), 405, "invalid")
	errBody(t, do("GET", "/v1/nope", "tok", ""), 404, "not_found")

	// A body that stalls: 408 in the route's shape.
	for _, route := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		c, err := net.Dial("tcp", e.srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST "+route+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		switch route {
		case chat.RouteCompletions:
			wantOpenAIErr(t, "stall "+route, resp, 408, "timeout", "timeout", nil, nil)
		case chat.RouteOllamaChat:
			wantOllamaErr(t, "stall "+route, resp, 408, "timeout", "stalled")
		default:
			errBody(t, resp, 408, "timeout")
		}
		c.Close()
	}

	// 403: the peer is not in allowed_ips.
	cfg2 := config(t)
	cfg2.Auth.AllowedIPs = []string{"10.0.0.0/8"}
	if err := cfg2.Validate(); err != nil {
		t.Fatal(err)
	}
	e2 := start(t, cfg2)
	resp, _ = e2.http.Post(e2.srv.URL()+chat.RouteCompletions, "application/json", strings.NewReader(hi))
	wantOpenAIErr(t, "403", resp, 403, "forbidden", "permission_error", nil, nil)
	resp, _ = e2.http.Post(e2.srv.URL()+chat.RouteOllamaChat, "application/json", strings.NewReader(hi))
	wantOllamaErr(t, "403 ollama", resp, 403, "forbidden", "allowed_ips")
	resp, _ = e2.http.Post(e2.srv.URL()+chat.RouteChat, "application/json", strings.NewReader(hi))
	errBody(t, resp, 403, "forbidden")
}

// TestErrorWriterPanic: the recoverer's 500 (a panic cannot be caused
// from outside chatd) as chat.ErrorWriter answers it on each route.
func TestErrorWriterPanic(t *testing.T) {
	err := errs.E("recover", errs.Internal)
	for _, c := range []struct {
		path  string
		taken bool
	}{{chat.RouteCompletions, true}, {chat.RouteOllamaChat, true}, {chat.RouteOllamaPrefix, true}, {chat.RouteChat, false}, {chat.RouteProviders, false}, {"/metrics", false}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", c.path, nil)
		r.Header.Set(errs.RequestIDHeader, "req-1")
		if got := chat.ErrorWriter(w, r, err); got != c.taken {
			t.Fatalf("%s: taken %v, want %v", c.path, got, c.taken)
		}
		if !c.taken {
			if w.Body.Len() != 0 || w.Code != 200 {
				t.Fatalf("%s: wrote %d %s though it left it", c.path, w.Code, w.Body)
			}
			continue
		}
		resp := w.Result()
		resp.Request = r
		if strings.HasPrefix(c.path, chat.RouteOllamaPrefix) {
			wantOllamaErr(t, c.path, resp, 500, "internal", "internal error")
		} else {
			var b map[string]map[string]any
			json.Unmarshal(w.Body.Bytes(), &b)
			if w.Code != 500 || b["error"]["type"] != "server_error" || b["error"]["message"] != "internal error" {
				t.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
			}
		}
	}
}
