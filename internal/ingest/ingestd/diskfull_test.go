package ingestd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/tmpfs"
)

// TestUploadOntoFullDisk: an upload that does not fit ingestd's temp dir
// (a real 1 MiB tmpfs; root only) is a 503 naming the reason and
// [ingestd].temp_dir — it was a 400 "reading the upload: write
// /path/...: no space left on device", blaming the client and showing
// the path — nothing is stored, the temp dir is left empty, and the next
// upload that fits lands.
func TestUploadOntoFullDisk(t *testing.T) {
	tmp := tmpfs.Mount(t, 1048576)
	cfg := config(t)
	cfg.Ingestd.TempDir = tmp
	st := startStack(t, cfg)
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "%d,name %d\n", i, i)
	}
	a := st.upload(t, "name=toobig", "full.csv", []byte(b.String()))
	var body errs.Body
	a.json(t, &body)
	if a.Status != 503 || body.Error.Kind != errs.Unavailable || !strings.Contains(body.Error.Message, "no space left on device") ||
		!strings.Contains(body.Error.Message, "[ingestd].temp_dir") || strings.Contains(body.Error.Message, tmp) {
		t.Fatalf("upload onto a full disk: %d %s", a.Status, a.Body)
	}
	if keys := st.dataKeys(t, "toobig"); len(keys) != 0 {
		t.Fatalf("data stored: %v", keys)
	}
	var left []string
	filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != shared.DirLockName {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("temp files left: %v", left)
	}
	if a := st.upload(t, "name=small", "small.csv", []byte("id,name\n1,a\n2,b\n")); a.Status != 200 {
		t.Fatalf("an upload that fits: %d %s", a.Status, a.Body)
	}
}
