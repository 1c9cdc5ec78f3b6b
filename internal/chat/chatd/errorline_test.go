package chatd_test

import (
	"bufio"
	"encoding/json"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/errs"
)

// TestNativeStreamErrorLineIdentified: a native NDJSON stream (POST
// /v1/chat, "stream":true) whose upstream broke after the first tokens
// ended with {"id":"","provider":"","model":"","message":{"role":""},...,
// "error":{...}}: a client that groups lines by id or shows the model lost
// the answer's identity on its last line. The error line now carries the
// id, provider, model and created_at of the lines before it, role
// assistant, done true and the error. Both wire protocols (Ollama NDJSON,
// OpenAI SSE) upstream.
func TestNativeStreamErrorLineIdentified(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			bad, base := u.start(chattest.Script{Tokens: chattest.Tokens(5), BreakAfter: 2})
			defer bad.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			cfg.Chatd.Fallback = []string{u.name}
			e := start(t, cfg)
			resp := e.post(t, chat.RouteChat, map[string]any{"messages": userMsg("hi"), "stream": true})
			defer resp.Body.Close()
			var lines []chat.Response
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var r chat.Response
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				lines = append(lines, r)
			}
			if resp.StatusCode != 200 || len(lines) < 2 {
				t.Fatalf("%d, %d lines", resp.StatusCode, len(lines))
			}
			first, last := lines[0], lines[len(lines)-1]
			if last.Error == nil || last.Error.Kind != errs.Unavailable || !last.Done {
				t.Fatalf("last line %+v, want the error line", last)
			}
			if first.ID == "" || last.ID != first.ID || last.Provider != first.Provider || last.Model != first.Model ||
				!last.CreatedAt.Equal(first.CreatedAt) || last.Message.Role != chat.RoleAssistant {
				t.Errorf("error line id %q provider %q model %q created_at %v role %q; the answer's are %q %q %q %v %q",
					last.ID, last.Provider, last.Model, last.CreatedAt, last.Message.Role,
					first.ID, first.Provider, first.Model, first.CreatedAt, chat.RoleAssistant)
			}
		})
	}
}
