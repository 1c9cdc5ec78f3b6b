package chatd_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/chat/chattest"
	"lakehouse-go/internal/errs"
)

// TestUpstreamRedirectNotFollowed: an upstream answering a chat POST with
// a 301/302/303 (an http:// URL of an https:// service) is a 502 naming the
// Location. chatd followed it, and Go turns such a POST into a GET without
// the body: the messages were lost, and the answer to the GET was the reply
// — Ollama's "400 missing request body" blamed on the client as a 400, or
// (here, a server that answers anything) a 200. A 307 keeps the POST and
// its body, and is followed.
func TestUpstreamRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			up := chattest.NewOllama(chattest.Script{Tokens: []string{"answer to a GET"}})
			defer up.Close()
			var gets atomic.Int64
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gets.Add(1)
				r.Method = http.MethodPost // answer whatever came, as a lenient server would
				up.Config.Handler.ServeHTTP(w, r)
			}))
			defer target.Close()
			redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, status)
			}))
			defer redir.Close()
			cfg := config(t)
			configure(t, cfg, "ollama", redir.URL)
			e := start(t, cfg)
			r, err := e.client.Chat(context.Background(), chat.Request{Provider: "ollama", Messages: userMsg("hi")})
			if status == http.StatusTemporaryRedirect {
				if err != nil || r.Message.Content != "answer to a GET" || gets.Load() != 1 {
					t.Fatalf("307: %+v %v", r, err)
				}
				return
			}
			if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 502 || !strings.Contains(err.Error(), "redirected to "+target.URL) || gets.Load() != 0 {
				t.Fatalf("%+v %v (%d), target asked %d times", r, err, errs.StatusOf(err), gets.Load())
			}
		})
	}
}
