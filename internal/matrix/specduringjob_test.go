package matrix_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// TestSpecChangedDuringJob (ADR-104): POST /v1/matrix/indexes with other
// text_columns while a build of the dataset runs. The running job used to
// clear the "full rebuild" mark the POST set when it finished, so the run
// the POST queued found the index current at the same version and said
// ready: the status showed the new text_columns while searches matched the
// old ones. The mark survives a job that started before it was set: the
// job ends pending, the queued run rebuilds from the new columns.
func TestSpecChangedDuringJob(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	q := &hookQuery{Service: query.NewClient(gw), t: t}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw), Query: q, Embed: embed.NewClient(gw), Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: t.TempDir(), PollInterval: -1, BatchRows: 8, PageRows: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })

	st.ingest(t, "docs", "replace", "id,title,body\n1,alpha heading,omega text\n2,beta heading,sigma text\n")
	oldSpec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"title"}}
	newSpec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"body"}}
	posted := make(chan matrix.IndexStatus, 1)
	// The first build's first page is read after its plan was made: the
	// POST of the new columns lands in the middle of the job.
	q.arm(" ORDER BY ", func() error {
		s, err := m.Index(ctx, newSpec)
		posted <- s
		return err
	})
	if _, err := m.Index(ctx, oldSpec); err != nil {
		t.Fatal(err)
	}
	var s matrix.IndexStatus
	select {
	case s = <-posted:
	case <-time.After(time.Minute):
		t.Fatal("the build never read a page")
	}
	if !slices.Equal(s.TextColumns, newSpec.TextColumns) || s.State != matrix.StateBuilding {
		t.Fatalf("POST during the build answered %+v", s)
	}
	// Ready with the new columns (the dataset stays at version 1).
	s = waitStatus(t, m, "docs", 2*time.Minute, func(s matrix.IndexStatus) bool {
		return s.State == matrix.StateReady && slices.Equal(s.TextColumns, newSpec.TextColumns)
	})
	if s.Version != 1 || s.Docs != 2 || s.Refresh != "full" {
		t.Fatalf("ready: %+v", s)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{{"omega", []string{"1"}}, {"sigma", []string{"2"}}, {"alpha", nil}, {"heading", nil}} {
		res, err := m.Search(ctx, matrix.SearchRequest{Query: tc.query, Datasets: []string{"docs"}, Mode: matrix.ModeKeyword})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res.Results); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("keyword search %q over the status's text_columns %v: %v, want %v", tc.query, s.TextColumns, got, tc.want)
		}
	}
}

// TestSpecChangeSurvivesRestart (ADR-104): matrixd stopped while the build
// a POST of other text_columns started embeds. The "full rebuild" mark
// lived in memory only: the resumed job found the index current at the
// same version and said ready with the new text_columns over the old
// text. state.json keeps the mark now and the resumed job rebuilds.
func TestSpecChangeSurvivesRestart(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &heldEmbed{Service: embed.NewClient(gw), entered: make(chan struct{})}
	r := restartable{t: t, dir: t.TempDir(), gw: gw, emb: emb}
	ctx := context.Background()

	m := r.open()
	st.ingest(t, "docs", "replace", "id,title,body\n1,alpha heading,omega text\n2,beta heading,sigma text\n")
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"title"}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	emb.hold.Store(true)
	newSpec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"body"}}
	if _, err := m.Index(ctx, newSpec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-emb.entered:
	case <-time.After(time.Minute):
		t.Fatal("the rebuild never embedded")
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	emb.hold.Store(false)
	m = r.open()
	s := waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	if s.Version != 1 || s.Docs != 2 || !slices.Equal(s.TextColumns, newSpec.TextColumns) {
		t.Fatalf("after the restart: %+v", s)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{{"omega", []string{"1"}}, {"heading", nil}} {
		res, err := m.Search(ctx, matrix.SearchRequest{Query: tc.query, Datasets: []string{"docs"}, Mode: matrix.ModeKeyword})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res.Results); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("keyword search %q over text_columns %v: %v, want %v", tc.query, s.TextColumns, got, tc.want)
		}
	}
}

// hookVersions is a catalogd client that runs before (once) ahead of the
// next VersionsPage (an append refresh's check of the versions since the
// indexed one, made after the job's plan), and beforeGet (once) ahead of
// the next Get (a job's first call).
type hookVersions struct {
	catalog.Service
	mu        sync.Mutex
	before    func() error
	beforeGet func()
	t         *testing.T
}

