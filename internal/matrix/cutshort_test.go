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

// cutEmbed lets pass batch calls (more than one input: a job's, not a
// search's query) through while hold is set, then blocks the next one
// until its context ends (closing entered once).
type cutEmbed struct {
	embed.Service
	hold    atomic.Bool
	pass    atomic.Int64
	entered chan struct{}
	once    sync.Once
}

func (c *cutEmbed) Embed(ctx context.Context, req embed.EmbedRequest) (embed.EmbedResponse, error) {
	if in, _ := req.Input.([]string); len(in) > 1 && c.hold.Load() && c.pass.Add(-1) < 0 {
		c.once.Do(func() { close(c.entered) })
		<-ctx.Done()
		return embed.EmbedResponse{}, ctx.Err()
	}
	return c.Service.Embed(ctx, req)
}

// openCut opens a Matrix on dir over the stack with small embed batches
// (a job upserts several batches before it is cut short) and the given
// candidate depth.
func openCut(t *testing.T, dir string, gw *shared.Client, emb embed.Service, depth int) *matrix.Matrix {
	t.Helper()
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw), Query: query.NewClient(gw), Embed: emb, Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: dir, PollInterval: 50 * time.Millisecond, RetryAfter: 200 * time.Millisecond, BatchRows: 10, Depth: depth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// TestCutShortJobVectorsDeleted (chaos test, ADR-121): vectors a rebuild
// upserted before it was cut short (matrixd stopped mid-job, as by a kill
// -9 or an outage) are of rows no saved keyword index holds, so the next
// full build's delete of the old index's gone ids never reached them:
// vectord kept them for good (matrix.chaos_a held 164k vectors for 92k
// rows) and vector searches were starved by ids whose rows do not exist.
// The next finished build leaves vectord holding exactly the current rows.
func TestCutShortJobVectorsDeleted(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &cutEmbed{Service: embed.NewClient(gw), entered: make(chan struct{})}
	dir := t.TempDir()
	ctx := context.Background()
	vc := vector.NewClient(gw)
	ready := func(v int64) func(matrix.IndexStatus) bool {
		return func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady && s.Version == v }
	}

	m := openCut(t, dir, gw, emb, 0)
	st.ingest(t, "cut", "replace", compactRows(0, 40, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "cut", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "cut", time.Minute, ready(1))

	// Version 2 replaces every row; its rebuild upserts two batches (20
	// ids) and is stopped while embedding the third.
	emb.pass.Store(2)
	emb.hold.Store(true)
	st.ingest(t, "cut", "replace", compactRows(100, 40, ""))
	select {
	case <-emb.entered:
	case <-time.After(time.Minute):
		t.Fatal("the rebuild never embedded a third batch")
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := vc.GetIndex(ctx, matrix.VectorIndex("cut"))
	if err != nil || info.Count != 60 {
		t.Fatalf("after the cut job: vectord holds %d, want 40 old and 20 of the cut job (%v)", info.Count, err)
	}

	// Version 3 replaces every row again; the restarted matrixd builds it.
	st.ingest(t, "cut", "replace", compactRows(200, 40, ""))
	emb.hold.Store(false)
	m = openCut(t, dir, gw, emb, 0)
	if s := waitStatus(t, m, "cut", time.Minute, ready(3)); s.Docs != 40 {
		t.Fatalf("rebuilt: %+v", s)
	}
	info, err = vc.GetIndex(ctx, matrix.VectorIndex("cut"))
	if err != nil || info.Count != 40 {
		t.Fatalf("after the rebuild: vectord holds %d vectors for 40 rows (%v)", info.Count, err)
	}
	res, err := m.Search(ctx, matrix.SearchRequest{Query: "warehouse row", Datasets: []string{"cut"}, Mode: matrix.ModeVector, K: 10})
	if err != nil || len(res.Results) != 10 {
		t.Fatalf("vector search k=10: %d results, %v", len(res.Results), err)
	}
}
