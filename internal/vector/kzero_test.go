package vector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
)

// TestSearchExplicitKZero: "k": 0 on the wire is outside 1..10000 and a 400
// (ADR-042; Qdrant refuses limit 0 too); it used to be taken for an absent
// k and answered 10 hits. An absent k is still DefaultK, and so is a Go
// caller's zero K (the Client omits it).
func TestSearchExplicitKZero(t *testing.T) {
	ctx := context.Background()
	_, srv := httpStore(t)
	c := NewClient(&shared.Client{Service: "vectord", Base: srv.URL, HTTP: shared.NewHTTPClient(10 * time.Second)})
	if _, err := c.CreateIndex(ctx, "kz", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	var batch []Item
	for i := range 20 {
		batch = append(batch, Item{ID: string(rune('a' + i)), Vector: []float32{1, float32(i + 1)}})
	}
	if _, err := c.Upsert(ctx, "kz", batch); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+IndexesPath+"/kz/search", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, body := range []string{`{"vector":[1,1],"k":0}`, `{"vector":[1,1],"k":-3}`, `{"vector":[1,1],"k":10001}`} {
		code, b := post(body)
		if code != 400 || !strings.Contains(b, `"kind":"invalid"`) || !strings.Contains(b, "want 1..10000") {
			t.Errorf("%s: %d %s; want 400 invalid", body, code, b)
		}
	}
	if code, b := post(`{"k":3}`); code != 400 || !strings.Contains(b, "vector: empty") {
		t.Errorf("no vector: %d %s; want 400 vector: empty", code, b)
	}
	for body, want := range map[string]int{`{"vector":[1,1]}`: DefaultK, `{"vector":[1,1],"k":null}`: DefaultK, `{"vector":[1,1],"k":3}`: 3} {
		code, b := post(body)
		var res SearchResponse
		if code != 200 || json.Unmarshal([]byte(b), &res) != nil || len(res.Results) != want {
			t.Errorf("%s: %d %s; want %d hits", body, code, b, want)
		}
	}
	res, err := c.Search(ctx, "kz", SearchRequest{Vector: []float32{1, 1}})
	if err != nil || len(res) != DefaultK {
		t.Errorf("client search without K: %d hits, %v", len(res), err)
	}
}
