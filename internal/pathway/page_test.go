package pathway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway"
)

// appendSteps posts n steps (type "tool", name "s<i>") to run through HTTP,
// at most pathway.MaxSteps per request.
func appendSteps(t *testing.T, base, run string, n int) {
	t.Helper()
	for done := 0; done < n; {
		k := min(n-done, pathway.MaxSteps)
		var b strings.Builder
		fmt.Fprintf(&b, `{"run_id":%q,"steps":[`, run)
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"tool","name":"s%d"}`, done+i)
		}
		b.WriteString("]}")
		if code, body := do(t, "POST", base+pathway.TracesPath, b.String()); code != 200 {
			t.Fatalf("append: %d %s", code, body)
		}
		done += k
	}
}

type tracePage struct {
	RunID string `json:"run_id"`
	Steps []struct {
		Index int    `json:"index"`
		Name  string `json:"name"`
	} `json:"steps"`
	Total int     `json:"total"`
	Next  *string `json:"next"`
}

func getTrace(t *testing.T, url string) tracePage {
	t.Helper()
	code, body := do(t, "GET", url, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var p tracePage
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	for i, st := range p.Steps {
		if st.Name != fmt.Sprint("s", st.Index) || (i > 0 && st.Index != p.Steps[i-1].Index+1) {
			t.Fatalf("GET %s: step %d = %+v", url, i, st)
		}
	}
	return p
}

// TestHTTPTracePages: GET /v1/pathway/traces/{run_id} answers one page
// (ADR-054): DefaultTraceLimit steps by default, limit up to MaxTraceLimit,
// next = the last index when more follow, after = the previous next. A
// small run is one page without next, as before paging.
func TestHTTPTracePages(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	appendSteps(t, base, "small", 3)
	appendSteps(t, base, "long", 2500)

	p := getTrace(t, base+pathway.TracesPath+"/small")
	if len(p.Steps) != 3 || p.Next != nil || p.RunID != "small" {
		t.Fatalf("small run: %+v", p)
	}
	p = getTrace(t, base+pathway.TracesPath+"/long")
	if len(p.Steps) != pathway.DefaultTraceLimit || p.Steps[0].Index != 0 || p.Next == nil || *p.Next != "999" || p.Total != 2500 {
		t.Fatalf("long run, first page: %d steps, next %v, total %d", len(p.Steps), p.Next, p.Total)
	}
	p = getTrace(t, base+pathway.TracesPath+"/long?after=999&limit=1000")
	if len(p.Steps) != 1000 || p.Steps[0].Index != 1000 || p.Next == nil || *p.Next != "1999" {
		t.Fatalf("second page: %d steps, next %v", len(p.Steps), p.Next)
	}
	p = getTrace(t, base+pathway.TracesPath+"/long?after=1999&limit=1000")
	if len(p.Steps) != 500 || p.Steps[0].Index != 2000 || p.Next != nil {
		t.Fatalf("last page: %d steps, next %v", len(p.Steps), p.Next)
	}
	p = getTrace(t, base+pathway.TracesPath+"/long?limit=7&after=10")
	if len(p.Steps) != 7 || p.Steps[0].Index != 11 || *p.Next != "17" {
		t.Fatalf("limit 7 after 10: %+v", p)
	}
	p = getTrace(t, base+pathway.TracesPath+"/long?after=2499")
	if len(p.Steps) != 0 || p.Next != nil || p.Total != 2500 {
		t.Fatalf("after the last step: %+v", p)
	}
	// The largest index: its successor overflowed int (a 500 before).
	for _, after := range []string{"9223372036854775806", "9223372036854775807"} {
		p = getTrace(t, base+pathway.TracesPath+"/long?after="+after)
		if len(p.Steps) != 0 || p.Next != nil || p.Total != 2500 {
			t.Fatalf("after=%s: %+v", after, p)
		}
	}

	for _, tc := range []struct{ query, msg string }{
		{"limit=0", "limit"},
		{fmt.Sprint("limit=", pathway.MaxTraceLimit+1), "limit"},
		{"limit=x", "limit"},
		{"after=-1", "after"},
		{"after=x", "after"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body := do(t, "GET", base+pathway.TracesPath+"/long?"+tc.query, "")
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, tc.msg) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
}

type memoryPage struct {
	Results []struct {
		ID     string `json:"id"`
		Memory string `json:"memory"`
	} `json:"results"`
	Next *string `json:"next"`
}

func getMemories(t *testing.T, url string) memoryPage {
	t.Helper()
	code, body := do(t, "GET", url, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var p memoryPage
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHTTPMemoryPages: a scope of more than MaxLimit memories is listed in
// full with order=id, after = the previous page's next (ADR-053); a memory
// updated while paging is still listed once. The default order is as before.
func TestHTTPMemoryPages(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	const n = 5 * pathway.MaxMessages
	for k := 0; k < 5; k++ {
		var b strings.Builder
		b.WriteString(`{"user_id":"pager","infer":false,"messages":[`)
		for i := 0; i < pathway.MaxMessages; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"role":"user","content":"fact %d"}`, k*pathway.MaxMessages+i)
		}
		b.WriteString("]}")
		if code, body := do(t, "POST", base+pathway.MemoriesPath, b.String()); code != 200 {
			t.Fatalf("add: %d %.200s", code, body)
		}
	}
	// The default order pages too since ADR-088 (TestHTTPRecentPages).
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=pager"); len(p.Results) != pathway.DefaultLimit || p.Next == nil {
		t.Fatalf("default order: %d results, next %v", len(p.Results), p.Next)
	}

	seen := map[string]int{}
	last, after, pages := "", "", 0
	for ; ; pages++ {
		url := base + pathway.MemoriesPath + "?user_id=pager&order=id&limit=300"
		if after != "" {
			url += "&after=" + after
		}
		p := getMemories(t, url)
		for _, m := range p.Results {
			if m.ID <= last {
				t.Fatalf("page %d: id %s after %s", pages, m.ID, last)
			}
			last = m.ID
			seen[m.ID]++
		}
		if pages == 0 {
			// Update the memory that sorts last: in the default order it
			// would jump to the front, past the cursor.
			all := getMemories(t, base+pathway.MemoriesPath+"?user_id=pager&limit=1000")
			maxID := ""
			for _, m := range all.Results {
				maxID = max(maxID, m.ID)
			}
			if code, body := do(t, "PUT", base+pathway.MemoriesPath+"/"+maxID, `{"text":"updated while paging"}`); code != 200 {
				t.Fatalf("put: %d %s", code, body)
			}
		}
		if p.Next == nil {
			break
		}
		if len(p.Results) != 300 || *p.Next != last {
			t.Fatalf("page %d: %d results, next %q, last %q", pages, len(p.Results), *p.Next, last)
		}
		after = *p.Next
	}
	if len(seen) != n || pages != n/300 {
		t.Fatalf("listed %d of %d memories in %d pages", len(seen), n, pages+1)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s listed %d times", id, k)
		}
	}

	for _, tc := range []struct{ query, msg string }{
		{"user_id=pager&after=x", "after"},
		{"user_id=pager&order=recent&after=x", "after"},
		{"user_id=pager&order=name", "order"},
		{"user_id=pager&order=id&after=a/b", "after"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body := do(t, "GET", base+pathway.MemoriesPath+"?"+tc.query, "")
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, tc.msg) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
}

