package chatd_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/chat"
)

// TestSSEErrorEventAsText (ADR-107): an OpenAI-compatible upstream that
// reports a failure inside its event stream with the error as a string —
// data: {"error":"...","error_type":"..."}, Hugging Face TGI's form (the
// form chatd already read from a whole JSON body) — is that upstream's
// error with its message: before the first token a 502 naming it (retried,
// as an error without a status), after it the stream's error frame naming
// it. It was "undecodable SSE chunk: json: cannot unmarshal string ...",
// the upstream's own message lost.
func TestSSEErrorEventAsText(t *testing.T) {
	var calls atomic.Int32
	var afterFirst atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		if afterFirst.Load() {
			io.WriteString(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"fine"},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		}
		io.WriteString(w, `data: {"error":"Model is overloaded","error_type":"overloaded"}`+"\n\n")
	}))
	defer up.Close()
	cfg := config(t)
	configure(t, cfg, "opencode", up.URL+"/v1")
	e := start(t, cfg)

	msg := errBody(t, e.post(t, chat.RouteChat, `{"model":"opencode/m","messages":[{"role":"user","content":"hi"}]}`), 502, "unavailable")
	if !strings.Contains(msg, "Model is overloaded") || strings.Contains(msg, "undecodable") {
		t.Fatalf("before the first token: %q", msg)
	}
	if n := calls.Load(); n != 2 { // retried once ([chatd].retries = 1), as an upstream 502
		t.Fatalf("%d upstream calls, want 2", n)
	}

	afterFirst.Store(true)
	resp := e.post(t, chat.RouteCompletions, `{"model":"opencode/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"content":"fine"`) || !strings.Contains(string(b), "Model is overloaded") ||
		strings.Contains(string(b), "undecodable") {
		t.Fatalf("mid-stream: %d %s", resp.StatusCode, b)
	}
}
