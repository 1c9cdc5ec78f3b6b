package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/testutil/tmpfs"
)

// TestSpillOntoFullDisk: a query that must spill past memory_limit onto a
// full temp dir (a real 1 MiB tmpfs; root only) is Unavailable naming
// memory_limit and the full disk; DuckDB's advice (SET memory_limit,
// PRAGMA max_temp_directory_size: statements queryd refuses) is left out.
func TestSpillOntoFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, 1048576)
	e, err := Open(context.Background(), Options{Threads: 1, MemoryLimit: "64MB", TempDir: filepath.Join(dir, "tmp"), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = run(e, "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS h, list(i) AS l FROM range(6000000) t(i) GROUP BY h)", 10)
	t.Logf("err: %v (%s)", err, errs.KindOf(err))
	if m := errs.Message(err); !errs.Is(err, errs.Unavailable) || !strings.Contains(m, "of disk to spill to") || strings.Contains(m, "SET ") || strings.Contains(m, "PRAGMA") {
		t.Fatalf("spill onto a full disk: %v (kind %s)", err, errs.KindOf(err))
	}
}
