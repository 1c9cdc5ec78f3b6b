package ingestd

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest/convert"
)

// chunky reads its data in pieces of random sizes (a network body's reads).
type chunky struct {
	b   []byte
	rnd *rand.Rand
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rnd.IntN(200_000))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestSpoolHash: the spool hashed every upload with SHA-256 on its own
// thread (about half its CPU time), though only a request with an
// Idempotency-Key reads the hash. Now it hashes only when asked, beside
// the copy: the file holds the body as before (less a byte order mark),
// the hash is that of every byte read, BOM included, and an upload over
// the limit or a failed read leaves no hashing goroutine behind.
func TestSpoolHash(t *testing.T) {
	s, err := NewServer(Options{TempDir: t.TempDir(), Convert: convert.Options{Threads: 1}, MaxUploadBytes: 12 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rnd := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 9<<20+12345)
	for i := range body {
		body[i] = 'a' + byte(rnd.IntN(26))
	}
	withBOM := append(append([]byte(nil), utf8BOM...), body...)
	dir := t.TempDir()
	goroutines := runtime.NumGoroutine()
	for i, tc := range []struct {
		in     []byte
		hashed bool
	}{{body, false}, {body, true}, {withBOM, true}, {withBOM, false}, {[]byte("x"), true}, {nil, true}} {
		path := filepath.Join(dir, "upload"+string(rune('0'+i)))
		sp, err := s.spool(&chunky{tc.in, rnd}, path, tc.hashed, coding{sniff: true})
		n, head, sum := sp.n, sp.head, sp.sum
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if n != int64(len(tc.in)) {
			t.Errorf("case %d: size %d, want %d", i, n, len(tc.in))
		}
		got, _ := os.ReadFile(path)
		if want := bytes.TrimPrefix(tc.in, utf8BOM); !bytes.Equal(got, want) || !bytes.HasPrefix(want, head) {
			t.Errorf("case %d: the spool file or its head differs from the body", i)
		}
		switch {
		case !tc.hashed && sum != nil:
			t.Errorf("case %d: hashed an upload without an Idempotency-Key", i)
		case tc.hashed:
			if want := sha256.Sum256(tc.in); !bytes.Equal(sum, want[:]) {
				t.Errorf("case %d: hash %x, want %x", i, sum, want)
			}
		}
	}
	// Over the limit, and a read that fails mid-way: errors, no goroutine left.
	big := make([]byte, 13<<20)
	if _, err := s.spool(bytes.NewReader(big), filepath.Join(dir, "big"), true, coding{sniff: true}); !errs.Is(err, errs.TooLarge) {
		t.Errorf("over the limit: %v, want TooLarge", err)
	}
	cut := io.MultiReader(bytes.NewReader(body[:3<<20]), iotestErr{})
	if _, err := s.spool(cut, filepath.Join(dir, "cut"), true, coding{sniff: true}); !errs.Is(err, errs.Invalid) {
		t.Errorf("cut upload: %v, want Invalid", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the spools, %d before", n, goroutines)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
