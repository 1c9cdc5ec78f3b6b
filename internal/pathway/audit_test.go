package pathway_test

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"

	"lakehouse-go/internal/pathway"
	"lakehouse-go/internal/pathway/journal"
)

// TestHTTPLargestStepReplays: the longest record pathwayd writes (a step of
// 1 MiB input of characters JSON escapes sixfold, and the most metadata)
// stays under journal.MaxLineBytes, so a restart replays it (ADR-088).
func TestHTTPLargestStepReplays(t *testing.T) {
	cfg := config(t)
	s, _ := start(t, cfg)
	input := `"` + strings.Repeat("<", pathway.MaxStepBytes-2) + `"`
	meta := `{"k":"` + strings.Repeat(">", pathway.MaxMetadataSize/6-20) + `"}`
	body := `{"run_id":"big","steps":[{"type":"llm","name":"` + strings.Repeat("&", 256) + `","input":` + input + `,"metadata":` + meta + `}]}`
	if code, b := do(t, "POST", s.URL()+pathway.TracesPath, body); code != 200 {
		t.Fatalf("append: %d %.300s", code, b)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cfg.DataPath(cfg.Pathwayd.StatePath, "pathwayd/state.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<30)
	longest := 0
	for sc.Scan() {
		longest = max(longest, len(sc.Bytes()))
	}
	f.Close()
	if longest < 6<<20 || longest > journal.MaxLineBytes/2 {
		t.Fatalf("longest line %d bytes: want the sixfold escape (>= 6 MiB) and well under %d", longest, journal.MaxLineBytes)
	}
	s, _ = start(t, cfg)
	if code, b := do(t, "GET", s.URL()+pathway.TracesPath+"/big", ""); code != 200 || !strings.Contains(b, `"total":1`) {
		t.Fatalf("after restart: %d %.200s", code, b)
	}
}
