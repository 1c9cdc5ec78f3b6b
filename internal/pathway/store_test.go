package pathway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/errs"
)

var (
	embOnce sync.Once
	embSvc  embed.Service
)

func embedder(t testing.TB) embed.Service {
	embOnce.Do(func() {
		p, err := builtin.New()
		if err != nil {
			t.Fatal(err)
		}
		e, err := embed.New(embed.Config{DefaultModel: builtin.Model}, p)
		if err != nil {
			t.Fatal(err)
		}
		embSvc = e
	})
	return embSvc
}

func open(t testing.TB, path string) *Store {
	t.Helper()
	n := 0
	s, _, err := Open(context.Background(), Options{Path: path, Embedder: embedder(t), NewID: func() string { n++; return fmt.Sprintf("m%03d", n) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func events(res AddResponse) string {
	var b []string
	for _, r := range res.Results {
		s := r.Event + " " + r.ID + " " + r.Memory
		if r.PreviousMemory != "" {
			s += " (was " + r.PreviousMemory + ")"
		}
		b = append(b, s)
	}
	return strings.Join(b, "; ")
}

func TestExtractFacts(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"I like pizza.", "Likes pizza"},
		{"Hi! I'm a vegetarian. What should I eat?", "Is a vegetarian"},
		{"My name is John", "Name is John"},
		{"I've two cats; I study physics\nI work at ACME", "Has two cats|Studies physics|Works at ACME"},
		{"Thanks!", ""},
		{"  The meeting moved to 3.30 pm.  ", "The meeting moved to 3.30 pm"},
		{"I went to Rome last year", "I went to Rome last year"},
	} {
		if got := strings.Join(extractFacts(c.in), "|"); got != c.want {
			t.Errorf("extractFacts(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAddPolicy(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.jsonl"))
	defer s.Close(ctx)
	u := Scope{UserID: "alice"}
	add := func(text string) string {
		t.Helper()
		res, err := s.Add(ctx, AddRequest{Text: text, Scope: u})
		if err != nil {
			t.Fatal(err)
		}
		return events(res)
	}
	for _, c := range []struct{ in, want string }{
		{"I like pizza. My name is John.", "ADD m001 Likes pizza; ADD m002 Name is John"},
		{"I like pizza!", "NONE m001 Likes pizza"},                               // exact duplicate
		{"i LIKE pizza", "NONE m001 Likes pizza"},                                // canonical duplicate
		{"My name is Bob", "UPDATE m002 Name is Bob (was Name is John)"},         // same subject, new value
		{"I like sushi", "ADD m003 Likes sushi"},                                 // multi-valued subject
		{"I live in Paris", "ADD m004 Lives in Paris"},                           // unrelated
		{"I live in Berlin", "UPDATE m004 Lives in Berlin (was Lives in Paris)"}, // moved
		{"I no longer like pizza", "DELETE m001 Likes pizza"},                    // retraction
		{"What is my name?", ""},                                                 // question: nothing
	} {
		if got := add(c.in); got != c.want {
			t.Errorf("add %q:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// Another user's scope is separate.
	res, _ := s.Add(ctx, AddRequest{Text: "I like pizza", Scope: Scope{UserID: "bob"}})
	if events(res) != "ADD m005 Likes pizza" {
		t.Errorf("bob: %s", events(res))
	}
	// infer=false stores verbatim, no dedup.
	no := false
	res, _ = s.Add(ctx, AddRequest{Messages: []any{map[string]any{"role": "user", "content": "I like sushi"}, map[string]any{"role": "system", "content": "x"}}, Infer: &no, Scope: u})
	if events(res) != "ADD m006 I like sushi" {
		t.Errorf("infer=false: %s", events(res))
	}
	// Assistant messages are not mined for facts.
	res, _ = s.Add(ctx, AddRequest{Messages: []any{map[string]any{"role": "assistant", "content": "I love jazz"}}, Scope: u})
	if len(res.Results) != 0 {
		t.Errorf("assistant: %s", events(res))
	}

	hr, err := s.History(ctx, "m001", HistoryOptions{})
	h := hr.Results
	if err != nil || len(h) != 2 || h[0].Event != "ADD" || *h[0].NewMemory != "Likes pizza" || h[0].OldMemory != nil ||
		h[1].Event != "DELETE" || *h[1].OldMemory != "Likes pizza" || h[1].NewMemory != nil || !h[1].IsDeleted {
		t.Fatalf("history m001: %+v %v", h, err)
	}
	if _, err := s.Get(ctx, "m001"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	hr, _ = s.History(ctx, "m002", HistoryOptions{})
	h = hr.Results
	if len(h) != 2 || *h[1].OldMemory != "Name is John" || *h[1].NewMemory != "Name is Bob" || h[1].Event != "UPDATE" {
		t.Fatalf("history m002: %+v", h)
	}
	lr, _ := s.List(ctx, u, ListOptions{})
	list := lr.Results
	var texts []string
	for _, m := range list {
		texts = append(texts, m.Memory)
	}
	if len(list) != 4 {
		t.Fatalf("list: %q", texts)
	}

	// Search ranks by similarity within the scope.
	sr, err := s.Search(ctx, SearchRequest{Query: "lives in Germany", Scope: u, Limit: 2})
	rs := sr.Results
	if err != nil || len(rs) != 2 || rs[0].Memory.Memory != "Lives in Berlin" || rs[0].Score <= rs[1].Score {
		t.Fatalf("search: %+v %v", rs, err)
	}
	sr, _ = s.Search(ctx, SearchRequest{Query: "food", Scope: Scope{UserID: "bob"}})
	rs = sr.Results
	if len(rs) != 1 || rs[0].ID != "m005" {
		t.Fatalf("bob search: %+v", rs)
	}

	// Update and delete by id, then replay gives the same state.
	if m, err := s.Update(ctx, "m003", UpdateRequest{Text: "Likes ramen", Metadata: map[string]any{"src": "put"}}); err != nil || m.Memory != "Likes ramen" || m.Hash != hashText("Likes ramen") {
		t.Fatalf("update: %+v %v", m, err)
	}
	if _, err := s.Update(ctx, "nope", UpdateRequest{Text: "x"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("update missing: %v", err)
	}
	if n, err := s.DeleteAll(ctx, Scope{UserID: "bob"}); n != 1 || err != nil {
		t.Fatalf("delete all: %d %v", n, err)
	}
	before := dump(t, s)
	s.Close(ctx)
	s2 := open(t, s.path)
	defer s2.Close(ctx)
	if after := dump(t, s2); after != before {
		t.Fatalf("replay differs:\n%s\n---\n%s", before, after)
	}
}

func dump(t *testing.T, s *Store) string {
	ctx := context.Background()
	var b strings.Builder
	for _, u := range []string{"alice", "bob"} {
		lr, _ := s.List(ctx, Scope{UserID: u}, ListOptions{Limit: 1000})
		ms := lr.Results
		for _, m := range ms {
			fmt.Fprintf(&b, "%s %s %q %v %v %s\n", u, m.ID, m.Memory, m.Metadata, m.UpdatedAt.Format(time.RFC3339Nano), m.Hash)
		}
	}
	for i := 1; i < 10; i++ {
		hr, _ := s.History(ctx, fmt.Sprintf("m%03d", i), HistoryOptions{})
		for _, e := range hr.Results {
			fmt.Fprintf(&b, "%s %s %v %v %v\n", e.MemoryID, e.Event, str(e.OldMemory), str(e.NewMemory), e.CreatedAt.Format(time.RFC3339Nano))
		}
	}
	sr, _ := s.Search(ctx, SearchRequest{Query: "city", Scope: Scope{UserID: "alice"}})
	for _, r := range sr.Results {
		fmt.Fprintf(&b, "search %s %.6f\n", r.ID, r.Score)
	}
	return b.String()
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestTraces(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := open(t, path)
	if _, err := s.Trace(ctx, "run-1", TraceOptions{}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing trace: %v", err)
	}
	r, err := s.AppendTrace(ctx, TraceRequest{RunID: "run-1", Steps: []Step{{Type: "llm", Name: "plan", Input: []byte(`{"q":1}`)}, {Type: "tool", Name: "search", DurationMS: 3}}})
	if err != nil || r.Total != 2 || r.Appended != 2 {
		t.Fatalf("append: %+v %v", r, err)
	}
	r, _ = s.AppendTrace(ctx, TraceRequest{RunID: "run-1", Steps: []Step{{Type: "llm", Name: "answer", Output: []byte(`"done"`)}}})
	if r.Total != 3 {
		t.Fatalf("second append: %+v", r)
	}
	s.Close(ctx)
	s = open(t, path)
	defer s.Close(ctx)
	tr, err := s.Trace(ctx, "run-1", TraceOptions{})
	if err != nil || len(tr.Steps) != 3 {
		t.Fatalf("trace: %+v %v", tr, err)
	}
	for i, want := range []string{"plan", "search", "answer"} {
		if tr.Steps[i].Name != want || tr.Steps[i].Index != i || tr.Steps[i].TS.IsZero() {
			t.Errorf("step %d = %+v", i, tr.Steps[i])
		}
	}
	if string(tr.Steps[0].Input) != `{"q":1}` || string(tr.Steps[2].Output) != `"done"` {
		t.Errorf("payloads: %s %s", tr.Steps[0].Input, tr.Steps[2].Output)
	}
}

func TestCorruptMiddleLineRefusesStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := open(t, path)
	for i := 0; i < 3; i++ {
		s.AppendTrace(context.Background(), TraceRequest{RunID: "r", Steps: []Step{{Type: "t"}}})
	}
	s.Close(context.Background())
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = `{"op":"step","run_id":"r"` + "\n" // damaged, newline-terminated
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
	_, _, err := Open(context.Background(), Options{Path: path, Embedder: embedder(t)})
	if err == nil || !strings.Contains(err.Error(), "state.jsonl line 2 is damaged") {
		t.Fatalf("err = %v", err)
	}
}

func TestTornTailReplays(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := open(t, path)
	s.Add(ctx, AddRequest{Text: "I like tea", Scope: Scope{UserID: "u"}})
	s.Close(ctx)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"op":"add","ts":"2026-01-01T00:00:00Z","memory":{"id":"x","memo`)
	f.Close()
	s, info, err := Open(ctx, Options{Path: path, Embedder: embedder(t)})
	if err != nil || info.TornBytes == 0 {
		t.Fatalf("open: %+v %v", info, err)
	}
	defer s.Close(ctx)
	if lr, _ := s.List(ctx, Scope{UserID: "u"}, ListOptions{}); len(lr.Results) != 1 || lr.Results[0].Memory != "Likes tea" {
		t.Fatalf("after torn tail: %+v", lr)
	}
}

// TestTracePageBytes: a page ends once its steps pass MaxTracePageBytes (as
// stored JSON), after at least one step, live and after a replay.
func TestTracePageBytes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	s := open(t, path)
	big := json.RawMessage(`"` + strings.Repeat("x", MaxStepBytes-16) + `"`)
	const n = 20 // 20 MiB of steps: more than one page's budget
	for i := 0; i < n; i++ {
		if _, err := s.AppendTrace(ctx, TraceRequest{RunID: "big", Steps: []Step{{Type: "llm", Input: big}}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		seen := 0
		opts := TraceOptions{}
		for pages := 0; ; pages++ {
			tr, err := s.Trace(ctx, "big", opts)
			if err != nil || len(tr.Steps) == 0 || tr.Steps[0].Index != seen || tr.Total != n {
				t.Fatalf("page %d: %d steps, %+v", pages, len(tr.Steps), err)
			}
			if got := len(tr.Steps) * MaxStepBytes; got > MaxTracePageBytes+MaxStepBytes {
				t.Fatalf("page %d: %d steps of 1 MiB, budget %d", pages, len(tr.Steps), MaxTracePageBytes)
			}
			seen += len(tr.Steps)
			if tr.Next == "" {
				if seen != n || pages == 0 {
					t.Fatalf("%d steps in %d pages", seen, pages+1)
				}
				return
			}
			opts.After = tr.Next
		}
	}
	check(s)
	s.Close(ctx)
	s = open(t, path)
	defer s.Close(ctx)
	check(s)
}
