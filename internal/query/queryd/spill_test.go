package queryd

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLeftSpillFilesSwept: DuckDB removes its spill files when it closes;
// those of a queryd killed mid-query stayed in its temp dir for good (the
// next DuckDB did not remove them). The next start, holding
// the temp dir's lock, removes them and nothing else.
func TestLeftSpillFilesSwept(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Catalog: &storeCatalog{}, CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxConcurrent: 1, Timeout: 5 * time.Second}
	left := filepath.Join(opts.TempDir, "duckdb_temp_storage_DEFAULT-0.tmp")
	kept := filepath.Join(opts.TempDir, "notes.txt")
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{left, kept} {
		if err := os.WriteFile(f, []byte("spilled"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewServer(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s left after the start (%v)", left, err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("%s: %v", kept, err)
	}
}
