package chatd_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/chat"
)

// endlessEvent is an OpenAI-compatible upstream that answers with one
// well-formed chat.completion.chunk event ("fine"), then "data:" lines of
// 1 MiB each — up to total bytes — without the blank line that ends an
// event. written counts what it got onto the connection.
func endlessEvent(total int, written *atomic.Int64) *httptest.Server {
	line := "data: " + strings.Repeat("x", 1<<20) + "\n"
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		io.WriteString(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"fine"},"logprobs":null,"finish_reason":null}]}`+"\n\n")
		fl.Flush()
		for n := 0; n < total; n += len(line) {
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
			written.Add(int64(len(line)))
		}
		fl.Flush()
	}))
}

// TestSSEEventWithoutEndBounded (ADR-107): an upstream event whose data
// lines never end (no blank line) is cut once they pass chat.MaxLine
// together: a 502 unavailable naming it (non-streamed), the stream's error
// frame after "fine" (streamed), and the upstream is closed. Before, the
// SSE reader joined every data line of the event — 64 MiB here, without
// bound — and then failed it as an undecodable chunk.
func TestSSEEventWithoutEndBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a large answer")
	}
	const total = 64 << 20
	var written atomic.Int64
	up := endlessEvent(total, &written)
	defer up.Close()
	cfg := config(t)
	configure(t, cfg, "openrouter", up.URL+"/v1")
	e := start(t, cfg)
	want := fmt.Sprintf("the upstream sent an SSE event longer than %d bytes", chat.MaxLine)

	msg := errBody(t, e.post(t, chat.RouteChat, `{"model":"openrouter/m","messages":[{"role":"user","content":"hi"}]}`), 502, "unavailable")
	if !strings.Contains(msg, want) {
		t.Fatalf("non-streamed: %q lacks %q", msg, want)
	}
	if n := written.Load(); n > 3*chat.MaxLine {
		t.Fatalf("the upstream got %d MiB onto the connection: chatd read past its limit", n>>20)
	}

	written.Store(0)
	resp := e.post(t, chat.RouteCompletions, `{"model":"openrouter/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"content":"fine"`) || !strings.Contains(string(b), want) ||
		!strings.HasSuffix(string(b), "data: [DONE]\n\n") {
		t.Fatalf("streamed: %d %.600s", resp.StatusCode, b)
	}
	if n := written.Load(); n > 3*chat.MaxLine {
		t.Fatalf("streamed: the upstream got %d MiB onto the connection", n>>20)
	}
}
