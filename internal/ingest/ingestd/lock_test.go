package ingestd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest/convert"
	"lakehouse-go/internal/ingest/ingestd"
)

// TestSecondIngestdRefused: an ingestd holds its temp dir from NewServer to
// Close. A second one on the same temp dir (a second unit on the same
// config) removed the first one's spool at start — every ingest-* directory,
// taken for leftovers of a crash — and its running ingests failed; now it is
// refused (Unavailable, naming the directory and the holder's pid) and
// touches nothing. Once the first is closed a new one starts and sweeps.
func TestSecondIngestdRefused(t *testing.T) {
	dir := t.TempDir()
	opts := ingestd.Options{TempDir: dir, Convert: convert.Options{Threads: 1, MemoryLimit: "256MB"}}
	a, err := ingestd.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "ingest-live", "upload") // a running ingest's
	if err := os.MkdirAll(filepath.Dir(spool), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spool, []byte("id,name\n1,a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ingestd.NewServer(opts)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second ingestd: %v, want Unavailable naming %s and this pid", err, dir)
	}
	if _, err := os.Stat(spool); err != nil {
		t.Fatalf("the refused ingestd removed the live one's spool: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := ingestd.NewServer(opts)
	if err != nil {
		t.Fatalf("ingestd after Close: %v", err)
	}
	defer b.Close()
	if _, err := os.Stat(filepath.Dir(spool)); !os.IsNotExist(err) {
		t.Fatalf("leftover spool not swept by the restart: %v", err)
	}
}
