package chatd_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestOllamaRouteErrorBody: an error on the Ollama route is Ollama's body,
// {"error":"<message>"} (ADR-114). ollama-js (0.6) reads a JSON error as
// `message = errorData.error` and throws new ResponseError(message): with
// DESIGN.md's {"error":{"kind","message","request_id"}} every chatd error
// reached an ollama-js user as "ResponseError: [object Object]"; the Go
// client's StatusError.ErrorMessage was the raw body. The requests are the
// bytes ollama-js sends (seen on the wire).
func TestOllamaRouteErrorBody(t *testing.T) {
	cfg := config(t)
	fakeUpstream(t, cfg, "ollama", chattest.Script{FailFirst: 1 << 30, FailStatus: 500})
	cfg.Chatd.Retries = 0
	e := start(t, cfg)
	for _, tc := range []struct {
		name, body string
		status     int
		kind, msg  string
	}{
		{"unregistered provider", `{"model":"kimi/k2","messages":[{"role":"user","content":"hi"}],"stream":false}`,
			404, "not_found", "provider kimi is not registered"},
		{"format", `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false,"format":"yaml"}`,
			400, "invalid", `format: want "json" or a JSON schema object`},
		{"bad JSON", `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false`,
			400, "invalid", "not valid JSON"},
		{"upstream 500, streamed", `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			502, "unavailable", "ollama: HTTP 500"},
	} {
		resp := e.post(t, chat.RouteOllamaChat, tc.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// What ollama-js needs: a JSON Content-Type and a string "error".
		var js struct {
			Error     any    `json:"error"`
			Kind      string `json:"kind"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(b, &js); err != nil || resp.StatusCode != tc.status ||
			!strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		msg, ok := js.Error.(string)
		if !ok || !strings.Contains(msg, tc.msg) || strings.HasPrefix(msg, "{") {
			t.Errorf("%s: error is %#v (%s): ollama-js shows String(errorData.error), want a string holding %q", tc.name, js.Error, b, tc.msg)
		}
		if js.Kind != tc.kind || js.RequestID == "" || js.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: kind %q request_id %q (header %q), want kind %q and the request id", tc.name, js.Kind, js.RequestID, resp.Header.Get("X-Request-Id"), tc.kind)
		}
		wantErrorHeader(t, tc.name, resp, tc.kind, msg)
	}

	// The official Go client: StatusError.ErrorMessage is the message.
	base, _ := url.Parse(e.srv.URL() + "/v1/chat")
	oc := api.NewClient(base, &http.Client{Timeout: 10 * time.Second})
	stream := false
	err := oc.Chat(context.Background(), &api.ChatRequest{Model: "kimi/k2", Stream: &stream,
		Messages: []api.Message{{Role: "user", Content: "hi"}}}, func(api.ChatResponse) error { return nil })
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.HasPrefix(se.ErrorMessage, "provider kimi is not registered") {
		t.Fatalf("ollama Go client error = %#v", err)
	}
}

// TestOllamaClientListAndOtherRoutes: ollama.list() (GET /api/tags) lists
// the models chatd answers, as GET /v1/chat/models does, and the parts of
// Ollama's API chatd does not serve answer a 404 an Ollama client can show
// (ADR-114). Both were DESIGN.md's "no route" body: ollama-js threw
// "ResponseError: [object Object]" for ollama.list(), ollama.show(),
// ollama.generate(), ollama.version().
func TestOllamaClientListAndOtherRoutes(t *testing.T) {
	cfg := config(t)
	up := fakeUpstream(t, cfg, "ollama", chattest.Script{})
	cfg.Chatd.OllamaModel = "qwen3:8b"
	e := start(t, cfg)
	base, _ := url.Parse(e.srv.URL() + "/v1/chat")
	oc := api.NewClient(base, &http.Client{Timeout: 10 * time.Second})
	list, err := oc.List(context.Background())
	if err != nil || len(list.Models) != 1 || list.Models[0].Name != "ollama/qwen3:8b" || list.Models[0].Model != "ollama/qwen3:8b" ||
		list.Models[0].ModifiedAt.IsZero() {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// A listed name is one chatd answers.
	stream := false
	var got api.ChatResponse
	err = oc.Chat(context.Background(), &api.ChatRequest{Model: list.Models[0].Name, Stream: &stream,
		Messages: []api.Message{{Role: "user", Content: "hi"}}}, func(r api.ChatResponse) error { got = r; return nil })
	if err != nil || got.Message.Content != "Hello world!" {
		t.Fatalf("chat with a listed model: %+v %v", got, err)
	}
	_, err = oc.Show(context.Background(), &api.ShowRequest{Model: "ollama/qwen3:8b"})
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.Contains(se.ErrorMessage, "chatd serves Ollama's POST /api/chat and GET /api/tags only") {
		t.Fatalf("Show = %#v", err)
	}
	// What ollama-js reads: GET /api/version as it sends it.
	resp, err := e.http.Get(e.srv.URL() + "/v1/chat/api/version")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var js struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(b, &js) != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /api/version: %d %s", resp.StatusCode, b)
	}
	if _, ok := js.Error.(string); !ok {
		t.Fatalf("GET /api/version: error is %#v, want a string (%s)", js.Error, b)
	}
	if n := len(up.Calls()); n != 1 {
		t.Fatalf("upstream calls %d, want 1 (the chat)", n)
	}
}
