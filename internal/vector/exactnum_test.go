package vector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestMetadataIntegersExact: an integer in metadata or a filter that a
// float64 cannot hold as written is a 400 naming it (9007199254740993 was
// stored, shown and matched as 9007199254740992, 12345678901234567891 as
// 12345678901234567000); integers it holds are kept as written.
func TestMetadataIntegersExact(t *testing.T) {
	ctx := context.Background()
	s, srv := httpStore(t)
	if _, err := s.CreateIndex(ctx, "ids", CreateIndexRequest{Dims: 2}); err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+IndexesPath+"/ids/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, lit := range []string{"9007199254740993", "12345678901234567891", "-9007199254740995", "18446744073709551615"} {
		code, body := post("upsert", `{"items":[{"id":"x","vector":[1,2],"metadata":{"n":`+lit+`}}]}`)
		var b errs.Body
		json.Unmarshal([]byte(body), &b)
		if code != 400 || b.Error.Kind != errs.Invalid || !strings.Contains(b.Error.Message, lit) {
			t.Errorf("upsert n=%s: %d %s; want 400 naming it", lit, code, body)
		}
		code, body = post("search", `{"vector":[1,2],"filter":{"n":`+lit+`}}`)
		if code != 400 || !strings.Contains(body, lit) {
			t.Errorf("filter n=%s: %d %s; want 400 naming it", lit, code, body)
		}
		code, body = post("search", `{"vector":[1,2],"filter":{"n":[1,`+lit+`]}}`)
		if code != 400 || !strings.Contains(body, lit) {
			t.Errorf("filter n in [1,%s]: %d %s; want 400 naming it", lit, code, body)
		}
	}
	if _, err := s.GetItem(ctx, "ids", "x"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a refused upsert stored x: %v", err)
	}
	kept := []string{"9007199254740992", "-9007199254740992", "12345678901234567000", "1.5", "0", "100000000000000000000", "1e300"}
	var items []string
	for i, lit := range kept {
		items = append(items, `{"id":"k`+string(rune('a'+i))+`","vector":[1,`+strconv.Itoa(i+1)+`],"metadata":{"n":`+lit+`}}`)
	}
	if code, body := post("upsert", `{"items":[`+strings.Join(items, ",")+`]}`); code != 200 {
		t.Fatalf("exact numbers: %d %s", code, body)
	}
	for i, lit := range kept {
		code, body := post("search", `{"vector":[1,2],"k":10,"filter":{"n":`+lit+`}}`)
		var res SearchResponse
		json.Unmarshal([]byte(body), &res)
		if code != 200 || len(res.Results) != 1 || res.Results[0].ID != "k"+string(rune('a'+i)) {
			t.Errorf("filter n=%s: %d %s", lit, code, body)
		}
	}
}
