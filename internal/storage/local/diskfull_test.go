package local

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/testutil/tmpfs"
)

// TestPutOntoFullDisk: a PUT onto a full disk (a real tmpfs; root only)
// is Unavailable naming the OS's reason and not the path (it said
// "no space left on device: write /srv/.../objects/tmp/put-...: no space
// left on device"), leaves no temp file and the old object whole; once
// space is freed PUTs work again.
func TestPutOntoFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, 1<<20)
	s, err := Open(filepath.Join(dir, "objects"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	old := bytes.Repeat([]byte("o"), 1000)
	if _, err := s.Put(ctx, "k", bytes.NewReader(old), int64(len(old)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	os.WriteFile(filler, make([]byte, 700<<10), 0o644)
	big := bytes.Repeat([]byte("n"), 600<<10)
	_, err = s.Put(ctx, "k", bytes.NewReader(big), int64(len(big)), storage.PutOptions{})
	if m := errs.Message(err); !errs.Is(err, errs.Unavailable) || m != "local storage (no space left on device)" || strings.Contains(m, dir) {
		t.Fatalf("PUT onto a full disk: %v (message %q)", err, m)
	}
	rc, _, err := s.Get(ctx, "k", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, old) {
		t.Fatalf("old object changed: %d bytes", len(got))
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "objects", "tmp")); len(tmp) > 0 {
		var names []string
		for _, e := range tmp {
			names = append(names, e.Name())
		}
		if len(names) > 0 && !(len(names) <= 4 && allSpares(names)) {
			t.Fatalf("temp files left: %v", names)
		}
	}
	os.Remove(filler)
	if _, err := s.Put(ctx, "k", bytes.NewReader(big), int64(len(big)), storage.PutOptions{}); err != nil {
		t.Fatalf("PUT after space was freed: %v", err)
	}
}

func allSpares(names []string) bool {
	for _, n := range names {
		if !strings.HasPrefix(n, "spare-") {
			return false
		}
	}
	return true
}
