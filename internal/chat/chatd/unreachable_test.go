package chatd_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
)

// TestUnreachableMessage: a provider that refuses the connection is a 502
// unavailable whose message names the provider and the cause
// ("ollama: unreachable: connection refused"), on the native, OpenAI and
// Ollama routes; Go's transport text — the method, the upstream URL,
// "dial tcp <addr>: connect:" — stays in the log (DESIGN.md: internal
// details stay in the log, as ADR-111 made it for daemon-to-daemon calls).
// It was "ollama: unreachable: Post \"http://127.0.0.1:N/api/chat\": dial
// tcp 127.0.0.1:N: connect: connection refused (after 2 tries)".
func TestUnreachableMessage(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	cfg := config(t)
	configure(t, cfg, "ollama", "http://"+addr)
	e := start(t, cfg)
	body := `{"model":"ollama/llama3.2","stream":false,"messages":[{"role":"user","content":"hi"}]}`
	for _, path := range []string{chat.RouteChat, chat.RouteCompletions, chat.RouteOllamaChat} {
		msg := errBody(t, e.post(t, path, body), http.StatusBadGateway, "unavailable")
		if !strings.Contains(msg, "ollama: unreachable: connection refused") {
			t.Errorf("%s: %q does not name the provider and the cause", path, msg)
		}
		for _, detail := range []string{addr, "dial tcp", "Post ", "/api/chat"} {
			if strings.Contains(msg, detail) {
				t.Errorf("%s: %q tells the client %q", path, msg, detail)
			}
		}
	}
	// The log is written off the request path: wait for the line.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(e.logs.String(), "dial tcp "+addr); {
		if time.Now().After(deadline) {
			t.Fatalf("the log lacks the transport error naming %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
