package chatd_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
)

// TestErrorBodyWith200: an OpenAI-compatible upstream that answers HTTP 200
// with a JSON error body (OpenRouter's {"error":{"code":429,...}} once it
// picked a model) is that error — retried on 429 after its Retry-After,
// 400/404 kept — for streamed and non-streamed requests alike; it was "the
// upstream stream ended before the answer was done".
func TestErrorBodyWith200(t *testing.T) {
	cases := []struct {
		status     int
		wantStatus int
		wantKind   string
		calls      int // per request, retries = 1
	}{
		{429, 503, "unavailable", 2}, // busy: 503 since ADR-114
		{503, 503, "unavailable", 2},
		{400, 400, "invalid", 1},
		{404, 404, "not_found", 1},
	}
	for _, tc := range cases {
		t.Run(itoa(tc.status), func(t *testing.T) {
			e, up := withUpstream(t, "openrouter", chattest.Script{FailFirst: 1000, FailStatus: tc.status, FailInBody: true})
			for i, stream := range []bool{true, false} {
				resp := e.post(t, chat.RouteCompletions, map[string]any{"provider": "openrouter", "messages": userMsg("hi"), "stream": stream})
				msg := errBody(t, resp, tc.wantStatus, tc.wantKind)
				want := "openrouter: HTTP 200 carrying error " + itoa(tc.status) + ": scripted failure " + itoa(tc.status)
				if !strings.Contains(msg, want) || strings.Contains(msg, "ended") {
					t.Fatalf("stream=%v: %q lacks %q", stream, msg, want)
				}
				if n := len(up.Calls()); n != (i+1)*tc.calls {
					t.Fatalf("stream=%v: %d upstream calls, want %d", stream, n, (i+1)*tc.calls)
				}
			}
		})
	}

	// A 429 in the body with Retry-After: 1 is retried after that second,
	// and the retry's answer is the answer.
	e, up := withUpstream(t, "openrouter", chattest.Script{FailStatus: 429, FailInBody: true, RetryAfter: "1", Tokens: []string{"fine"}})
	for _, stream := range []bool{true, false} {
		up.SetScript(chattest.Script{FailFirst: 1, FailStatus: 429, FailInBody: true, RetryAfter: "1", Tokens: []string{"fine"}})
		before := len(up.Calls())
		t0 := time.Now()
		resp := e.post(t, chat.RouteCompletions, map[string]any{"provider": "openrouter", "messages": userMsg("hi"), "stream": stream})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"fine"`) || len(up.Calls())-before != 2 {
			t.Fatalf("stream=%v: %d %s calls=%d", stream, resp.StatusCode, b, len(up.Calls())-before)
		}
		if d := time.Since(t0); d < time.Second {
			t.Fatalf("stream=%v: answered after %v: Retry-After 1 not honoured", stream, d)
		}
	}
	// The typed client sees the same through the native route.
	up.SetScript(chattest.Script{FailFirst: 1000, FailStatus: 400, FailInBody: true})
	_, err := e.client.Chat(context.Background(), chat.Request{Provider: "openrouter", Messages: userMsg("hi")})
	if err == nil || !strings.Contains(err.Error(), "carrying error 400") {
		t.Fatalf("native: %v", err)
	}
}
