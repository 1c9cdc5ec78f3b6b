package queryd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// TestSecondQuerydRefused: a queryd holds its cache_dir and its DuckDB
// temp dir from NewServer to Close. A second one on the same directories
// (a second unit on the same config) started: it removed the first one's
// downloads in progress (cache_dir/tmp, swept as leftovers of a crash) and
// could evict the files its queries had pinned. Now it is refused
// (Unavailable, naming the directory and the holder's pid) and touches
// nothing; once the first is closed a new one starts and sweeps.
func TestSecondQuerydRefused(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Catalog: &storeCatalog{}, CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxConcurrent: 1, Timeout: 5 * time.Second}
	ctx := context.Background()
	a, err := NewServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	download := filepath.Join(opts.CacheDir, "tmp", "0123.456") // a's download in progress
	spill := filepath.Join(opts.TempDir, "duckdb_temp_storage_DEFAULT-0.tmp")
	for _, f := range []string{download, spill} {
		if err := os.WriteFile(f, []byte("in use"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewServer(ctx, opts)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), opts.CacheDir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second queryd: %v, want Unavailable naming %s and this pid", err, opts.CacheDir)
	}
	if b != nil {
		b.Close()
	}
	for _, f := range []string{download, spill} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the second queryd removed the first one's %s: %v", filepath.Base(f), err)
		}
	}

	// The temp dir alone (another cache_dir, the same data_dir) is refused too.
	other := opts
	other.CacheDir = filepath.Join(dir, "cache2")
	if b, err := NewServer(ctx, other); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), opts.TempDir) {
		if b != nil {
			b.Close()
		}
		t.Errorf("queryd on another cache_dir and the same temp dir: %v, want Unavailable naming %s", err, opts.TempDir)
	}
	// A refused start leaves no lock behind.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := NewServer(ctx, other)
	if err != nil {
		t.Fatalf("queryd after Close: %v", err)
	}
	c.Close()
	c, err = NewServer(ctx, opts)
	if err != nil {
		t.Fatalf("queryd after Close: %v", err)
	}
	defer c.Close()
	if _, err := os.Stat(download); !os.IsNotExist(err) {
		t.Errorf("leftover download not swept by the restart: %v", err)
	}
}
