package embedd_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/errs"
)

// TestUnknownQueryParams: no embedd route takes a query parameter; one is
// a 400 invalid naming it (ADR-099). POST /v1/embed?model=nope embedded
// with the default model, answering vectors of a model the caller did not
// ask for (the same model in the body is a 404). The typed client is
// still answered.
func TestUnknownQueryParams(t *testing.T) {
	c, s := start(t, config(t))
	const none = "(this route takes: none)"
	for _, tc := range []struct {
		method, path, body string
		want, hint         string
	}{
		{"POST", embed.RouteEmbed + "?model=nope", `{"input":"forklift"}`, `unknown query parameter "model" ` + none, "fields of the JSON body"},
		{"POST", embed.RouteEmbed + "?input=x&truncate=false", `{"input":"forklift"}`, `unknown query parameters "input", "truncate" ` + none, "fields of the JSON body"},
		{"POST", embed.RouteEmbed + "?model=a;b", `{"input":"forklift"}`, "query string: ", ""},
		{"GET", embed.RouteModels + "?name=x", "", `unknown query parameter "name" ` + none, ""},
	} {
		req, err := http.NewRequest(tc.method, s.URL()+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errs.Body
		json.Unmarshal(b, &e)
		if resp.StatusCode != 400 || e.Error.Kind != errs.Invalid || !strings.Contains(e.Error.Message, tc.want) || !strings.Contains(e.Error.Message, tc.hint) || e.Error.RequestID == "" {
			t.Errorf("%s %s: %d %.300s, want a 400 saying %q and %q", tc.method, tc.path, resp.StatusCode, b, tc.want, tc.hint)
		}
	}
	// The typed client sends nothing the routes refuse.
	ctx := context.Background()
	if r, err := c.Embed(ctx, embed.EmbedRequest{Input: "forklift", Model: builtin.Model}); err != nil || r.Model != builtin.Model || len(r.Embeddings) != 1 {
		t.Fatalf("client Embed: %v", err)
	}
	if ms, err := c.Models(ctx); err != nil || len(ms.Models) != 1 {
		t.Fatalf("client Models: %+v %v", ms, err)
	}
}
