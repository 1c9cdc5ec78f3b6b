package ollama_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestRedirectNotFollowed: an Ollama URL that answers POST /api/embed with
// a 301/302/303 (http:// of an https:// service) is a 502 naming the
// redirect. It was followed as a GET without the texts, and the answer to
// that GET was the error: "HTTP 405: Method Not Allowed" here, Ollama's 404
// ("not found; run `ollama pull`") for a model that is there. A 307 keeps
// the POST and is followed.
func TestRedirectNotFollowed(t *testing.T) {
	s := fake(t)
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, s.URL+r.URL.Path, status)
			}))
			defer redir.Close()
			before := len(s.Calls())
			vecs, err := newProvider(t, redir.URL, 5*time.Second).Embed(context.Background(), model, []string{"hello"})
			if status == http.StatusTemporaryRedirect {
				if err != nil || len(vecs) != 1 || len(vecs[0]) != 768 {
					t.Fatalf("307: %d vectors, %v", len(vecs), err)
				}
				return
			}
			if !errs.Is(err, errs.Unavailable) || errs.StatusOf(err) != 502 || !strings.Contains(err.Error(), "redirected to "+s.URL+"/api/embed") || len(s.Calls()) != before {
				t.Fatalf("%v (%d), the fake asked %d times", err, errs.StatusOf(err), len(s.Calls())-before)
			}
		})
	}
}
