package embedd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
)

// TestStrictEmbedBody: an embed body with invalid UTF-8 in a text (it was
// embedded as "caf\ufffd": a vector of another text) or "input" given
// twice (the last was embedded) is a 400 invalid naming the byte or the
// key; the same text as UTF-8 is embedded as the client library sends it.
func TestStrictEmbedBody(t *testing.T) {
	_, s := start(t, config(t))
	post := func(body string) (int, string) {
		resp, err := http.Post(s.URL()+embed.RouteEmbed, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for body, want := range map[string]string{
		"{\"input\":[\"ok\",\"caf\xe9\"]}": `invalid UTF-8 at byte 19`,
		`{"input":"a","input":["b","c"]}`:  `duplicate key \"input\" at $.input (byte 13)`,
		`{"input":"\udbff"}`:               `unpaired UTF-16 surrogate escape \\udbff at byte 10`,
	} {
		code, b := post(body)
		if code != 400 || !strings.Contains(b, `"kind":"invalid"`) || !strings.Contains(b, want) {
			t.Errorf("%q: %d %s; want 400 invalid with %s", body, code, b, want)
		}
	}
	code, b := post(`{"input":["café"]}`)
	var res embed.EmbedResponse
	if code != 200 || json.Unmarshal([]byte(b), &res) != nil || len(res.Embeddings) != 1 {
		t.Fatalf("%d %s", code, b)
	}
	bi, _ := builtin.New()
	want := make([]float32, builtin.Dims)
	bi.EmbedOne("café", want)
	for i := range want {
		if want[i] != res.Embeddings[0][i] {
			t.Fatalf("café embedded as another text (dim %d)", i)
		}
	}
}
