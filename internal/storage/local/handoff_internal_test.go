package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func xxh3Hex(b []byte) string {
	sum := xxh3.Hash128(b).Bytes()
	return hex.EncodeToString(sum[:])
}

// A writer that reports its progress at offsets that are not page-aligned
// has those bytes hashed before it commits; the etag is the whole file's.
func TestWriteProgressHashesAsItGoes(t *testing.T) {
	s := openStore(t)
	body := make([]byte, 4*mapWindow+12345)
	rand.Read(body)
	w, wf, err := s.BeginWrite("p/obj", false)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, step := range []int{1, 4095, 1<<20 + 3, mapWindow, 7, 2*mapWindow - 1} {
		if _, err := wf.Write(body[n : n+int64(step)]); err != nil {
			t.Fatal(err)
		}
		n += int64(step)
		if err := w.Progress(n); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.fl.hashed.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := w.fl.hashed.Load(); got != n {
		t.Fatalf("hashed %d of the %d bytes reported before the commit", got, n)
	}
	if _, err := wf.Write(body[n:]); err != nil {
		t.Fatal(err)
	}
	wf.Close()
	info, err := w.Commit(context.Background(), int64(len(body)), xxh3Hex(body))
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != xxh3Hex(body) || info.Size != int64(len(body)) {
		t.Fatalf("info %+v", info)
	}
	got, err := os.ReadFile(info.Path)
	if err != nil || string(got) != string(body) {
		t.Fatalf("read back %d bytes (%v)", len(got), err)
	}
}

// Wrong progress reports refuse the write; nothing is published, the temp
// file is removed.
func TestWriteProgressRefusals(t *testing.T) {
	s := openStore(t)
	body := []byte("0123456789")
	w, wf, err := s.BeginWrite("p/back", false)
	if err != nil {
		t.Fatal(err)
	}
	wf.Write(body)
	if err := w.Progress(10); err != nil {
		t.Fatal(err)
	}
	if err := w.Progress(9); !errs.Is(err, errs.Invalid) {
		t.Fatalf("progress going back: %v", err)
	}
	wf.Close()
	w.Abort()

	// Progress past the committed size (the writer reported bytes it
	// then did not keep).
	w, wf, err = s.BeginWrite("p/past", false)
	if err != nil {
		t.Fatal(err)
	}
	wf.Write(body)
	wf.Close()
	if err := w.Progress(1 << 20); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(context.Background(), int64(len(body)), xxh3Hex(body))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "progress reported") {
		t.Fatalf("commit after progress past the end: %v", err)
	}
	if err := w.Progress(1); !errs.Is(err, errs.Invalid) {
		t.Fatalf("progress after the write ended: %v", err)
	}
	for _, k := range []string{"p/back", "p/past"} {
		if _, err := os.Stat(filepath.Join(s.data, k)); !os.IsNotExist(err) {
			t.Fatalf("%s: refused write visible (%v)", k, err)
		}
	}
	if n := putFiles(t, s); n != 0 {
		t.Fatalf("%d temp files of refused writes left", n)
	}
}

// The writer's fd is append-only: a pwrite at offset 0 appends instead of
// changing bytes storaged may already have hashed.
func TestHandedFDIsAppendOnly(t *testing.T) {
	s := openStore(t)
	w, wf, err := s.BeginWrite("p/append", false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	wf.Write([]byte("hello"))
	if _, err := unix.Pwrite(int(wf.Fd()), []byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	wf.Close()
	got, err := os.ReadFile(w.tmp)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "helloJ" {
		t.Fatalf("after a pwrite at 0 the file is %q, want %q", got, "helloJ")
	}
}

func putFiles(t *testing.T, s *Store) int {
	t.Helper()
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "put-") {
			n++
		}
	}
	return n
}

func spareFiles(t *testing.T, s *Store) int {
	t.Helper()
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - putFiles(t, s)
}

// Spares: made at open, taken (and renamed put-*) by writes, refilled,
// removed by Close; an empty object written from an old spare is dated
// now, not when the spare was made.
func TestSpares(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitSpares := func() {
		t.Helper()
		for i := 0; i < 500 && spareFiles(t, s) < spareCount; i++ {
			time.Sleep(2 * time.Millisecond)
		}
		if n := spareFiles(t, s); n != spareCount {
			t.Fatalf("%d spares, want %d", n, spareCount)
		}
	}
	waitSpares()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	ents, _ := os.ReadDir(s.tmp)
	for _, e := range ents {
		os.Chtimes(filepath.Join(s.tmp, e.Name()), old, old)
	}
	before := time.Now().Add(-time.Minute)
	info, err := s.Put(context.Background(), "empty", strings.NewReader(""), 0, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Modified.Before(before) {
		t.Fatalf("an empty object is dated %v", info.Modified)
	}
	w, wf, err := s.BeginWrite("socket/empty", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(w.tmp), "put-") {
		t.Fatalf("a write's temp file is %s", w.tmp)
	}
	wf.Close()
	if info, err = w.Commit(context.Background(), 0, xxh3Hex(nil)); err != nil || info.Modified.Before(before) {
		t.Fatalf("commit of an empty object: %+v %v", info, err)
	}
	waitSpares() // refilled
	s.Close()
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Fatalf("%d files left in tmp/ after Close", len(ents))
	}
}
