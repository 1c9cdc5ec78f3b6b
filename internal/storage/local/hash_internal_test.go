package local

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/xxh3"
)

// hashSpan (mmap) and hashRead (pread) agree with xxh3-128 of the bytes,
// at sizes around page and buffer boundaries.
func TestHashFileMatchesXXH3(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 4095, 4096, 4097, 1<<20 + 3, mapWindow, mapWindow + 1, 2*mapWindow + 4096} {
		b := make([]byte, n)
		rand.Read(b)
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := xxh3.Hash128(b).Bytes()
		want := hex.EncodeToString(sum[:])
		got, err := hashFile(f, int64(n))
		h := xxh3.New128()
		err2 := hashRead(h, f, 0, int64(n))
		b2 := h.Sum128().Bytes()
		got2 := hex.EncodeToString(b2[:])
		f.Close()
		if err != nil || err2 != nil || got != want || got2 != want {
			t.Fatalf("size %d: mmap %s (%v), pread %s (%v), want %s", n, got, err, got2, err2, want)
		}
	}
}

// A file shorter than the mapping (truncated by name while it is hashed)
// faults; the fault is an error, not the end of the process.
func TestHashMappedFaultIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := hashFile(f, 64<<10) // 60 KiB past the end, in the first window
	if err == nil || sum != "" || !strings.Contains(err.Error(), "changed while it was hashed") {
		t.Fatalf("sum %q err %v", sum, err)
	}
}

// The fault is caught in a later window too (the file shrank after the
// first windows were hashed).
func TestHashMappedFaultInALaterWindow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, mapWindow+4096), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := hashFile(f, 2*mapWindow)
	if err == nil || sum != "" || !strings.Contains(err.Error(), "changed while it was hashed") {
		t.Fatalf("sum %q err %v", sum, err)
	}
}

// hashFile is the xxh3-128 hex of the first size bytes of f, through
// hashSpan (the follower's step) in one span.
func hashFile(f *os.File, size int64) (string, error) {
	h := xxh3.New128()
	if err := hashSpan(h, f, 0, size, nil); err != nil {
		return "", err
	}
	b := h.Sum128().Bytes()
	return hex.EncodeToString(b[:]), nil
}
