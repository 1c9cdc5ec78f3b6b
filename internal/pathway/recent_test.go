package pathway_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPRecentPages: the default list (order=recent) of a scope of big
// memories is bounded by MaxListPageBytes as well as limit (limit=1000 of
// 64 KiB memories was one answer of ~80 MB), and its next (<updated_at>/<id>)
// continues it: every memory neither updated nor deleted while paging is
// listed exactly once. Search pages are bounded the same way (ADR-088).
func TestHTTPRecentPages(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	base := s.URL()
	// Texts of '<', which JSON answers as \u003c: six bytes each, so 60
	// memories of 60 KiB answer 21 MB.
	const n, size = 60, 60 << 10
	var ids []string
	for b := 0; b < 2; b++ {
		var msgs []string
		for i := 0; i < n/2; i++ {
			msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":"fact %d %s"}`, b*n/2+i, strings.Repeat("<", size)))
		}
		code, body := do(t, "POST", base+pathway.MemoriesPath, `{"messages":[`+strings.Join(msgs, ",")+`],"user_id":"big","infer":false}`)
		if code != 200 {
			t.Fatalf("add: %d %.300s", code, body)
		}
		var res pathway.AddResponse
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Results {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) != n {
		t.Fatalf("%d memories added, want %d", len(ids), n)
	}

	// The default page (limit 100) now says where to continue.
	// The default list was all 60 in one answer; now the first page ends
	// at the byte bound and says where to continue.
	code, body := do(t, "GET", base+pathway.MemoriesPath+"?user_id=big", "")
	var first memoryPage
	if code != 200 || json.Unmarshal([]byte(body), &first) != nil || len(body) > pathway.MaxListPageBytes+4096 || len(first.Results) >= n || first.Next == nil {
		t.Fatalf("default page: %d, %d bytes, %d results, next %v", code, len(body), len(first.Results), first.Next)
	}

	seen := map[string]int{}
	changed := map[string]bool{}
	after, pages := "", 0
	for {
		u := base + pathway.MemoriesPath + "?user_id=big&limit=1000"
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		code, body := do(t, "GET", u, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %.300s", u, code, body)
		}
		if len(body) > pathway.MaxListPageBytes+4096 {
			t.Fatalf("page %d: %d bytes, bound %d", pages, len(body), pathway.MaxListPageBytes)
		}
		var p struct {
			Results []pathway.Memory `json:"results"`
			Next    string           `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Results {
			seen[m.ID]++
		}
		pages++
		if p.Next == "" {
			break
		}
		if pages == 1 {
			if len(p.Results) >= 1000 || len(p.Results) == 0 {
				t.Fatalf("first page: %d results", len(p.Results))
			}
			// Between pages: update one listed and one unlisted memory,
			// delete an unlisted one.
			var unlisted []string
			for _, id := range ids {
				if seen[id] == 0 {
					unlisted = append(unlisted, id)
				}
			}
			for _, id := range []string{p.Results[0].ID, unlisted[0]} {
				if code, body := do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"changed"}`); code != 200 {
					t.Fatalf("PUT: %d %s", code, body)
				}
				changed[id] = true
			}
			if code, body := do(t, "DELETE", base+pathway.MemoriesPath+"/"+unlisted[1], ""); code != 200 {
				t.Fatalf("DELETE: %d %s", code, body)
			}
			changed[unlisted[1]] = true
		}
		after = p.Next
	}
	if pages < 2 {
		t.Fatalf("%d pages, want the byte bound to split the list", pages)
	}
	for _, id := range ids {
		if c := seen[id]; c > 1 || c == 0 && !changed[id] {
			t.Errorf("memory %s listed %d times", id, c)
		}
	}

	// Search: the same bound, and next.
	code, body = do(t, "POST", base+pathway.SearchPath, `{"query":"fact","user_id":"big","limit":1000}`)
	var sr pathway.SearchResponse
	if code != 200 || json.Unmarshal([]byte(body), &sr) != nil || len(body) > pathway.MaxListPageBytes+4096 || sr.Next == "" || len(sr.Results) == 0 {
		t.Fatalf("search page: %d, %d bytes, %d results, next %q", code, len(body), len(sr.Results), sr.Next)
	}

	for _, bad := range []string{"x", "2026-01-01T00:00:00Z", "yesterday/" + ids[0]} {
		code, body := do(t, "GET", base+pathway.MemoriesPath+"?user_id=big&after="+url.QueryEscape(bad), "")
		if code != 400 || !strings.Contains(body, "after") {
			t.Errorf("after=%s: %d %s", bad, code, body)
		}
	}
}
