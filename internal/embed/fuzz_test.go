package embed_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
)

// FuzzEmbedRequest: any POST /v1/embed body that decodes is either refused
// as the client's fault (invalid, too_large, not_found — never a 5xx) or
// answered with one finite vector per text, all of dims floats, from the
// model asked for (the default when none), of length 1 (builtin:
// never a zero vector, which cosine search cannot rank); the same text twice (the cache)
// gives the same vector. Never a panic.
func FuzzEmbedRequest(f *testing.F) {
	for _, s := range []string{`{"input":"hello world"}`, `{"input":["a","b","a"],"model":"builtin-glove-100d"}`,
		`{"input":[]}`, `{"input":["x",null]}`, `{"input":"  \t"}`, `{"input":"x","model":"nope"}`,
		`{"input":["héllo 😀 日本語","\u0000","\ud800"]}`, `{"input":{"a":1}}`, `{"input":[1,true]}`, `{"input":"` + "é" + `"}`} {
		f.Add(s)
	}
	e := newBuiltin(f, embed.Config{MaxBatch: 64, MaxTextBytes: 4 << 10})
	f.Fuzz(func(t *testing.T, body string) {
		var req embed.EmbedRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		resp, err := e.Embed(context.Background(), req)
		if err != nil {
			if k := errs.KindOf(err); k != errs.Invalid && k != errs.TooLarge && k != errs.NotFound {
				t.Fatalf("%q: %v (%s)", body, err, k)
			}
			if errs.Message(err) == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		texts, _ := req.Texts()
		want := req.Model
		if want == "" {
			want = "builtin-glove-100d"
		}
		if resp.Model != want || len(resp.Embeddings) != len(texts) || resp.Dims <= 0 {
			t.Fatalf("%q: model %q dims %d, %d vectors for %d texts", body, resp.Model, resp.Dims, len(resp.Embeddings), len(texts))
		}
		seen := map[string][]float32{}
		for i, v := range resp.Embeddings {
			if len(v) != resp.Dims {
				t.Fatalf("vector %d has %d floats, dims %d", i, len(v), resp.Dims)
			}
			norm := 0.0
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("vector %d: %v", i, x)
				}
				norm += float64(x) * float64(x)
			}
			if math.Abs(norm-1) > 1e-3 { // builtin answers unit vectors, never zero (cosine)
				t.Fatalf("text %q: |v|^2 = %v", texts[i], norm)
			}
			if prev, ok := seen[texts[i]]; ok {
				for j := range v {
					if v[j] != prev[j] {
						t.Fatalf("text %q: two vectors", texts[i])
					}
				}
			}
			seen[texts[i]] = v
		}
	})
}
