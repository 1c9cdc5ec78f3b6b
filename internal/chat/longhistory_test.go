package chat

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLongOllamaToolHistory: the Ollama route matches tool results to
// calls in one pass. 20,000 calls answered by tool_name (a 3 MB body) took
// a minute of CPU — each result scanned and copied the list of open calls —
// and the request ran into [chatd].timeout; it is milliseconds now. The
// results still answer the oldest open call of their name, or of any name.
func TestLongOllamaToolHistory(t *testing.T) {
	const n = 20000
	var b strings.Builder
	b.WriteString(`{"model":"m","messages":[{"role":"user","content":"hi"}`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `,{"role":"assistant","tool_calls":[{"function":{"name":"f%d","arguments":{}}}]}`, i%2)
	}
	for i := 0; i < n; i++ {
		name := ""
		if i%3 != 0 {
			name = fmt.Sprintf("f%d", i%2)
		}
		fmt.Fprintf(&b, `,{"role":"tool","tool_name":%q,"content":"r"}`, name)
	}
	b.WriteString(`]}`)
	var o OllamaChatRequest
	if err := json.Unmarshal([]byte(b.String()), &o); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	r, err := o.ToRequest()
	if err != nil {
		t.Fatal(errMessage(err))
	}
	if d := time.Since(t0); d > 15*time.Second && !raceOn { // the quadratic scan took 28-60 s; ~1 s now, 6.5 s seen on a loaded machine
		t.Fatalf("ToRequest of %d calls took %v", n, d)
	}
	answered := map[string]bool{}
	for _, m := range r.Messages[n+1:] {
		if m.ToolCallID == "" || answered[m.ToolCallID] {
			t.Fatalf("result %+v", m)
		}
		answered[m.ToolCallID] = true
	}
	// Small histories keep their order: the oldest open call of the name,
	// else of any name; an id answers its own call.
	var s OllamaChatRequest
	json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"},
		{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":{}}},{"id":"b","function":{"name":"g","arguments":{}}},{"id":"c","function":{"name":"f","arguments":{}}}]},
		{"role":"tool","tool_call_id":"a","content":"1"},{"role":"tool","tool_name":"f","content":"2"},{"role":"tool","content":"3"}]}`), &s)
	r, err = s.ToRequest()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Messages[2].ToolCallID + r.Messages[3].ToolCallID + r.Messages[4].ToolCallID; got != "acb" {
		t.Fatalf("answered %q, want acb", got)
	}
}

func errMessage(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
