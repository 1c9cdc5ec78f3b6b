package matrix_test

import (
	"context"
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

// slowCatalog delays every dataset GET while slow is set: the time a job
// takes to read the latest version before it says building.
type slowCatalog struct {
	catalog.Service
	slow atomic.Bool
}

func (c *slowCatalog) Get(ctx context.Context, name string, version int64) (catalog.Dataset, error) {
	if c.slow.Load() {
		time.Sleep(300 * time.Millisecond)
	}
	return c.Service.Get(ctx, name, version)
}

// slowEmbed delays every embed call while slow is set, so that a job runs
// long enough for a POST to come during it.
type slowEmbed struct {
	embed.Service
	slow atomic.Bool
}

func (e *slowEmbed) Embed(ctx context.Context, req embed.EmbedRequest) (embed.EmbedResponse, error) {
	if e.slow.Load() {
		time.Sleep(100 * time.Millisecond)
	}
	return e.Service.Embed(ctx, req)
}

// A POST that comes while a job runs queues a run after it (ADR-033).
// Until that run has ended the index is not "ready": when the running job
// ended, the status said ready at the version that job built — older than
// the one the POST saw — until the queued run had read the catalog, so a
// caller that POSTs and polls for ready got ready at a version without
// the rows it had just ingested (the whole-suite power-cut test met it
// after a big ingest).
func TestQueuedRunIsNotReady(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := &slowCatalog{Service: catalog.NewClient(gw)}
	emb := &slowEmbed{Service: embed.NewClient(gw)}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: cat, Query: query.NewClient(gw), Embed: emb, Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: t.TempDir(), PollInterval: time.Hour, BatchRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	ctx := context.Background()
	req := matrix.IndexRequest{Dataset: "queued", IDColumn: "id", TextColumns: []string{"txt"}}
	st.ingest(t, "queued", "replace", compactRows(0, 20, ""))
	if _, err := m.Index(ctx, req); err != nil {
		t.Fatal(err)
	}
	waitState := func(want func(matrix.IndexStatus) bool) matrix.IndexStatus {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			s, err := m.Status(ctx, "queued")
			if err == nil && want(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %+v %v", s, err)
			}
		}
	}
	first := waitState(func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })

	// A refresh that runs a while; a new version and a POST during it.
	emb.slow.Store(true)
	st.ingest(t, "queued", "append", compactRows(20, 30, ""))
	if _, err := m.Index(ctx, req); err != nil {
		t.Fatal(err)
	}
	waitState(func(s matrix.IndexStatus) bool { return s.State == matrix.StateBuilding })
	st.ingest(t, "queued", "append", compactRows(50, 10, ""))
	latest := first.Version + 2
	cat.slow.Store(true)
	posted, err := m.Index(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	emb.slow.Store(false)
	if posted.State == matrix.StateReady && posted.Version < latest {
		t.Fatalf("the POST during a job answered ready at version %d, the dataset is at %d", posted.Version, latest)
	}
	// Poll as a caller does: the first ready must be at the latest version.
	s := waitState(func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady || s.State == matrix.StateFailed })
	if s.State != matrix.StateReady || s.Version != latest || s.Docs != 60 {
		t.Fatalf("after a POST during a job, the first ready status: %s at version %d with %d docs; want ready at version %d with 60 (%+v)", s.State, s.Version, s.Docs, latest, s)
	}
}
