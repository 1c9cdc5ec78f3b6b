package vector

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// flakyStore is a storage.Store that is down (every List and Get fails
// Unavailable) or cuts every Get after 64 bytes, as storaged does when S3
// stops sending.
type flakyStore struct {
	storage.Store
	down, cut atomic.Bool
}

var errStoreDown = errs.Errorf("test", errs.Unavailable, "test store down")

func (f *flakyStore) List(ctx context.Context, o storage.ListOptions) (storage.ListPage, error) {
	if f.down.Load() {
		return storage.ListPage{}, errStoreDown
	}
	return f.Store.List(ctx, o)
}

func (f *flakyStore) Get(ctx context.Context, key string, r storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	if f.down.Load() {
		return nil, storage.ObjectInfo{}, errStoreDown
	}
	rc, info, err := f.Store.Get(ctx, key, r)
	if err != nil || !f.cut.Load() {
		return rc, info, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, 64), cutReader{}), rc}, info, nil
}

type cutReader struct{}

func (cutReader) Read([]byte) (int, error) {
	return 0, errs.Errorf("test", errs.Unavailable, "test store stopped sending")
}

// TestLoadWaitsForStorage: a Store started while its snapshots cannot be
// read serves nothing — every call Unavailable naming why, nothing
// appended to the log — retries, and loads snapshot plus log as a whole
// once storage answers; a snapshot cut mid-stream is retried, not taken
// for a damaged file. Close stops a load that never succeeded. (Run with
// -race.)
func TestLoadWaitsForStorage(t *testing.T) {
	ctx := context.Background()
	objects := newObjects(t)
	dir := t.TempDir()
	s := openStore(t, objects, dir)
	if _, err := s.CreateIndex(ctx, "a", CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	all := items(rand.New(rand.NewPCG(1, 1)), 0, 100, 4)
	s.Upsert(ctx, "a", all[:60])
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	s.Upsert(ctx, "a", all[60:])
	s.Delete(ctx, "a", []string{"id-0"})
	s.crash() // crash: the log holds what the snapshot lacks
	walPath := filepath.Join(dir, "vectord.wal")
	before, _ := os.Stat(walPath)

	fs := &flakyStore{Store: objects}
	fs.down.Store(true)
	// Open gives up after its wait with the storage error.
	if _, err := Open(ctx, quiet, fs, dir, 300*time.Millisecond); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "test store down") {
		t.Fatalf("Open with storage down: %v", err)
	}
	// Close of a Store that never loaded.
	s0, err := Start(quiet, fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s0.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s2, err := Start(quiet, fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx)
	unavailable := func(want string) {
		t.Helper()
		_, e1 := s2.ListIndexes(ctx)
		_, e2 := s2.GetIndex(ctx, "a")
		_, e3 := s2.Search(ctx, "a", SearchRequest{Vector: all[0].Vector})
		_, e4 := s2.GetItem(ctx, "a", "id-1")
		_, e5 := s2.Upsert(ctx, "a", all[:1])
		_, e6 := s2.Delete(ctx, "a", []string{"id-1"})
		_, e7 := s2.CreateIndex(ctx, "a", CreateIndexRequest{Dims: 4})
		_, e8 := s2.CreateIndex(ctx, "new", CreateIndexRequest{Dims: 4})
		e9 := s2.DeleteIndex(ctx, "a")
		_, e10 := s2.Search(ctx, "missing", SearchRequest{Vector: all[0].Vector})
		for i, err := range []error{e1, e2, e3, e4, e5, e6, e7, e8, e9, e10} {
			if !errs.Is(err, errs.Unavailable) || !strings.Contains(errs.Message(err), want) {
				t.Fatalf("call %d before the load: %v; want unavailable naming %q", i+1, err, want)
			}
		}
		if err := s2.Snapshot(ctx); err != nil {
			t.Fatalf("snapshot before the load: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s2.lastLoadErr() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	unavailable("test store down")
	// Storage answers but cuts the snapshot: still a retried outage.
	fs.cut.Store(true)
	fs.down.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(errs.Message(s2.lastLoadErr()), "stopped sending") {
		if s2.ready.Load() || time.Now().After(deadline) {
			t.Fatalf("cut snapshot: ready %v, last error %v", s2.ready.Load(), s2.lastLoadErr())
		}
		time.Sleep(5 * time.Millisecond)
	}
	unavailable("stopped sending")
	if err := s2.lastLoadErr(); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("a cut snapshot is taken for a damaged one (a start would stop): %v", err)
	}
	if _, err := Open(ctx, quiet, fs, t.TempDir(), 300*time.Millisecond); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Open with snapshots cut: %v; want unavailable", err)
	}
	if after, _ := os.Stat(walPath); after.Size() != before.Size() {
		t.Fatalf("log changed before the load: %d -> %d bytes", before.Size(), after.Size())
	}
	fs.cut.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for !s2.ready.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("not loaded after storage came back: %v", s2.lastLoadErr())
		}
		time.Sleep(5 * time.Millisecond)
	}
	info, err := s2.GetIndex(ctx, "a")
	if err != nil || info.Count != 99 {
		t.Fatalf("loaded index: %+v %v", info, err)
	}
	if it, err := s2.GetItem(ctx, "a", "id-99"); err != nil || it.Metadata["n"] != float64(99) {
		t.Fatalf("logged item: %+v %v", it, err)
	}
	if _, err := s2.GetItem(ctx, "a", "id-0"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("logged delete: %v", err)
	}
	if _, err := s2.Upsert(ctx, "a", all[:1]); err != nil {
		t.Fatal(err)
	}
}
