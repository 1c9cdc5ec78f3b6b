package ollama

import (
	"encoding/json"
	"testing"
)

// FuzzClassify: any /api/show answer is classified without a panic; a
// model is "embedding" only when capabilities name it or (without them)
// model_info has the architecture's pooling_type; dims stays in range.
func FuzzClassify(f *testing.F) {
	f.Add([]byte(`{"model_info":{"general.architecture":"bert","bert.embedding_length":1024,"bert.pooling_type":1},"capabilities":["embedding"]}`))
	f.Add([]byte(`{"model_info":{"general.architecture":"llama","llama.embedding_length":4096},"capabilities":["completion","tools"]}`))
	f.Add([]byte(`{"model_info":{"general.architecture":"bert","bert.pooling_type":1}}`))
	f.Add([]byte(`{"model_info":{}}`))
	f.Add([]byte(`{"capabilities":null,"model_info":{"general.architecture":7}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		k, err := classify(raw)
		if err != nil {
			return
		}
		if k.dims < 0 || k.dims >= 1<<20 {
			t.Fatalf("dims %d", k.dims)
		}
		if k.embeds == yes {
			var a struct {
				Capabilities []string `json:"capabilities"`
			}
			_ = json.Unmarshal(raw, &a)
			if len(a.Capabilities) > 0 {
				found := false
				for _, c := range a.Capabilities {
					found = found || c == "embedding"
				}
				if !found {
					t.Fatalf("embedding without the capability: %s", raw)
				}
			}
		}
	})
}
