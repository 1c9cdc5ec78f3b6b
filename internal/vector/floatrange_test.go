package vector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestVectorNumberOutOfRange: a vector number beyond float32's range is a
// 400 that says so and where — item index, id and element index for an
// upsert, element index for a search — and changes nothing; it read
// `field "items.vector": want a number, got a JSON number 1e39` (ADR-154).
// A null element is refused too (it was read as 0). Vectors otherwise read
// as before: float32 rounding, -0 kept,
// a value below float32's smallest as 0, a wrong type the same message;
// NaN and Infinity are not JSON and read as such.
func TestVectorNumberOutOfRange(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "r", CreateIndexRequest{Dims: 3, Metric: "l2"}); err != nil {
		t.Fatal(err)
	}
	do := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+IndexesPath+"/r/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ path, body, msg string }{
		{"upsert", `{"items":[{"id":"a","vector":[1,2,3]},{"id":"b","vector":[0, 1e39 ,2]}]}`,
			`items[1] (id \"b\"): vector[1] = 1e39: out of float32 range (±3.4028235e38)`},
		{"upsert", `{"items":[{"vector":[-3.4028236e38,0,0],"id":"c"}]}`,
			`items[0] (id \"c\"): vector[0] = -3.4028236e38: out of float32 range (±3.4028235e38)`},
		{"upsert", `{"items":[{"id":"d","vector":[0,0,1e400]}]}`,
			`items[0] (id \"d\"): vector[2] = 1e400: out of float32 range (±3.4028235e38)`},
		{"search", `{"vector":[1,2,-1E39],"k":1}`,
			`vector[2] = -1E39: out of float32 range (±3.4028235e38)`},
		{"upsert", `{"items":[{"id":"e","vector":[1,"2",3]}]}`,
			`field \"items.vector\": want a number, got a JSON string`},
		{"upsert", `{"items":[{"id":"e","vector":"1,2,3"}]}`,
			`field \"items.vector\": want an array`},
		{"upsert", `{"items":[{"id":"e","vector":[1,[2],3]}]}`,
			`field \"items.vector\": want a number, got a JSON array`},
		{"upsert", `{"items":[{"id":"e","vector":[1,NaN,3]}]}`, `request body is not valid JSON`},
		{"upsert", `{"items":[{"id":"e","vector":[1,Infinity,3]}]}`, `request body is not valid JSON`},
		{"upsert", `{"items":[{"id":"e","vector":[1,2]}]}`, `has 2 dimensions, index has 3`},
		{"upsert", `{"items":[{"id":"e","vector":[1,2,3],"extra":1}]}`, `unknown field \"extra\"`},
		// A null element was read as 0: a vector unlike the one sent.
		{"upsert", `{"items":[{"id":"n","vector":[ null , 0.1 ,2 ]}]}`, `items[0] (id \"n\"): vector[0] is null: want a number`},
		{"upsert", `{"items":[{"id":"n","vector":[0,1e39,null]}]}`, `items[0] (id \"n\"): vector[1] = 1e39: out of float32 range`},
		{"search", `{"vector":[1,2,null],"k":1}`, `vector[2] is null: want a number`},
	} {
		code, body := do(tc.path, tc.body)
		var b errs.Body
		json.Unmarshal([]byte(body), &b)
		if code != 400 || b.Error.Kind != errs.Invalid || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s: %d %s, want 400 saying %s", tc.path, tc.body, code, body, tc.msg)
		}
	}
	if info, _ := s.GetIndex(ctx, "r"); info.Count != 0 {
		t.Fatalf("refused upserts changed the index: %+v", info)
	}

	// What is in range reads as a []float32 did.
	if code, body := do("upsert", `{"items":[{"id":"big","vector":[3.4028235e38,0,0]}]}`); code != 400 || !strings.Contains(body, "item 0 vector has length 3.4e+38; l2 vectors must be at most") {
		t.Errorf("float32's largest value: %d %s, want read, then refused by its length", code, body)
	}
	if code, body := do("upsert", `{"items":[{"id":"m","vector":[5,-0,1e-50]},{"id":"n","vector":[ 0 , 0.1 ,2 ]}]}`); code != 200 {
		t.Fatalf("in-range upsert: %d %s", code, body)
	}
	m, err := s.GetItem(ctx, "r", "m")
	if err != nil {
		t.Fatal(err)
	}
	if m.Vector[0] != 5 || m.Vector[1] != 0 || !signbit(m.Vector[1]) || m.Vector[2] != 0 {
		t.Errorf("item m: %v, want [5 -0 0]", m.Vector)
	}
	n, err := s.GetItem(ctx, "r", "n")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Vector) != 3 || n.Vector[0] != 0 || n.Vector[1] != float32(0.1) || n.Vector[2] != 2 {
		t.Errorf("item n: %v, want [0 0.1 2]", n.Vector)
	}
	if code, body := do("search", `{"vector":[0,0.1,2],"k":1}`); code != 200 || !strings.Contains(body, `"id":"n"`) {
		t.Errorf("search: %d %s", code, body)
	}
	if code, body := do("search", `{"vector":[],"k":1}`); code != 400 || !strings.Contains(body, "vector: empty") {
		t.Errorf("search with an empty vector: %d %s", code, body)
	}
}

func signbit(f float32) bool { return 1/f < 0 }
