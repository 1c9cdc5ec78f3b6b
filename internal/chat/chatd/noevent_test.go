package chatd_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/errs"
)

// TestOpenAI200WithoutEvents: an OpenAI-compatible upstream (or a proxy in
// front of it) answering 200 with a body that holds no event — an HTML
// page, nothing — is a 502 that says so, with the Content-Type, still
// retried as an early end. It said only "the upstream stream ended before
// the answer was done", as for a stream cut after its first event.
func TestOpenAI200WithoutEvents(t *testing.T) {
	for _, tc := range []struct{ ctype, body string }{
		{"text/html; charset=utf-8", "<!doctype html><html><body>Just a moment...</body></html>"},
		{"text/event-stream", ""},
	} {
		t.Run(tc.ctype, func(t *testing.T) {
			var calls atomic.Int64
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", tc.ctype)
				io.WriteString(w, tc.body)
			}))
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, "openrouter", up.URL)
			e := start(t, cfg)
			_, err := e.client.Chat(context.Background(), chat.Request{Provider: "openrouter", Messages: userMsg("hi")})
			want := `HTTP 200 with Content-Type "` + tc.ctype + `" and no event`
			if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 502 || !strings.Contains(err.Error(), want) || calls.Load() != 2 {
				t.Fatalf("%v (%d) calls=%d, want %q", err, errs.StatusOf(err), calls.Load(), want)
			}
		})
	}
}
