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
