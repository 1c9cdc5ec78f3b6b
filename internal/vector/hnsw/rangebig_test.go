package hnsw

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRangeBoundBeyond2p53: an integer bound beyond 2^53 is refused with a
// way out that works (the bound in float form), not "send it as a string"
// (a range never matches a string); the float form suggested is taken.
func TestRangeBoundBeyond2p53(t *testing.T) {
	ix := build(t, Params{Dims: 2}, [][]float32{{1, 0}, {0, 1}}, func(i int) Metadata {
		return Metadata{"x": []float64{1e15, 1e17}[i]}
	})
	_, err := ix.Search([]float32{1, 0}, 2, 0, Filter{"x": map[string]any{"gte": json.Number("12345678901234567890")}})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if strings.Contains(msg, "as a string") || !strings.Contains(msg, `"x"`) || !strings.Contains(msg, "1.2345678901234567e+19") {
		t.Fatalf("message %q: want the field and the bound in float form, no string hint", msg)
	}
	for _, c := range []struct {
		bound string
		want  int
	}{{"1.2345678901234567e+19", 0}, {"9.007199254740993e15", 1}} {
		res, err := ix.Search([]float32{1, 0}, 2, 0, Filter{"x": map[string]any{"gte": json.Number(c.bound)}})
		if err != nil || len(res) != c.want {
			t.Errorf("gte %s: %v %v, want %d hits", c.bound, res, err, c.want)
		}
	}
}