// TestHTTPRepeatedQueryParams: a query parameter given twice is a 400
// invalid naming it (the first value was used: DELETE ?user_id=a&user_id=b
// deleted a's memories only), for every route that reads the query.
func TestHTTPRepeatedQueryParams(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, u := range []string{"a", "b"} {
		if code, body := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"`+u+`","agent_id":"x","run_id":"r","text":"I like tea"}`); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	appendSteps(t, base, "r", 2)
	for _, tc := range []struct{ method, path, param string }{
		{"GET", pathway.MemoriesPath + "?user_id=a&user_id=b", "user_id"},
		{"GET", pathway.MemoriesPath + "?user_id=a&user_id=a", "user_id"},
		{"GET", pathway.MemoriesPath + "?user_id=a&agent_id=x&agent_id=y", "agent_id"},
		{"GET", pathway.MemoriesPath + "?run_id=r&run_id=s", "run_id"},
		{"GET", pathway.MemoriesPath + "?user_id=a&limit=1&limit=2", "limit"},
		{"GET", pathway.MemoriesPath + "?user_id=a&order=id&order=recent", "order"},
		{"GET", pathway.MemoriesPath + "?user_id=a&order=id&after=&after=z", "after"},
		{"DELETE", pathway.MemoriesPath + "?user_id=a&user_id=b", "user_id"},
		{"DELETE", pathway.MemoriesPath + "?user_id=a&run_id=r&run_id=s", "run_id"},
		{"GET", pathway.TracesPath + "/r?after=0&after=1", "after"},
		{"GET", pathway.TracesPath + "/r?limit=1&limit=1", "limit"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body := do(t, tc.method, base+tc.path, "")
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, `"`+tc.param+`" given 2 times`) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	for _, u := range []string{"a", "b"} {
		if p := getMemories(t, base+pathway.MemoriesPath+"?user_id="+u); len(p.Results) != 1 {
			t.Fatalf("user %s after the refused deletes: %+v", u, p)
		}
	}
}

// TestHTTPDeleteAllParams: DELETE /v1/pathway/memories takes only the ids;
// limit, order, after or a parameter it does not know is a 400 naming it,
// and nothing is deleted (limit=1 deleted the whole scope, a misspelt
// agent_id every agent's memories).
func TestHTTPDeleteAllParams(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, a := range []string{"x", "y"} {
		if code, body := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"u","agent_id":"`+a+`","infer":false,"text":"note `+a+`"}`); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
	}
	for _, tc := range []struct{ query, msg string }{
		{"user_id=u&limit=1", `unknown query parameter "limit" (this route takes: user_id, agent_id, run_id); delete-all deletes every memory of the scope`},
		{"user_id=u&order=id", `unknown query parameter "order" (this route takes: user_id, agent_id, run_id); delete-all deletes every memory of the scope`},
		{"user_id=u&order=id&after=a", `unknown query parameters "after", "order" (this route takes: user_id, agent_id, run_id); delete-all`},
		{"user_id=u&agentid=x", `unknown query parameter "agentid" (this route takes: user_id, agent_id, run_id)`},
		{"user_id=u&agent_id=x&confirm", `unknown query parameter "confirm" (this route takes: user_id, agent_id, run_id)`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body := do(t, "DELETE", base+pathway.MemoriesPath+"?"+tc.query, "")
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, tc.msg) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=u"); len(p.Results) != 2 {
		t.Fatalf("after the refused deletes: %+v", p)
	}
	code, body := do(t, "DELETE", base+pathway.MemoriesPath+"?user_id=u&agent_id=x", "")
	if code != 200 || !strings.Contains(body, `"deleted":1`) {
		t.Fatalf("delete agent x: %d %s", code, body)
	}
}

