package pcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

func fetchOf(data []byte, calls *atomic.Int64) Fetch {
	return func(ctx context.Context, w io.Writer) (int64, error) {
		calls.Add(1)
		n, err := w.Write(data)
		return int64(n), err
	}
}

func TestHitMissEvictPin(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 250)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 100)
	pa, relA, err := c.Acquire(ctx, "a", "e1", fetchOf(data, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(pa); !bytes.Equal(b, data) {
		t.Fatal("content")
	}
	_, relA2, _ := c.Acquire(ctx, "a", "e1", fetchOf(data, &calls))
	if calls.Load() != 1 {
		t.Fatalf("hit fetched again: %d", calls.Load())
	}
	// A new etag is a new entry.
	_, relA3, _ := c.Acquire(ctx, "a", "e2", fetchOf(data, &calls))
	// Third entry exceeds 250 bytes; a and a/e2 are pinned, so b's
	// insertion evicts nothing pinned.
	_, relB, _ := c.Acquire(ctx, "b", "e1", fetchOf(data, &calls))
	if c.Size() != 300 {
		t.Fatalf("pinned entries evicted: size %d", c.Size())
	}
	relA()
	relA2()
	// a/e1 is now unpinned and least recently used: evicted.
	if _, err := os.Stat(pa); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a/e1 not evicted: %v", err)
	}
	if c.Size() != 200 {
		t.Fatalf("size %d", c.Size())
	}
	relA3()
	relB()
	// Reopen: entries survive.
	c2, err := Open(dir, 250)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Size() != 200 {
		t.Fatalf("reopened size %d", c2.Size())
	}
}

func TestSingleDownload(t *testing.T) {
	c, _ := Open(t.TempDir(), 0)
	var calls atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, rel, err := c.Acquire(context.Background(), "k", "e", fetchOf([]byte("data"), &calls))
			if err != nil {
				t.Error(err)
				return
			}
			rel()
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d downloads", calls.Load())
	}
	// A failed fetch leaves nothing behind.
	_, _, err := c.Acquire(context.Background(), "bad", "e", func(ctx context.Context, w io.Writer) (int64, error) {
		w.Write([]byte("part"))
		return 4, errors.New("boom")
	})
	if err == nil {
		t.Fatal("want error")
	}
	if c.Size() != 4 {
		t.Fatalf("size %d", c.Size())
	}
}

// TestAcquireSize: a download of another size than the object's is refused
// (unavailable) and not cached; a cached entry of another size is fetched
// again.
func TestAcquireSize(t *testing.T) {
	c, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fetches := 0
	fetch := func(body string) Fetch {
		return func(_ context.Context, w io.Writer) (int64, error) {
			fetches++
			n, err := io.WriteString(w, body)
			return int64(n), err
		}
	}
	if _, _, err := c.AcquireSize(ctx, "k", "e", 10, fetch("short")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("short download: %v, want unavailable", err)
	}
	if c.Size() != 0 {
		t.Fatalf("short download cached: %d bytes", c.Size())
	}
	_, rel, err := c.AcquireSize(ctx, "k", "e", 5, fetch("short"))
	if err != nil {
		t.Fatal(err)
	}
	rel()
	p, rel, err := c.AcquireSize(ctx, "k", "e", 10, fetch("ten bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if b, _ := os.ReadFile(p); string(b) != "ten bytes!" || c.Size() != 10 || fetches != 3 {
		t.Fatalf("entry of another size: %q, size %d, %d fetches", b, c.Size(), fetches)
	}
}

// TestFirstCallerLeaves: callers waiting for a download another caller
// started are not failed by that caller leaving (its query cancelled, its
// client gone): one of them downloads the object itself. They were
// answered the leaver's "context canceled", a query failed for another
// client's Ctrl-C.
func TestFirstCallerLeaves(t *testing.T) {
	c, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("parquet "), 1000)
	started := make(chan struct{})
	lctx, leave := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, _, err := c.Acquire(lctx, "k", "e", func(ctx context.Context, w io.Writer) (int64, error) {
			close(started)
			n, _ := w.Write(data[:100])
			<-ctx.Done() // a slow object store, until the caller leaves
			return int64(n), ctx.Err()
		})
		leader <- err
	}()
	<-started
	var calls atomic.Int64
	var wg sync.WaitGroup
	errsOf := make([]error, 4)
	for i := range errsOf {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, rel, err := c.Acquire(context.Background(), "k", "e", fetchOf(data, &calls))
			if err == nil {
				if b, rerr := os.ReadFile(p); rerr != nil || !bytes.Equal(b, data) {
					err = errors.New("wrong content")
				}
				rel()
			}
			errsOf[i] = err
		}()
	}
	time.Sleep(300 * time.Millisecond) // they wait for the first download
	if m := c.Stats().Misses; m != 1 {
		t.Fatalf("%d misses before the first caller left, want 1", m)
	}
	leave()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that left: %v", err)
	}
	wg.Wait()
	for i, err := range errsOf {
		if err != nil {
			t.Errorf("waiting caller %d, failed by another's leaving: %v", i, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d downloads after the first caller left, want 1", n)
	}
	if tmps, _ := os.ReadDir(filepath.Join(c.Dir(), "tmp")); len(tmps) != 0 {
		t.Errorf("partial downloads left: %v", tmps)
	}
}
