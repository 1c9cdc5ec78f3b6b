package vector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T, objects storage.Store, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), quiet, objects, dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newObjects(t *testing.T) storage.Store {
	t.Helper()
	o, err := local.Open(filepath.Join(t.TempDir(), "objects"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func randVec(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

func items(r *rand.Rand, from, n, dims int) []Item {
	out := make([]Item, n)
	for i := range out {
		id := from + i
		out[i] = Item{ID: fmt.Sprintf("id-%d", id), Vector: randVec(r, dims), Metadata: Metadata{"n": float64(id), "even": id%2 == 0}}
	}
	return out
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newObjects(t), t.TempDir())
	defer s.Close(ctx)
	if _, err := s.CreateIndex(ctx, "docs", CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"l2", "dot"} {
		if _, err := s.CreateIndex(ctx, m, CreateIndexRequest{Dims: 4, Metric: m}); err != nil {
			t.Fatal(err)
		}
	}
	nan := float32(0)
	nan = nan / nan
	for _, c := range []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"bad name", func() error { _, err := s.CreateIndex(ctx, "../x", CreateIndexRequest{Dims: 4}); return err }(), errs.Invalid},
		{"other params", func() error { _, err := s.CreateIndex(ctx, "docs", CreateIndexRequest{Dims: 8}); return err }(), errs.Conflict},
		{"unknown index", func() error { _, err := s.Upsert(ctx, "nope", items(rand.New(rand.NewPCG(1, 1)), 0, 1, 4)); return err }(), errs.NotFound},
		{"wrong dims", func() error { _, err := s.Upsert(ctx, "docs", []Item{{ID: "a", Vector: []float32{1, 2}}}); return err }(), errs.Invalid},
		{"nan", func() error {
			_, err := s.Upsert(ctx, "docs", []Item{{ID: "a", Vector: []float32{1, nan, 0, 0}}})
			return err
		}(), errs.Invalid},
		{"empty id", func() error {
			_, err := s.Upsert(ctx, "docs", []Item{{ID: "", Vector: []float32{1, 0, 0, 0}}})
			return err
		}(), errs.Invalid},
		{"dup ids", func() error {
			_, err := s.Upsert(ctx, "docs", []Item{{ID: "a", Vector: []float32{1, 0, 0, 0}}, {ID: "a", Vector: []float32{0, 1, 0, 0}}})
			return err
		}(), errs.Invalid},
		{"k negative", func() error {
			_, err := s.Search(ctx, "docs", SearchRequest{Vector: []float32{1, 0, 0, 0}, K: -1})
			return err
		}(), errs.Invalid},
		{"l2 vector too long", func() error {
			_, err := s.Upsert(ctx, "l2", []Item{{ID: "big", Vector: []float32{3e38, 3e38, 3e38, 3e38}}})
			return err
		}(), errs.Invalid},
		{"dot vector too long", func() error {
			_, err := s.Upsert(ctx, "dot", []Item{{ID: "big", Vector: []float32{1e16, 0, 0, 0}}})
			return err
		}(), errs.Invalid},
		{"l2 query too long", func() error {
			_, err := s.Search(ctx, "l2", SearchRequest{Vector: []float32{3e38, 0, 0, 0}})
			return err
		}(), errs.Invalid},
		{"search wrong dims", func() error { _, err := s.Search(ctx, "docs", SearchRequest{Vector: []float32{1}, K: 1}); return err }(), errs.Invalid},
	} {
		if errs.KindOf(c.err) != c.kind {
			t.Errorf("%s: got %v, want %s", c.name, c.err, c.kind)
		}
	}
	// None of the invalid batches reached the index or the log.
	if info, _ := s.GetIndex(ctx, "docs"); info.Count != 0 {
		t.Fatalf("invalid batches changed the index: %+v", info)
	}
}

// Acknowledged writes survive a restart from the log alone, from a snapshot
// alone, and from a snapshot plus the log written after it.
func TestPersistence(t *testing.T) {
	ctx := context.Background()
	objects := newObjects(t)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "a", CreateIndexRequest{Dims: 8, Metric: "l2"})
	s.CreateIndex(ctx, "b", CreateIndexRequest{Dims: 3})
	all := items(r, 0, 300, 8)
	s.Upsert(ctx, "a", all[:200])
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	s.Upsert(ctx, "a", all[200:])
	s.Delete(ctx, "a", []string{"id-0", "id-1"})
	s.Upsert(ctx, "b", []Item{{ID: "x", Vector: []float32{1, 0, 0}}})
	s.DeleteIndex(ctx, "b")
	s.CreateIndex(ctx, "b", CreateIndexRequest{Dims: 2})
	s.Upsert(ctx, "b", []Item{{ID: "y", Vector: []float32{0, 1}}})
	s.crash() // crash: no final snapshot

	check := func(s *Store) {
		t.Helper()
		ia, err := s.GetIndex(ctx, "a")
		if err != nil || ia.Count != 298 {
			t.Fatalf("index a after restart: %+v %v", ia, err)
		}
		res, err := s.Search(ctx, "a", SearchRequest{Vector: all[250].Vector, K: 1, Ef: 100})
		if err != nil || len(res) != 1 || res[0].ID != "id-250" || res[0].Metadata["n"] != float64(250) {
			t.Fatalf("search after restart: %+v %v", res, err)
		}
		ib, err := s.GetIndex(ctx, "b")
		if err != nil || ib.Count != 1 || ib.Params.Dims != 2 {
			t.Fatalf("re-created index b: %+v %v", ib, err)
		}
	}
	s2 := openStore(t, objects, dir)
	check(s2)
	if err := s2.Close(ctx); err != nil { // snapshot + truncate
		t.Fatal(err)
	}
	s3 := openStore(t, objects, dir)
	check(s3)
	if err := s3.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Snapshot only: the log was truncated behind it.
	if fi, err := os.Stat(filepath.Join(dir, "vectord.wal")); err != nil || fi.Size() > 1024 {
		t.Fatalf("log not truncated after snapshots: %v %v", fi.Size(), err)
	}
	s4 := openStore(t, objects, t.TempDir()) // a fresh machine with the same object store
	check(s4)
	s4.Close(ctx)
}