// TestHTTPSearchPages: a search ranks more than MaxLimit memories; limit
// is one page, next (absent on the last page) passed as after gives the
// following results (ADR-053). Every memory is listed exactly once, in
// rank order across pages, ties of score by id; the threshold holds on
// every page; a malformed after is a 400.
func TestHTTPSearchPages(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	const n = 2300
	for done := 0; done < n; {
		k := min(n-done, pathway.MaxMessages)
		var b strings.Builder
		b.WriteString(`{"user_id":"u","infer":false,"messages":[`)
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			// 40 distinct texts: many memories tie on score.
			fmt.Fprintf(&b, `{"role":"user","content":"tea note %d"}`, (done+i)%40)
		}
		b.WriteString("]}")
		if code, body := do(t, "POST", base+pathway.MemoriesPath, b.String()); code != 200 {
			t.Fatalf("add: %d %s", code, body)
		}
		done += k
	}
	type page struct {
		Results []struct {
			ID    string  `json:"id"`
			Score float64 `json:"score"`
		} `json:"results"`
		Next *string `json:"next"`
	}
	search := func(body string) page {
		t.Helper()
		code, b := do(t, "POST", base+pathway.SearchPath, body)
		if code != 200 {
			t.Fatalf("search %s: %d %s", body, code, b)
		}
		var p page
		if err := json.Unmarshal([]byte(b), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := func(limit int, threshold float64) (seen map[string]bool, pages int) {
		seen = map[string]bool{}
		after := ""
		lastScore, lastID := 2.0, ""
		for {
			p := search(fmt.Sprintf(`{"query":"green tea","user_id":"u","limit":%d,"threshold":%g,"after":%q}`, limit, threshold, after))
			pages++
			if len(p.Results) > limit || len(p.Results) == 0 && p.Next != nil {
				t.Fatalf("page %d: %d results, next %v", pages, len(p.Results), p.Next)
			}
			for _, r := range p.Results {
				if seen[r.ID] {
					t.Fatalf("page %d: %s listed twice", pages, r.ID)
				}
				if r.Score > lastScore || r.Score == lastScore && r.ID <= lastID {
					t.Fatalf("page %d: %s %v after %s %v: not in rank order", pages, r.ID, r.Score, lastID, lastScore)
				}
				if threshold != 0 && r.Score < threshold {
					t.Fatalf("page %d: score %v under the threshold %v", pages, r.Score, threshold)
				}
				seen[r.ID] = true
				lastScore, lastID = r.Score, r.ID
			}
			if p.Next == nil {
				return seen, pages
			}
			after = *p.Next
		}
	}
	if seen, pages := all(pathway.MaxLimit, 0); len(seen) != n || pages != 3 {
		t.Fatalf("limit %d: %d memories in %d pages, want %d in 3", pathway.MaxLimit, len(seen), pages, n)
	}
	if seen, pages := all(7, 0); len(seen) != n || pages != (n+6)/7 {
		t.Fatalf("limit 7: %d memories in %d pages", len(seen), pages)
	}
	// A threshold keeps some texts only; paging does not change which.
	withT, _ := all(pathway.MaxLimit, 0.5)
	if first := search(`{"query":"green tea","user_id":"u","limit":1000,"threshold":0.5}`); len(withT) == 0 || len(withT) == n || len(first.Results) != min(len(withT), 1000) {
		t.Fatalf("threshold 0.5: %d memories paged, first page %d", len(withT), len(first.Results))
	}
	// The whole ranking in one page has no next.
	if p := search(fmt.Sprintf(`{"query":"green tea","user_id":"u","limit":%d}`, 3)); p.Next == nil {
		t.Fatal("a partial page without next")
	}
	for _, after := range []string{"x", "0.5", "/id", "0.5/", "NaN/id", "Inf/id", "0.5/a\x00b", `0.5/` + strings.Repeat("a", pathway.MaxIDLen+1)} {
		t.Run("after="+after, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": "tea", "user_id": "u", "after": after})
			code, b := do(t, "POST", base+pathway.SearchPath, string(body))
			var e errs.Body
			json.Unmarshal([]byte(b), &e)
			if code != 400 || e.Error.Kind != "invalid" || !strings.Contains(e.Error.Message, "after") || e.Error.RequestID == "" {
				t.Fatalf("%d %s", code, b)
			}
		})
	}
}

