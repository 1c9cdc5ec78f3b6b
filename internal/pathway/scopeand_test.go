package pathway_test

import (
	"net/url"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
)

// TestHTTPFiltersScopeInAnd: Mem0's v2 filters give the scope inside a
// top-level AND (`{"AND":[{"user_id":"alex"},{"created_at":{"gte":...}}]}`,
// the form of its get_all and search examples); that was a 400 "a scope id
// is given at the top level". It now selects the scope as a top-level id
// does (ADR-148); in NOT or a deeper AND it is still a 400 (an OR of scopes:
// TestHTTPFiltersScopeOr), and two different values of one id are a 400,
// not "one wins".
func TestHTTPFiltersScopeInAnd(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	filterFixture(t, base)
	for _, c := range []struct{ filters, want string }{
		{`{"AND":[{"user_id":"f"},{"category":"food"}]}`, "one two"},
		{`{"AND":[{"user_id":"f"},{"created_at":{"gte":"2000-01-01"}}]}`, "five four one three two"},
		{`{"AND":[{"user_id":"f"}],"category":"travel"}`, "three"},
		{`{"AND":[{"user_id":"f","category":"food"},{"price":{"gt":5}}]}`, "two"},
	} {
		code, out := do(t, "POST", base+pathway.SearchPath, `{"query":"note","filters":`+c.filters+`}`)
		if got := strings.Join(names(t, out), " "); code != 200 || got != c.want {
			t.Errorf("search %s: want [%s], got %d [%s] %s", c.filters, c.want, code, got, out)
		}
		code, out = do(t, "GET", base+pathway.MemoriesPath+"?filters="+url.QueryEscape(c.filters), "")
		if got := strings.Join(names(t, out), " "); code != 200 || got != c.want {
			t.Errorf("list %s: want [%s], got %d [%s] %s", c.filters, c.want, code, got, out)
		}
	}
	for _, c := range []struct{ body, msg string }{
		{`{"query":"note","filters":{"OR":[{"AND":[{"user_id":"f"}]}]}}`, "filters.OR[0].AND[0].user_id: a scope id is given at the top level"},
		{`{"query":"note","filters":{"NOT":[{"user_id":"f"}]}}`, "filters.NOT[0].user_id: a scope id"},
		{`{"query":"note","filters":{"AND":[{"AND":[{"user_id":"f"}]}]}}`, "filters.AND[0].AND[0].user_id: a scope id"},
		{`{"query":"note","filters":{"AND":[{"user_id":"f"},{"user_id":"g"}]}}`, `filters.AND[1].user_id: user_id \"g\" differs from the user_id \"f\"`},
		{`{"query":"note","user_id":"g","filters":{"AND":[{"user_id":"f"}]}}`, `differs from user_id \"g\"`},
		{`{"query":"note","filters":{"AND":[{"category":"food"}]}}`, "at least one of user_id, agent_id, run_id is required"},
	} {
		code, out := do(t, "POST", base+pathway.SearchPath, c.body)
		if code != 400 || !strings.Contains(out, c.msg) {
			t.Errorf("search %s: want 400 %q, got %d %s", c.body, c.msg, code, out)
		}
	}
}
