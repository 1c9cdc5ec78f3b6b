package pathway_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/pathway"
)

// TestHTTPSearchFiltersTimes: Mem0's filters on a memory's own times
// (`{"created_at":{"gte":"2024-07-01"}}`, ADR-148) select by created_at and
// updated_at, in search and in the list, with a date (the time's UTC day)
// or an RFC 3339 time. Before, both were read as metadata keys that no
// memory has: every such filter silently answered nothing.
func TestHTTPSearchFiltersTimes(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	add := func(text, meta string) pathway.Memory {
		t.Helper()
		code, out := do(t, "POST", base+pathway.MemoriesPath, `{"messages":"note `+text+`","user_id":"f","infer":false,"metadata":`+meta+`}`)
		var res pathway.AddResponse
		if err := json.Unmarshal([]byte(out), &res); code != 200 || err != nil || len(res.Results) != 1 {
			t.Fatalf("add %s: %d %s", text, code, out)
		}
		code, out = do(t, "GET", base+pathway.MemoriesPath+"/"+res.Results[0].ID, "")
		var m pathway.Memory
		if err := json.Unmarshal([]byte(out), &m); code != 200 || err != nil {
			t.Fatalf("get %s: %d %s", text, code, out)
		}
		return m
	}
	// "old" holds a metadata key named created_at: the filter reads the
	// memory's own time, never that key.
	a := add("old", `{"created_at":"1999-01-01"}`)
	time.Sleep(2 * time.Millisecond)
	b := add("new", `{}`)
	if !b.CreatedAt.After(a.CreatedAt) {
		t.Fatalf("created_at not increasing: %v then %v", a.CreatedAt, b.CreatedAt)
	}
	time.Sleep(2 * time.Millisecond)
	code, out := do(t, "PUT", base+pathway.MemoriesPath+"/"+a.ID, `{"text":"note old edited"}`)
	var upd pathway.Memory
	if err := json.Unmarshal([]byte(out), &upd); code != 200 || err != nil || !upd.UpdatedAt.After(b.UpdatedAt) {
		t.Fatalf("put: %d %s", code, out)
	}
	ts := func(tm time.Time) string { return tm.Format(time.RFC3339Nano) }
	day := a.CreatedAt.UTC().Format(time.DateOnly)
	nextDay := a.CreatedAt.UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, c := range []struct{ filters, want string }{
		{`{"created_at":{"gt":"` + ts(a.CreatedAt) + `"}}`, "new"},
		{`{"created_at":{"lte":"` + ts(a.CreatedAt) + `"}}`, "edited"},
		{`{"created_at":"` + ts(b.CreatedAt) + `"}`, "new"},
		{`{"created_at":{"gte":"` + day + `"}}`, "edited new"},
		{`{"created_at":"` + day + `"}`, "edited new"},
		{`{"created_at":{"lte":"` + day + `"}}`, "edited new"},
		{`{"created_at":{"lt":"` + day + `"}}`, ""},
		{`{"created_at":{"gte":"` + nextDay + `"}}`, ""},
		{`{"created_at":{"in":["` + nextDay + `","` + ts(a.CreatedAt) + `"]}}`, "edited"},
		{`{"created_at":{"nin":["` + ts(a.CreatedAt) + `"]}}`, "new"},
		{`{"created_at":{"ne":"` + day + `"}}`, ""},
		{`{"created_at":"*"}`, "edited new"},
		{`{"created_at":{"gt":"` + a.CreatedAt.UTC().Format("2006-01-02T15:04:05.999999999") + `"}}`, "new"},
		{`{"created_at":"1999-01-01"}`, ""},
		{`{"updated_at":{"gt":"` + ts(b.UpdatedAt) + `"}}`, "edited"},
		{`{"AND":[{"created_at":{"gte":"2000-01-01T00:00:00+02:00"}},{"updated_at":{"lte":"` + ts(b.UpdatedAt) + `"}}]}`, "new"},
		{`{"NOT":[{"updated_at":{"gt":"` + ts(b.UpdatedAt) + `"}}]}`, "new"},
	} {
		body := `{"query":"note","user_id":"f","filters":` + c.filters + `}`
		code, out := do(t, "POST", base+pathway.SearchPath, body)
		if got := strings.Join(names(t, out), " "); code != 200 || got != c.want {
			t.Errorf("search %s: want [%s], got %d [%s] %s", c.filters, c.want, code, got, out)
		}
		code, out = do(t, "GET", base+pathway.MemoriesPath+"?user_id=f&filters="+url.QueryEscape(c.filters), "")
		if got := strings.Join(names(t, out), " "); code != 200 || got != c.want {
			t.Errorf("list %s: want [%s], got %d [%s] %s", c.filters, c.want, code, got, out)
		}
	}
	for _, c := range []struct{ filters, msg string }{
		{`{"created_at":"yesterday"}`, `filters.created_at: the memory's own time: want a date`},
		{`{"created_at":{"gte":5}}`, `filters.created_at.gte: the memory's own time`},
		{`{"created_at":null}`, `filters.created_at: the memory's own time`},
		{`{"OR":[{"updated_at":{"contains":"2026"}}]}`, `filters.OR[0].updated_at.contains: the memory's own time: want eq, ne`},
		{`{"updated_at":{"in":["2024-01-01","x"]}}`, `filters.updated_at.in[1]: the memory's own time`},
	} {
		code, out := do(t, "POST", base+pathway.SearchPath, `{"query":"note","user_id":"f","filters":`+c.filters+`}`)
		if code != 400 || !strings.Contains(out, c.msg) {
			t.Errorf("search %s: want 400 %q, got %d %s", c.filters, c.msg, code, out)
		}
	}
}