// TestHTTPTooManyFacts: an add whose messages hold more than MaxFacts facts
// is a 413 naming the count (it was decided fact by fact under the store's
// lock for seconds, or refused with the embedder's "batch of N texts"), and
// nothing of it is stored; MaxFacts facts are accepted.
func TestHTTPTooManyFacts(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	body := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "I like thing%d. ", i)
		}
		m, _ := json.Marshal(map[string]any{"user_id": "u", "text": b.String()})
		return string(m)
	}
	code, resp := do(t, "POST", base+pathway.MemoriesPath, body(pathway.MaxFacts+1))
	var e errs.Body
	json.Unmarshal([]byte(resp), &e)
	if code != 413 || e.Error.Kind != "too_large" || !strings.Contains(e.Error.Message, fmt.Sprintf("%d facts (sentences), at most %d", pathway.MaxFacts+1, pathway.MaxFacts)) {
		t.Fatalf("%d facts: %d %.300s", pathway.MaxFacts+1, code, resp)
	}
	if p := getMemories(t, base+pathway.MemoriesPath+"?user_id=u"); len(p.Results) != 0 {
		t.Fatalf("refused add stored %d memories", len(p.Results))
	}
	if code, resp := do(t, "POST", base+pathway.MemoriesPath, body(pathway.MaxFacts)); code != 200 || strings.Count(resp, `"event":"ADD"`) != pathway.MaxFacts {
		t.Fatalf("%d facts: %d %.300s", pathway.MaxFacts, code, resp)
	}
}

// TestHTTPRetractionNonASCII: a retraction after letters whose lower case
// is longer in bytes ("Ⱥ": 2 -> 3) was a 500 (negation sliced the text at
// offsets found in its lower case); it is now an ordinary add, and the
// retraction still deletes its memory after such letters.
func TestHTTPRetractionNonASCII(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, text := range []string{"ȺȺȺȺȺȺȺȺ no longer x", "İİİİ is not here anymore", "ŞŞŞ don't run anymore"} {
		body, _ := json.Marshal(map[string]any{"user_id": "u", "text": text})
		if code, resp := do(t, "POST", base+pathway.MemoriesPath, string(body)); code != 200 {
			t.Fatalf("%q: %d %s", text, code, resp)
		}
	}
	if code, resp := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"v","text":"I like Ⱥpple pie"}`); code != 200 || !strings.Contains(resp, `"ADD"`) {
		t.Fatalf("add: %d %s", code, resp)
	}
	if code, resp := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"v","text":"I no longer like Ⱥpple pie"}`); code != 200 || !strings.Contains(resp, `"DELETE"`) {
		t.Fatalf("retraction: %d %s", code, resp)
	}
}

