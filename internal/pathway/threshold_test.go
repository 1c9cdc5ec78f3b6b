package pathway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPSearchThreshold: an explicit threshold applies, 0 included
// (score >= 0: it meant "none", so results of negative cosine came back);
// an absent or null threshold means none, as before (ADR-088).
func TestHTTPSearchThreshold(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	base := s.URL()
	texts := []string{"I like pizza", "I live in Paris", "I play chess", "My name is John", "I am allergic to peanuts",
		"I drive a red car", "I hate rain", "The quarterly revenue grew", "I speak Japanese", "zzz qqq"}
	for _, txt := range texts {
		if code, body := do(t, "POST", base+pathway.MemoriesPath, `{"text":"`+txt+`","user_id":"th","infer":false}`); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	search := func(extra string) []pathway.SearchResult {
		t.Helper()
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"football","user_id":"th"`+extra+`}`)
		if code != 200 {
			t.Fatalf("search %s: %d %s", extra, code, body)
		}
		var res pathway.SearchResponse
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		return res.Results
	}
	all := search("")
	neg := 0
	for _, r := range all {
		if r.Score < 0 {
			neg++
		}
	}
	if len(all) != len(texts) || neg == 0 {
		t.Fatalf("no threshold: %d results, %d negative; the test needs some of each", len(all), neg)
	}
	if got := search(`,"threshold":null`); len(got) != len(all) {
		t.Errorf("threshold null: %d results, want all %d", len(got), len(all))
	}
	if got := search(`,"threshold":-1`); len(got) != len(all) {
		t.Errorf("threshold -1: %d results, want all %d", len(got), len(all))
	}
	got := search(`,"threshold":0`)
	if len(got) != len(all)-neg {
		t.Errorf("threshold 0: %d results, want the %d scoring >= 0", len(got), len(all)-neg)
	}
	for _, r := range got {
		if r.Score < 0 {
			t.Errorf("threshold 0 answered score %v", r.Score)
		}
	}
	for _, bad := range []string{`,"threshold":1.5`, `,"threshold":-2`} {
		code, body := do(t, "POST", base+pathway.SearchPath, `{"query":"football","user_id":"th"`+bad+`}`)
		if code != 400 || !strings.Contains(body, `"kind":"invalid"`) || !strings.Contains(body, "threshold") {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
}
