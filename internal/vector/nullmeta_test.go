package vector

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/shared"
)

// TestNullMetadata: "metadata": null and null metadata fields are accepted
// (Qdrant accepts null payloads) and are absent: GET item and search answer
// exactly as for an item sent without them, in one batch with other items,
// from memory, after a restart from the write-ahead log alone and from the
// snapshot alone. A filter on null is a 400 that says why. Before, a null
// field ({"x": null}) refused the whole batch.
func TestNullMetadata(t *testing.T) {
	ctx := context.Background()
	objects := newObjects(t)
	dir := t.TempDir()
	s := openStore(t, objects, dir)
	r := chi.NewRouter()
	Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)}, s)(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+IndexesPath+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := do("PUT", "/n", `{"dims":2,"metric":"l2"}`); code != 200 {
		t.Fatalf("create: %d %s", code, b)
	}
	code, b := do("POST", "/n/upsert", `{"items":[
		{"id":"absent","vector":[1,0]},
		{"id":"null","vector":[2,0],"metadata":null},
		{"id":"empty","vector":[3,0],"metadata":{}},
		{"id":"field","vector":[4,0],"metadata":{"x":null}},
		{"id":"mixed","vector":[5,0],"metadata":{"x":null,"y":"v"}},
		{"id":"plain","vector":[6,0],"metadata":{"y":"v"}}]}`)
	if code != 200 {
		t.Fatalf("upsert with nulls: %d %s", code, b)
	}
	want := map[string]Metadata{"absent": nil, "null": nil, "empty": nil, "field": nil, "mixed": {"y": "v"}, "plain": {"y": "v"}}
	// Over HTTP: the item JSON of a null is that of an absent metadata.
	for id, md := range want {
		code, b := do("GET", "/n/items/"+id, "")
		var got map[string]any
		if code != 200 || json.Unmarshal(b, &got) != nil {
			t.Fatalf("GET %s: %d %s", id, code, b)
		}
		if _, has := got["metadata"]; has != (md != nil) {
			t.Errorf("GET %s: %s", id, b)
		}
	}
	code, b = do("POST", "/n/search", `{"vector":[0,0],"k":10}`)
	var sr SearchResponse
	if code != 200 || json.Unmarshal(b, &sr) != nil || len(sr.Results) != 6 {
		t.Fatalf("search: %d %s", code, b)
	}
	for _, res := range sr.Results {
		if !reflect.DeepEqual(res.Metadata, want[res.ID]) {
			t.Errorf("search hit %s metadata %#v, want %#v", res.ID, res.Metadata, want[res.ID])
		}
	}
	if !strings.Contains(string(b), `{"id":"null","score":4}`) {
		t.Errorf("search JSON of a null metadata: %s", b)
	}
	code, b = do("POST", "/n/search", `{"vector":[0,0],"k":10,"filter":{"y":"v"}}`)
	if code != 200 || json.Unmarshal(b, &sr) != nil || len(sr.Results) != 2 || sr.Results[0].ID != "mixed" || sr.Results[1].ID != "plain" {
		t.Fatalf("filter y=v: %d %s", code, b)
	}
	code, b = do("POST", "/n/search", `{"vector":[0,0],"filter":{"x":null}}`)
	if code != 400 || !strings.Contains(string(b), `"kind":"invalid"`) || !strings.Contains(string(b), "null is no value to match") {
		t.Fatalf("filter x=null: %d %s", code, b)
	}
	// A null metadata replaces an item's metadata, as an absent one does.
	if code, b := do("POST", "/n/upsert", `{"items":[{"id":"plain","vector":[6,0],"metadata":{"y":null}}]}`); code != 200 {
		t.Fatalf("re-upsert: %d %s", code, b)
	}
	want["plain"] = nil
	check := func(st *Store, when string) {
		t.Helper()
		for id, md := range want {
			it, err := st.GetItem(ctx, "n", id)
			if err != nil || !reflect.DeepEqual(it.Metadata, md) {
				t.Errorf("%s: %s: %#v %v, want %#v", when, id, it.Metadata, err, md)
			}
		}
		res, err := st.Search(ctx, "n", SearchRequest{Vector: []float32{0, 0}, Filter: Filter{"y": "v"}})
		if err != nil || len(res) != 1 || res[0].ID != "mixed" {
			t.Errorf("%s: filter y=v: %+v %v", when, res, err)
		}
	}
	check(s, "in memory")
	s.crash() // crash: the log alone holds the batches
	s2 := openStore(t, objects, dir)
	check(s2, "after replaying the log")
	if err := s2.Close(ctx); err != nil { // snapshot, log truncated
		t.Fatal(err)
	}
	s3 := openStore(t, objects, t.TempDir()) // the snapshot alone
	check(s3, "from the snapshot")
	s3.Close(ctx)
}
