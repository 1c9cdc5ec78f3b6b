package chatd_test

import (
	"context"
	"strings"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/errs"
)

// TestHugeUpstreamLine: an upstream line (NDJSON) or SSE event over
// chat.MaxLine is the upstream's protocol failure: a 502 saying so, not
// retried. It was "unreachable: line longer than 8388608 bytes" and
// retried, downloading the 8 MiB again; mid-stream the error event said
// "unreachable" too.
func TestHugeUpstreamLine(t *testing.T) {
	huge := strings.Repeat("x", chat.MaxLine+1)
	for _, tc := range []struct {
		name string
		up   func(chattest.Script) *chattest.Server
	}{
		{"ollama", chattest.NewOllama},
		{"openrouter", chattest.NewOpenAI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := tc.up(chattest.Script{Tokens: []string{huge}})
			defer up.Close()
			base := up.URL
			if tc.name == "openrouter" {
				base = up.Base()
			}
			cfg := config(t)
			configure(t, cfg, tc.name, base)
			e := start(t, cfg)
			_, err := e.client.Chat(context.Background(), chat.Request{Provider: tc.name, Messages: userMsg("hi")})
			if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 502 || strings.Contains(err.Error(), "unreachable") ||
				!strings.Contains(err.Error(), "line longer than") || len(up.Calls()) != 1 {
				t.Fatalf("before the first token: %v (%d) calls=%d", err, errs.StatusOf(err), len(up.Calls()))
			}
			up.SetScript(chattest.Script{Tokens: []string{"fine", huge}})
			st, err := e.client.ChatStream(context.Background(), chat.Request{Provider: tc.name, Messages: userMsg("hi")})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if r, err := st.Next(); err != nil || r.Message.Content != "fine" {
				t.Fatalf("first chunk: %+v %v", r, err)
			}
			_, err = st.Next()
			if err == nil || strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "line longer than") {
				t.Fatalf("mid-stream: %v", err)
			}
		})
	}
}