// TestHTTPStepLabels: a step's type and name with control characters (a
// NUL, a line break, DEL) are a 400 naming the step and field, and nothing
// of the append is stored; other Unicode is kept.
func TestHTTPStepLabels(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	for _, tc := range []struct{ step, msg string }{
		{`{"type":"llm\u0000"}`, "steps[1].type: not printable"},
		{`{"type":"tool","name":"a\nb"}`, "steps[1].name: not printable"},
		{`{"type":"tool","name":"\u007f"}`, "steps[1].name: not printable"},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			code, body := do(t, "POST", base+pathway.TracesPath, `{"run_id":"r","steps":[{"type":"ok"},`+tc.step+`]}`)
			var b errs.Body
			json.Unmarshal([]byte(body), &b)
			if code != 400 || b.Error.Kind != "invalid" || !strings.Contains(b.Error.Message, tc.msg) || b.Error.RequestID == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	if code, body := do(t, "GET", base+pathway.TracesPath+"/r", ""); code != 404 {
		t.Fatalf("refused appends stored steps: %d %s", code, body)
	}
	if code, body := do(t, "POST", base+pathway.TracesPath, `{"run_id":"r","steps":[{"type":"outil","name":"récupération 🔎"}]}`); code != 200 {
		t.Fatalf("unicode labels: %d %s", code, body)
	}
}

// TestHTTPHistoryPages: GET /v1/pathway/memories/{id}/history answers one
// page (ADR-053), as traces do: limit rows (default 1000), at most
// MaxHistoryPageBytes of texts but at least one row, next = the index of
// the page's last row, after = the previous next. A memory updated 260
// times with 64 KB texts answered 33 MB in one piece before.
func TestHTTPHistoryPages(t *testing.T) {
	s, _ := start(t, config(t))
	base := s.URL()
	code, body := do(t, "POST", base+pathway.MemoriesPath, `{"user_id":"u","infer":false,"text":"start"}`)
	var add pathway.AddResponse
	if err := json.Unmarshal([]byte(body), &add); code != 200 || err != nil {
		t.Fatalf("add: %d %s", code, body)
	}
	id := add.Results[0].ID
	const updates = 260
	for i := 0; i < updates; i++ {
		text := strings.Repeat(string(rune('a'+i%2)), 64000-4) + fmt.Sprintf("%04d", i)
		if code, body := do(t, "PUT", base+pathway.MemoriesPath+"/"+id, `{"text":"`+text+`"}`); code != 200 {
			t.Fatalf("update %d: %d %.200s", i, code, body)
		}
	}
	type page struct {
		Results []struct {
			Event     string  `json:"event"`
			NewMemory *string `json:"new_memory"`
		} `json:"results"`
		Next *string `json:"next"`
	}
	get := func(query string) (page, int) {
		t.Helper()
		code, body := do(t, "GET", base+pathway.MemoriesPath+"/"+id+"/history"+query, "")
		if code != 200 {
			t.Fatalf("history%s: %d %.300s", query, code, body)
		}
		var p page
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p, len(body)
	}
	rows, pages, after := 0, 0, ""
	for {
		q := ""
		if after != "" {
			q = "?after=" + after
		}
		p, n := get(q)
		pages++
		if n > pathway.MaxHistoryPageBytes+64<<10 || len(p.Results) == 0 {
			t.Fatalf("page %d: %d bytes, %d rows", pages, n, len(p.Results))
		}
		for _, r := range p.Results {
			want := "UPDATE"
			if rows == 0 {
				want = "ADD"
			}
			if r.Event != want || rows > 0 && !strings.HasSuffix(*r.NewMemory, fmt.Sprintf("%04d", rows-1)) {
				t.Fatalf("row %d: %s, not the update %d", rows, r.Event, rows-1)
			}
			rows++
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if rows != updates+1 || pages < 2 {
		t.Fatalf("%d rows in %d pages, want %d in 2 or more", rows, pages, updates+1)
	}
	if p, _ := get("?after=0&limit=7"); len(p.Results) != 7 || p.Next == nil || *p.Next != "7" || !strings.HasSuffix(*p.Results[0].NewMemory, "0000") {
		t.Fatalf("after=0 limit=7: %d rows, next %v", len(p.Results), p.Next)
	}
	if p, _ := get("?after=9223372036854775807"); len(p.Results) != 0 || p.Next != nil {
		t.Fatalf("after the end: %+v", p)
	}
	for _, q := range []string{"?limit=0", "?limit=10001", "?limit=x", "?after=-1", "?after=x", "?after=1&after=2"} {
		code, body := do(t, "GET", base+pathway.MemoriesPath+"/"+id+"/history"+q, "")
		var b errs.Body
		json.Unmarshal([]byte(body), &b)
		if code != 400 || b.Error.Kind != "invalid" || b.Error.RequestID == "" {
			t.Fatalf("%s: %d %s", q, code, body)
		}
	}
}