func (h *hookVersions) arm(f func() error) { h.mu.Lock(); h.before = f; h.mu.Unlock() }

func (h *hookVersions) armGet(f func()) { h.mu.Lock(); h.beforeGet = f; h.mu.Unlock() }

func (h *hookVersions) Get(ctx context.Context, name string, version int64) (catalog.Dataset, error) {
	h.mu.Lock()
	f := h.beforeGet
	h.beforeGet = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Service.Get(ctx, name, version)
}

// VersionsPage runs the armed hook before the first versions listing a
// job makes; the one-version newest-first page (the latest version, asked
// by searches, row store reads and, since ADR-147, the status) passes.
func (h *hookVersions) VersionsPage(ctx context.Context, name string, q catalog.VersionsQuery) (catalog.VersionsResponse, error) {
	if q.Desc && q.Limit == 1 {
		return h.Service.VersionsPage(ctx, name, q)
	}
	h.mu.Lock()
	f := h.before
	h.before = nil
	h.mu.Unlock()
	if f != nil {
		if err := f(); err != nil {
			h.t.Errorf("before the versions page: %v", err)
		}
	}
	return h.Service.VersionsPage(ctx, name, q)
}

// TestHeldRebuildDuringJob (ADR-104 over ADR-103): the POST that finds
// vectord holding matrix.<dataset> lands while a refresh that touches no
// vector (a compaction) runs. That job used to clear the full-rebuild mark
// the POST set; the queued run then skipped the held check (the drop mark
// was set) and said ready at the same version: vector searches stayed a
// 502 and the POST's rebuild never happened. Now the queued run drops the
// held index and rebuilds it.
//
// The running job, planned as an append before the POST, then failed on
// vectord's answer for the held index and said failed (vectord's message)
// until the queued run began: a client waiting for ready or failed took
// that as the POST's outcome (seen when the machine was loaded). A job
// that fails while a run is queued after it ends pending: the queued run
// answers the POST. The queued run's first catalog read is held until the
// status between the two runs has been read.
func TestHeldRebuildDuringJob(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	cat := &hookVersions{Service: catalog.NewClient(gw), t: t}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: cat, Query: query.NewClient(gw), Embed: embed.NewClient(gw), Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: t.TempDir(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })

	st.ingest(t, "docs", "replace", compactRows(0, 20, ""))
	st.ingest(t, "docs", "append", compactRows(20, 5, ""))
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	refreshTo(t, m, spec, 2)
	if cr, err := ingest.NewClient(gw).Compact(ctx, ingest.CompactParams{Name: "docs"}); err != nil || cr.Version != 3 {
		t.Fatalf("compact: %+v %v", cr, err)
	}
	posted := make(chan error, 1)
	queued, release := make(chan struct{}), make(chan struct{})
	cat.arm(func() error {
		st.holdVectorIndex(t, matrix.VectorIndex("docs"))
		_, err := m.Index(ctx, spec)
		// The next catalog read is the queued run's first (PollInterval
		// < 0: no poll; Status reads only the latest version's page).
		cat.armGet(func() { close(queued); <-release })
		posted <- err
		return err
	})
	if _, err := m.Index(ctx, spec); err != nil { // the refresh to the compaction
		t.Fatal(err)
	}
	select {
	case <-posted:
	case <-time.After(time.Minute):
		t.Fatal("the refresh never listed the versions")
	}
	select {
	case <-queued:
	case <-time.After(time.Minute):
		close(release)
		t.Fatal("the run the POST queued never started")
	}
	between, err := m.Status(ctx, "docs")
	close(release)
	if err != nil || between.State != matrix.StatePending || between.Error != "" {
		t.Fatalf("between the job the POST came during and the run it queued: %+v %v", between, err)
	}
	s := waitStatus(t, m, "docs", 2*time.Minute, func(s matrix.IndexStatus) bool {
		return s.State == matrix.StateReady || s.State == matrix.StateFailed
	})
	if s.State != matrix.StateReady || s.Version != 3 || s.Refresh != "full" || s.VectorError != nil || s.Docs != 25 {
		t.Fatalf("after the POST over the held index: %+v", s)
	}
	res, err := m.Search(ctx, matrix.SearchRequest{Query: "warehouse row", Datasets: []string{"docs"}, Mode: matrix.ModeVector, K: 3})
	if err != nil || len(res.Results) != 3 {
		t.Fatalf("vector search after the rebuild: %+v %v", res, err)
	}
}
