package vector

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzWireVector feeds JSON values to wireVector (a request body's
// vector, ADR-154) and to encoding/json's []float32 reading it replaced:
// it must never panic; where encoding/json reads a vector, wireVector
// reads the same float32 bits and finds nothing out of range; where
// encoding/json fails, wireVector fails too or names an out-of-range
// number, which is then one beyond float32's range.
func FuzzWireVector(f *testing.F) {
	for _, s := range []string{`[1,2,3]`, `[0, 1e39 ,2]`, `[-3.4028236e38]`, `[3.4028235e38]`, `[1e400]`, `[-0, 1e-50]`,
		`[null, 0.1]`, `null`, `[]`, ` [ ] `, `[1,"2"]`, `"1,2"`, `[1,[2,3]]`, `[{"a":1,"b":2}]`, `[true]`, `{}`, `[1e39, "x"]`, "[\n1\t,\r2 ]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var want struct{ V []float32 }
		jerr := json.Unmarshal([]byte(`{"V":`+s+`}`), &want)
		var got struct{ V wireVector }
		werr := json.Unmarshal([]byte(`{"V":`+s+`}`), &got)
		if jerr == nil {
			if got.V.null > 0 && got.V.v[got.V.null-1] != 0 {
				t.Fatalf("%s: null at %d read as %v", s, got.V.null-1, got.V.v[got.V.null-1])
			}
			if werr != nil || got.V.big != "" {
				t.Fatalf("%s: encoding/json read %v, wireVector %v (out of range %q)", s, want.V, werr, got.V.big)
			}
			if len(got.V.v) != len(want.V) || (got.V.v == nil) != (want.V == nil) {
				t.Fatalf("%s: encoding/json read %v, wireVector %v", s, want.V, got.V.v)
			}
			for i := range want.V {
				if math.Float32bits(got.V.v[i]) != math.Float32bits(want.V[i]) {
					t.Fatalf("%s: element %d: encoding/json %v, wireVector %v", s, i, want.V[i], got.V.v[i])
				}
			}
			return
		}
		if werr == nil && got.V.big == "" {
			t.Fatalf("%s: encoding/json failed (%v), wireVector read %v", s, jerr, got.V.v)
		}
		if got.V.big != "" {
			var f64 float64
			if err := json.Unmarshal([]byte(got.V.big), &f64); err == nil && math.Abs(f64) <= math.MaxFloat32 {
				t.Fatalf("%s: %s named out of range", s, got.V.big)
			}
		}
	})
}
