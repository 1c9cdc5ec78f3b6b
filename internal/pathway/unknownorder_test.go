package pathway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway"
)

// TestHTTPUnknownFieldNamedInOrder: a message (or a content part) with
// several unknown fields is refused naming the first of them in name
// order, every time. The check ranged over the decoded object, a Go map,
// so the same request got a 400 naming a different field from call to
// call (the error body, like every answer, must not depend on map order).
func TestHTTPUnknownFieldNamedInOrder(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, c := range []struct{ messages, want string }{
		{`[{"role":"user","content":"hi","zeta":1,"beta":2,"kappa":3,"alpha":4,"omega":5,"delta":6}]`,
			`messages[0]: unknown field \"alpha\"`},
		{`[{"role":"user","content":[{"type":"text","text":"a","zz":1,"mm":2,"cache_control":{},"bb":3,"yy":4}]}]`,
			`messages[0].content[0]: unknown field \"bb\"`},
	} {
		seen := map[string]bool{}
		for range 30 {
			code, out := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"u","messages":`+c.messages+`}`)
			if code != 400 {
				t.Fatalf("%s: %d %s", c.messages, code, out)
			}
			var body errs.Body
			if err := json.Unmarshal([]byte(out), &body); err != nil {
				t.Fatal(err)
			}
			seen[body.Error.Message] = true
			if !strings.Contains(out, c.want) {
				t.Errorf("%s: want %q, got %s", c.messages, c.want, out)
				break
			}
		}
		if len(seen) != 1 {
			t.Errorf("%s: %d different answers to one request: %v", c.messages, len(seen), seen)
		}
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=u"); len(p.Results) != 0 {
		t.Fatalf("a refused add left memories: %+v", p.Results)
	}
}
