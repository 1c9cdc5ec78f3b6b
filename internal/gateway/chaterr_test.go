package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
)

// TestChatRouteErrorShapes: the gateway's own errors on chatd's routes —
// its 401 for a bad token, its 502 for a chatd that is down — come in the
// shape chatd answers there (ADR-125): OpenAI's type/code/param under the
// OpenAI base URL, Ollama's {"error":"msg"} under /v1/chat/api, DESIGN.md's
// body on the native /v1/chat, /v1/chat/providers and every other route.
// They were DESIGN.md's body on every route: through the gateway (where
// every client of the suite talks) openai-node's err.code was undefined on
// a bad token and ollama-js showed "[object Object]". Both serving paths.
func TestChatRouteErrorShapes(t *testing.T) {
	const token = "gw-chat-shape-token-4b1f0c"
	for _, fast := range []bool{true, false} {
		gw, _ := startGatewayWith(t, fast, "http://127.0.0.1:1", func(c *shared.Config) {
			c.Auth.Token = token
			c.Chatd.URL = "http://127.0.0.1:1"
		})
		for _, tc := range []struct {
			path, token string
			status      int
			shape       string // openai | ollama | design
			code        string // OpenAI's code, when openai
		}{
			{"/v1/chat/completions", "wrong", 401, "openai", "invalid_api_key"},
			{"/v1/chat/chat/completions", "", 401, "openai", "invalid_api_key"},
			{"/v1/chat/api/chat", "wrong", 401, "ollama", ""},
			{"/v1/chat", "wrong", 401, "design", ""},
			{"/v1/chat/providers", "wrong", 401, "design", ""},
			{"/v1/sql", "wrong", 401, "design", ""},
			{"/v1/chat/completions", token, 502, "openai", ""},
			{"/v1/chat/api/chat", token, 502, "ollama", ""},
			{"/v1/chat", token, 502, "design", ""},
		} {
			req, _ := http.NewRequest("POST", gw.URL()+tc.path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body map[string]json.RawMessage
			if resp.StatusCode != tc.status || json.Unmarshal(b, &body) != nil {
				t.Errorf("fast %v: POST %s: %d %s, want %d", fast, tc.path, resp.StatusCode, b, tc.status)
				continue
			}
			var msg string
			isString := json.Unmarshal(body["error"], &msg) == nil
			var fields map[string]json.RawMessage
			json.Unmarshal(body["error"], &fields)
			switch tc.shape {
			case "ollama":
				if !isString || msg == "" || string(body["kind"]) == "" || string(body["request_id"]) == "" {
					t.Errorf("fast %v: POST %s: %s, want Ollama's {\"error\":\"msg\",...}", fast, tc.path, b)
				}
			case "openai":
				_, hasType := fields["type"]
				_, hasCode := fields["code"]
				_, hasParam := fields["param"]
				if isString || !hasType || !hasCode || !hasParam || fields["message"] == nil || fields["request_id"] == nil {
					t.Errorf("fast %v: POST %s: %s, want DESIGN.md's object with OpenAI's type, code and param", fast, tc.path, b)
				} else if tc.code != "" && string(fields["code"]) != `"`+tc.code+`"` {
					t.Errorf("fast %v: POST %s: code %s, want %q", fast, tc.path, fields["code"], tc.code)
				}
			case "design":
				_, hasType := fields["type"]
				if isString || hasType || fields["kind"] == nil || fields["message"] == nil || fields["request_id"] == nil {
					t.Errorf("fast %v: POST %s: %s, want DESIGN.md's body", fast, tc.path, b)
				}
			}
		}
	}
}