// A dropped index stays dropped across restarts even after the log is truncated.
func TestDropIsDurable(t *testing.T) {
	ctx := context.Background()
	objects := newObjects(t)
	dir := t.TempDir()
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "gone", CreateIndexRequest{Dims: 2})
	s.Upsert(ctx, "gone", []Item{{ID: "x", Vector: []float32{1, 0}}})
	s.Snapshot(ctx)
	if err := s.DeleteIndex(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	s2 := openStore(t, objects, dir)
	defer s2.Close(ctx)
	if _, err := s2.GetIndex(ctx, "gone"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("dropped index came back: %v", err)
	}
}

// Searches during upserts see whole items only (run with -race).
func TestConcurrentSearchDuringUpserts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newObjects(t), t.TempDir())
	defer s.Close(ctx)
	s.CreateIndex(ctx, "c", CreateIndexRequest{Dims: 16})
	r := rand.New(rand.NewPCG(3, 3))
	batches := make([][]Item, 20)
	for i := range batches {
		batches[i] = items(r, i*50, 50, 16)
	}
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batches); i += 2 {
				if _, err := s.Upsert(ctx, "c", batches[i]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var sw sync.WaitGroup
	sw.Add(1)
	go func() {
		defer sw.Done()
		q := randVec(rand.New(rand.NewPCG(9, 9)), 16)
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := s.Search(ctx, "c", SearchRequest{Vector: q, K: 5})
			if err != nil {
				t.Error(err)
				return
			}
			for _, h := range res {
				if h.Metadata["n"] == nil {
					t.Errorf("half-written item %+v", h)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	sw.Wait()
	if info, _ := s.GetIndex(ctx, "c"); info.Count != 1000 {
		t.Fatalf("count %d", info.Count)
	}
}

// Snapshots and log truncation racing with writers never lose an
// acknowledged write: after a crash (no final snapshot) every item is back.
func TestSnapshotsDuringWritesLoseNothing(t *testing.T) {
	ctx := context.Background()
	objects := newObjects(t)
	dir := t.TempDir()
	s := openStore(t, objects, dir)
	s.CreateIndex(ctx, "race", CreateIndexRequest{Dims: 4})
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < 60; i++ {
				batch := items(r, w*100000+i*5, 5, 4)
				if _, err := s.Upsert(ctx, "race", batch); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, it := range batch {
					acked[it.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	snaps := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				snaps <- n
				return
			default:
			}
			if err := s.Snapshot(ctx); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	wg.Wait()
	close(stop)
	n := <-snaps
	s.crash() // crash: whatever the last snapshot and the log hold must be everything
	s2 := openStore(t, objects, dir)
	defer s2.Close(ctx)
	for id := range acked {
		if _, err := s2.GetItem(ctx, "race", id); err != nil {
			t.Fatalf("acknowledged %s lost after %d racing snapshots: %v", id, n, err)
		}
	}
	t.Logf("%d items, %d snapshots raced with the writers", len(acked), n)
}

// TestSearchDefaultK: a search without k returns DefaultK hits, as
// DESIGN.md's example (and matrixd) default it.
func TestSearchDefaultK(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newObjects(t), t.TempDir())
	defer s.Close(ctx)
	if _, err := s.CreateIndex(ctx, "docs", CreateIndexRequest{Dims: 4}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	if _, err := s.Upsert(ctx, "docs", items(r, 0, 25, 4)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Search(ctx, "docs", SearchRequest{Vector: randVec(r, 4)})
	if err != nil || len(res) != DefaultK {
		t.Fatalf("search without k: %d hits, %v; want %d", len(res), err, DefaultK)
	}
}

// TestHugeVectors: l2 and dot vectors at the length bound are stored and
// searched with finite scores; cosine takes any finite length (normalised).
func TestHugeVectors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newObjects(t), t.TempDir())
	defer s.Close(ctx)
	for _, m := range []string{"l2", "dot", "cosine"} {
		if _, err := s.CreateIndex(ctx, m, CreateIndexRequest{Dims: 2, Metric: m}); err != nil {
			t.Fatal(err)
		}
		big := float32(1e15 / 1.4143)
		items := []Item{{ID: "a", Vector: []float32{big, big}}, {ID: "b", Vector: []float32{-big, -big}}, {ID: "c", Vector: []float32{1, 1}}}
		if m == "cosine" {
			items[0].Vector = []float32{3e38, 3e38}
		}
		if _, err := s.Upsert(ctx, m, items); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		res, err := s.Search(ctx, m, SearchRequest{Vector: []float32{-big, big}, K: 3})
		if err != nil || len(res) != 3 {
			t.Fatalf("%s: %d hits, %v", m, len(res), err)
		}
		for _, r := range res {
			if math.IsInf(float64(r.Score), 0) || math.IsNaN(float64(r.Score)) {
				t.Fatalf("%s: hit %s has score %v", m, r.ID, r.Score)
			}
		}
	}
}

// TestIndexNameMessage: a refused non-ASCII character is named whole.
func TestIndexNameMessage(t *testing.T) {
	err := ValidateIndexName("café")
	if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), `'é'`) {
		t.Fatalf("%v", err)
	}
}
