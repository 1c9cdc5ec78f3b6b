package ollama

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// FuzzDecodeAnswer: decodeAnswer never panics; what it accepts is what
// encoding/json reads into Ollama's [][]float32 for the same body, every
// float finite, and a body with a null inside a vector or an "error" is
// refused.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{`{"model":"m","embeddings":[[0.1,-2e-3,3]],"total_duration":1}`,
		`{"model":"m","embeddings":[[0.5,null]]}`, `{"error":"x"}`, `{"embeddings":[[1e39]]}`,
		`{"embeddings":[[],[ 1 , 2 ]]}`, `{"embeddings":[["1"]]}`, `{"embeddings":[[[1]]]}`, `{"embeddings":null}`,
		`{"embeddings":[[1,2]]}x`, `{"embeddings":[[-0,1E+2,1e-50]]}`, `[]`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		a, err := decodeAnswer([]byte(body))
		var ref struct {
			Embeddings [][]float32 `json:"embeddings"`
			Error      string      `json:"error"`
		}
		refErr := json.Unmarshal([]byte(body), &ref)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if refErr != nil {
			t.Fatalf("%q: accepted, encoding/json says %v", body, refErr)
		}
		if ref.Error != "" {
			t.Fatalf("%q: an error answer accepted", body)
		}
		if strings.Contains(body, "null") && len(a.Embeddings) > 0 {
			// a null may sit in a string or elsewhere; only vectors matter
			var probe struct{ Embeddings [][]*float32 }
			if json.Unmarshal([]byte(body), &probe) == nil {
				for _, v := range probe.Embeddings {
					for _, x := range v {
						if x == nil {
							t.Fatalf("%q: a null accepted", body)
						}
					}
				}
			}
		}
		if len(a.Embeddings) != len(ref.Embeddings) {
			t.Fatalf("%q: %d vectors, encoding/json %d", body, len(a.Embeddings), len(ref.Embeddings))
		}
		for i, v := range a.Embeddings {
			if len(v) != len(ref.Embeddings[i]) {
				t.Fatalf("%q: vector %d has %d floats, encoding/json %d", body, i, len(v), len(ref.Embeddings[i]))
			}
			for j, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || x != ref.Embeddings[i][j] {
					t.Fatalf("%q: [%d][%d] = %v, encoding/json %v", body, i, j, x, ref.Embeddings[i][j])
				}
			}
		}
	})
}
