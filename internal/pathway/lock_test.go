package pathway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
	"lakehouse-go/internal/shared"
)

// TestSecondOpenRefused: a Store holds state.jsonl (lock file
// state.jsonl.lock) from Open to Close; a second Open of the same path (a
// second pathwayd on the same data_dir) is Unavailable naming the
// directory and the holder's pid and writes nothing, and succeeds once
// the first is closed, with the first one's writes replayed. The journal
// alone refuses a second open the same way.
func TestSecondOpenRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pathwayd", "state.jsonl")
	s, _, err := Open(ctx, Options{Path: path, Embedder: embedder(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendTrace(ctx, TraceRequest{RunID: "r1", Steps: []Step{{Type: "event", Name: "first"}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, _, err = Open(ctx, Options{Path: path, Embedder: embedder(t)})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), filepath.Dir(path)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second Open: %v, want Unavailable naming %s and this pid", err, filepath.Dir(path))
	}
	if _, _, err := journal.Open(path, func(int, []byte) error { return nil }); !errors.Is(err, shared.ErrLocked) {
		t.Fatalf("second journal.Open: %v, want ErrLocked", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("refused opens changed state.jsonl:\n%s\nwant\n%s", after, before)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s2, _, err := Open(ctx, Options{Path: path, Embedder: embedder(t)})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer s2.Close(ctx)
	tr, err := s2.Trace(ctx, "r1", TraceOptions{})
	if err != nil || len(tr.Steps) != 1 || tr.Steps[0].Name != "first" {
		t.Fatalf("replayed trace: %+v %v", tr, err)
	}
}
