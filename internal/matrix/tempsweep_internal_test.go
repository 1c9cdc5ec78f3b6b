package matrix

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestStartSweepsTempFiles: state.json and keyword.lhkw are written through
// <name>.tmp-* files renamed into place; a matrixd killed (-9) mid-write
// left the temp file for good (a keyword index's size each time, never
// swept). NewMatrix removes them before loading and keeps every other file.
func TestStartSweepsTempFiles(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, "ds", []byte(`{"spec":{"dataset":"ds","id_column":"id","text_columns":["txt"]},"status":{"dataset":"ds","state":"failed"}}`))
	left := []string{"keyword.lhkw.tmp-123", "state.json.tmp-9"}
	kept := []string{"state.json", "notes.tmp"}
	for _, n := range append(left, kept[1:]...) {
		if err := os.WriteFile(filepath.Join(dir, "ds", n), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewMatrix(Deps{}, Options{Dir: dir, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	for _, n := range left {
		if _, err := os.Stat(filepath.Join(dir, "ds", n)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after start (%v)", n, err)
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(filepath.Join(dir, "ds", n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if m.idx["ds"] == nil {
		t.Error("index ds not loaded")
	}
}
