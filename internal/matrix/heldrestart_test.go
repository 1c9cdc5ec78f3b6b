package matrix_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// blockingCatalog is a catalogd client whose Get calls, once pass of them
// have gone through after arm, block until their context ends (closing
// blocked once): a job's first catalog read waits for Close.
type blockingCatalog struct {
	catalog.Service
	armed   atomic.Bool
	pass    atomic.Int32
	blocked chan struct{}
	once    sync.Once
}

func (b *blockingCatalog) arm(pass int32) { b.pass.Store(pass); b.armed.Store(true) }

func (b *blockingCatalog) Get(ctx context.Context, name string, version int64) (catalog.Dataset, error) {
	if b.armed.Load() && b.pass.Add(-1) < 0 {
		b.once.Do(func() { close(b.blocked) })
		<-ctx.Done()
		return catalog.Dataset{}, ctx.Err()
	}
	return b.Service.Get(ctx, name, version)
}

// TestHeldRebuildSurvivesRestart (ADR-106 over ADR-103): POST
// /v1/matrix/indexes over a vector index vectord holds marks the next job
// "drop the held index and rebuild". The mark lived in memory: matrixd
// restarted before that job ran resumed it without the mark, the job found
// the index held and failed ("the refresh ... vectord holds its vector
// index"), and vector searches stayed a 502 until someone POSTed again.
// state.json keeps the mark now and the resumed job drops and rebuilds.
func TestHeldRebuildSurvivesRestart(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	dir := t.TempDir()
	open := func(cat catalog.Service) *matrix.Matrix {
		m, err := matrix.NewMatrix(matrix.Deps{
			Catalog: cat, Query: query.NewClient(gw), Embed: embed.NewClient(gw), Vectors: vector.NewClient(gw),
		}, matrix.Options{Dir: dir, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(context.Background()) })
		return m
	}
	cat := &blockingCatalog{Service: catalog.NewClient(gw), blocked: make(chan struct{})}
	m := open(cat)
	st.ingest(t, "docs", "replace", compactRows(0, 20, ""))
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	if _, err := m.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	before := waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	st.holdVectorIndex(t, matrix.VectorIndex("docs"))

	cat.arm(1) // the POST's own read goes through; its job's waits
	if s, err := m.Index(ctx, spec); err != nil || s.State != matrix.StatePending {
		t.Fatalf("POST over the held index: %+v %v", s, err)
	}
	select {
	case <-cat.blocked:
	case <-time.After(time.Minute):
		t.Fatal("the job never read the catalog")
	}
	if err := m.Close(ctx); err != nil { // matrixd stops before the job ran
		t.Fatal(err)
	}

	m = open(catalog.NewClient(gw))
	s := waitStatus(t, m, "docs", 2*time.Minute, func(s matrix.IndexStatus) bool {
		return s.State == matrix.StateReady || s.State == matrix.StateFailed
	})
	if s.State != matrix.StateReady || s.Refresh != "full" || s.Docs != 20 || s.Version != before.Version || s.VectorError != nil {
		t.Fatalf("after the restart: %+v", s)
	}
	if l, err := vector.NewClient(gw).ListAll(ctx); err != nil || len(l.Unreadable) != 0 {
		t.Fatalf("still held after the restart: %+v %v", l, err)
	}
	for _, mode := range []string{matrix.ModeVector, matrix.ModeHybrid} {
		res, err := m.Search(ctx, matrix.SearchRequest{Query: "warehouse row", Datasets: []string{"docs"}, Mode: mode, K: 3})
		if err != nil || len(res.Results) != 3 {
			t.Fatalf("%s search after the restart: %+v %v", mode, res, err)
		}
	}
}
