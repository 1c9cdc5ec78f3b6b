package chatd_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// TestRequestEndsMidStream: once the answer streams, the request's own end
// is not the upstream's failure. [chatd].request_timeout passing mid-stream
// ends the stream with a timeout naming request_timeout (it said "no first
// token within 2m0s ([chatd].timeout): context deadline exceeded", after
// the first token); a client hanging up is logged as that at INFO (it was
// WARN "ollama broke mid-answer: unreachable: context canceled", then WARN
// "request failed after response started").
func TestRequestEndsMidStream(t *testing.T) {
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			up, base := u.start(chattest.Script{Tokens: chattest.Tokens(200), Delay: 20 * time.Millisecond})
			defer up.Close()
			cfg := config(t)
			configure(t, cfg, u.name, base)
			// Mid-stream (the stream runs 4 s): the first token must come
			// before it, so 1.5 s, not 500 ms, for a loaded host.
			cfg.Chatd.RequestTimeout = shared.Duration{Duration: 1500 * time.Millisecond}
			e := start(t, cfg)
			st, err := e.client.ChatStream(context.Background(), chat.Request{Messages: userMsg("hi")})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, err = st.Next()
				if err != nil {
					break
				}
				n++
			}
			st.Close()
			if n == 0 || !errs.Is(err, errs.Timeout) || !strings.Contains(err.Error(), "request_timeout") || strings.Contains(err.Error(), "first token") {
				t.Fatalf("after %d chunks: %v", n, err)
			}

			cfg = config(t)
			configure(t, cfg, u.name, base)
			e = start(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL()+chat.RouteCompletions,
				strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
			resp, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
				t.Fatal(err)
			}
			gone := up.Gone()
			cancel()
			resp.Body.Close()
			deadline := time.Now().Add(3 * time.Second)
			for up.Gone() == gone || !strings.Contains(e.logs.String(), "client closed the connection mid-stream") {
				if time.Now().After(deadline) {
					t.Fatalf("no upstream cancel or log line; logs:\n%s", e.logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			if logs := e.logs.String(); strings.Contains(logs, "broke mid-answer") || strings.Contains(logs, "response started") {
				t.Fatalf("a client hang-up logged as a failure:\n%s", logs)
			}
		})
	}
}
