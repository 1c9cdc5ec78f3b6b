package matrix_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"lakehouse-go/internal/matrix"
)

// TestSearchExplicitKZero: "k": 0 on the wire is outside 1..1000 and a 400;
// it used to be taken for an absent k and answered 10 results. An absent k
// (and a Go caller's zero K, which the Client omits) is still DefaultK.
// A body with "k" twice or invalid UTF-8 is a 400.
func TestSearchExplicitKZero(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("id,txt\n")
	for i := range 15 {
		csv.WriteString(string(rune('a'+i)) + ",hello number " + string(rune('a'+i)) + "\n")
	}
	st.ingest(t, "kz", "replace", csv.String())
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "kz", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "kz", 1)
	post := func(body string) (int, string) {
		resp, err := http.Post(st.gateway+matrix.SearchPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, k := range []string{"0", "-1", "1001"} {
		code, b := post(`{"query":"hello","datasets":["kz"],"k":` + k + `}`)
		if code != 400 || !strings.Contains(b, `"kind":"invalid"`) || !strings.Contains(b, "want 1..1000") {
			t.Errorf("k %s: %d %s; want 400 invalid", k, code, b)
		}
	}
	for body, want := range map[string]int{
		`{"query":"hello","datasets":["kz"]}`:          matrix.DefaultK,
		`{"query":"hello","datasets":["kz"],"k":null}`: matrix.DefaultK,
		`{"query":"hello","datasets":["kz"],"k":2}`:    2,
	} {
		code, b := post(body)
		var res matrix.SearchResponse
		if code != 200 || json.Unmarshal([]byte(b), &res) != nil || len(res.Results) != want {
			t.Errorf("%s: %d %s; want %d results", body, code, b, want)
		}
	}
	if res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "hello", Datasets: []string{"kz"}}); err != nil || len(res.Results) != matrix.DefaultK {
		t.Errorf("client search without K: %d results, %v", len(res.Results), err)
	}
	// Strict bodies (shared.StrictJSON): "k" twice was the last one (10
	// results where a proxy reading the first saw 1), a Latin-1 query
	// was searched as "caf\ufffd".
	for body, want := range map[string]string{
		`{"query":"hello","datasets":["kz"],"k":1,"k":10}`: `duplicate key \"k\" at $.k (byte 41)`,
		"{\"query\":\"caf\xe9\",\"datasets\":[\"kz\"]}":    `invalid UTF-8 at byte 13`,
	} {
		code, b := post(body)
		if code != 400 || !strings.Contains(b, `"kind":"invalid"`) || !strings.Contains(b, want) {
			t.Errorf("%q: %d %s; want 400 invalid with %s", body, code, b, want)
		}
	}
}
