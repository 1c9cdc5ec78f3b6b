package convert

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/testutil/tmpfs"
)

// TestConvertOnFullDisk: DuckDB writing the Parquet output onto a full
// disk (a real 1 MiB tmpfs; root only) is Unavailable naming the reason
// and where to make room — it was a 400 "the file could not be read: IO
// Error: ... No space left on device", blaming the user's file — and the
// output directory is cleaned.
func TestConvertOnFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, 1048576)
	c, err := Open(Options{Threads: 2, TempDir: filepath.Join(dir, "tmp"), MaxLineBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	b.WriteString("id,v,s\n")
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&b, "%d,%v,%x\n", i, r.Float64(), r.Uint64())
	}
	in := write(t, "big.csv", []byte(b.String())) // not on the tmpfs
	out := filepath.Join(dir, "out")
	_, err = c.Convert(context.Background(), Input{Path: in, Format: CSV}, out)
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), "ran out of disk") || !strings.Contains(errs.Message(err), "[ingestd].temp_dir") {
		t.Fatalf("conversion onto a full disk: %v (kind %s)", err, errs.KindOf(err))
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output directory left: %v", err)
	}
}
