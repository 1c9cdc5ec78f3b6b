package matrix

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix/keyword"
)

// goneCatalog answers every Get and VersionsPage with "not found" (the
// dataset was deleted) and counts the calls.
type goneCatalog struct {
	catalog.Service
	gets atomic.Int64
}

func (g *goneCatalog) Get(_ context.Context, name string, _ int64) (catalog.Dataset, error) {
	g.gets.Add(1)
	return catalog.Dataset{}, errs.Errorf("catalog.get", errs.NotFound, "dataset %q not found (deleted at version 2)", name)
}

// VersionsPage is the poll's question (ADR-136): not found either.
func (g *goneCatalog) VersionsPage(_ context.Context, name string, _ catalog.VersionsQuery) (catalog.VersionsResponse, error) {
	g.gets.Add(1)
	return catalog.VersionsResponse{}, errs.Errorf("catalog.versions", errs.NotFound, "dataset %q not found", name)
}

// TestDeletedDatasetNotRetriedEveryPoll: once the job of an index whose
// dataset was deleted has failed on that, later polls leave it alone. Each
// poll (10 s) ran the job again, which failed again: an ERROR line, a
// catalog GET and a state.json fsync every 10 s for as long as the index
// existed.
func TestDeletedDatasetNotRetriedEveryPoll(t *testing.T) {
	cat := &goneCatalog{}
	m, err := NewMatrix(Deps{Catalog: cat}, Options{Dir: t.TempDir(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	x := &dsIndex{spec: IndexRequest{Dataset: "gone", IDColumn: "id", TextColumns: []string{"txt"}},
		status: IndexStatus{Dataset: "gone", State: StateReady, Version: 1}, kw: keyword.New()}
	m.idx["gone"] = x
	idle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			x.mu.Lock()
			running := x.running
			x.mu.Unlock()
			if !running {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("job still running")
			}
			time.Sleep(time.Millisecond)
		}
	}
	m.checkVersion(x) // poll: the dataset is gone, the job runs and fails
	idle()
	x.mu.Lock()
	st := x.status
	x.mu.Unlock()
	if st.State != StateFailed || x.kw == nil {
		t.Fatalf("after the first poll: %+v (the old index is kept, failed)", st)
	}
	first := cat.gets.Load() // the poll's GET and the job's
	for range 3 {
		m.checkVersion(x)
		idle()
	}
	if got := cat.gets.Load() - first; got != 3 {
		t.Errorf("three more polls made %d catalog GETs; want 3 (no job run again)", got)
	}
	// A new POST /v1/matrix/indexes (m.start) still runs the job.
	m.start(x)
	idle()
	if got := cat.gets.Load() - first; got != 4 {
		t.Errorf("an explicit start made %d GETs in all; want 4", got)
	}
}
