package vector

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// TestItemPathEscapes: GET .../items/{id} finds an id whatever its escaping
// in the path: the typed Client escapes "p/q" as "p%2Fq", and chi then hands
// the handler the still-escaped parameter (it was 404 "p%2Fq" not found).
func TestItemPathEscapes(t *testing.T) {
	ctx := context.Background()
	_, srv := httpStore(t)
	c := NewClient(&shared.Client{Service: "vectord", Base: srv.URL, HTTP: shared.NewHTTPClient(10 * time.Second)})

	ids := []string{"p/q", "a,b", "a b", "50%", "a%2Cb", "a+b", "café;x", "q?x#y", "plain"}
	if _, err := c.CreateIndex(ctx, "esc", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	var batch []Item
	for i, id := range ids {
		batch = append(batch, Item{ID: id, Vector: []float32{1, float32(i + 1)}})
	}
	if _, err := c.Upsert(ctx, "esc", batch); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		it, err := c.GetItem(ctx, "esc", id)
		if err != nil || it.ID != id {
			t.Errorf("client GetItem(%q): %+v %v", id, it, err)
		}
	}
	for _, tc := range []struct{ path, id string }{
		{"/a%2Cb", "a,b"}, {"/p%2Fq", "p/q"}, {"/%61%2cb", "a,b"}, {"/a%252Cb", "a%2Cb"}, {"/50%25", "50%"},
	} {
		resp, err := http.Get(srv.URL + IndexesPath + "/esc/items" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !jsonHasID(b, tc.id) {
			t.Errorf("GET items%s: %d %s; want id %q", tc.path, resp.StatusCode, b, tc.id)
		}
	}
}

func jsonHasID(b []byte, id string) bool {
	var it Item
	return json.Unmarshal(b, &it) == nil && it.ID == id
}

// httpStore is a store behind vectord's routes on a test server (closed,
// with the store, at the end of the test).
func httpStore(t *testing.T) (*Store, *httptest.Server) {
	t.Helper()
	s := openStore(t, newObjects(t), t.TempDir())
	t.Cleanup(func() { s.Close(context.Background()) })
	r := chi.NewRouter()
	Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, s)(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return s, srv
}
