package matrix_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// restartable opens Matrixes on one directory over the stack, through emb.
type restartable struct {
	t   *testing.T
	dir string
	gw  *shared.Client
	emb embed.Service
}

func (r restartable) open() *matrix.Matrix {
	r.t.Helper()
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(r.gw), Query: query.NewClient(r.gw), Embed: r.emb, Vectors: vector.NewClient(r.gw),
	}, matrix.Options{Dir: r.dir, PollInterval: 50 * time.Millisecond, RetryAfter: 200 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func waitStatus(t *testing.T, m *matrix.Matrix, name string, within time.Duration, want func(matrix.IndexStatus) bool) matrix.IndexStatus {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		s, err := m.Status(context.Background(), name)
		if err == nil && want(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v %v", name, s, err)
		}
	}
}

// TestOutageRetryResumedAfterRestart: an index job that failed on an
// outage is retried by the poll (TestFailedOnOutageRetried), but the
// schedule lived in memory only: after a matrixd restart the index stayed
// failed until someone POSTed it again. The schedule is in state.json now
// and the restarted matrixd runs the job once the outage is over. A job
// that failed on the index's own fault is still not retried.
func TestOutageRetryResumedAfterRestart(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &flakyEmbed{Service: embed.NewClient(gw)}
	r := restartable{t: t, dir: t.TempDir(), gw: gw, emb: emb}
	ctx := context.Background()
	failed := func(s matrix.IndexStatus) bool { return s.State == matrix.StateFailed }

	m := r.open()
	bad := errs.E("embed.Embed", errs.Invalid, "refused (test)")
	emb.fail.Store(&bad)
	st.ingest(t, "badreq", "replace", compactRows(0, 5, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "badreq", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "badreq", time.Minute, failed)
	down := errs.E("embed.Embed", errs.Unavailable, "embedd down (test)")
	emb.fail.Store(&down)
	st.ingest(t, "outage", "replace", compactRows(0, 20, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "outage", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "outage", time.Minute, failed)
	time.Sleep(300 * time.Millisecond) // a retry fails too
	waitStatus(t, m, "outage", time.Minute, failed)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}

	emb.fail.Store(nil) // the outage ends while matrixd is down
	m = r.open()
	if s := waitStatus(t, m, "outage", 30*time.Second, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady }); s.Docs != 20 {
		t.Fatalf("after the restart: %+v", s)
	}
	time.Sleep(time.Second)
	if s, _ := m.Status(ctx, "badreq"); s.State != matrix.StateFailed {
		t.Fatalf("a job failed on the index's own fault was retried after the restart: %+v", s)
	}
}

// TestUnreadableKeywordFileRebuilt: a keyword.lhkw that does not load (a
// damaged disk, a file copied in from elsewhere) next to a good state.json
// dropped the index from matrixd at start: absent from the list, a search
// of it a 404, its spec forgotten. The spec is known, so the restarted
// matrixd builds the index again from the dataset.
func TestUnreadableKeywordFileRebuilt(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	r := restartable{t: t, dir: t.TempDir(), gw: gw, emb: embed.NewClient(gw)}
	ctx := context.Background()
	ready := func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady }

	m := r.open()
	st.ingest(t, "kwgone", "replace", compactRows(0, 30, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "kwgone", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	want := waitStatus(t, m, "kwgone", time.Minute, ready)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	kw := filepath.Join(r.dir, "kwgone", "keyword.lhkw")
	b, err := os.ReadFile(kw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kw, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	m = r.open()
	if s := waitStatus(t, m, "kwgone", time.Minute, ready); s.Docs != want.Docs || s.Version != want.Version {
		t.Fatalf("rebuilt: %+v, want %d docs of version %d", s, want.Docs, want.Version)
	}
	res, err := m.Search(ctx, matrix.SearchRequest{Query: "row", Datasets: []string{"kwgone"}, Mode: matrix.ModeKeyword, K: 5})
	if err != nil || len(res.Results) == 0 {
		t.Fatalf("search after the rebuild: %+v %v", res, err)
	}
}

// TestUnreadableStateReported: a state.json that does not parse dropped
// the index at start (a search of it was a 404 "has no search index", the
// list did not show it: silently lost). It is listed as failed now, its
// error saying what to do, and a search of it says so.
func TestUnreadableStateReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "torn"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "torn", "state.json"), []byte(`{"spec":{"dataset":"torn","id_col`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil { // no state.json: ignored
		t.Fatal(err)
	}
	m, err := matrix.NewMatrix(matrix.Deps{}, matrix.Options{Dir: dir, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	list, _ := m.List(ctx)
	if len(list) != 1 || list[0].Dataset != "torn" || list[0].State != matrix.StateFailed ||
		!strings.Contains(list[0].Error, "could not be read") || !strings.Contains(list[0].Error, matrix.IndexesPath) {
		t.Fatalf("list: %+v", list)
	}
	_, err = m.Search(ctx, matrix.SearchRequest{Query: "x", Datasets: []string{"torn"}, Mode: matrix.ModeKeyword, K: 5})
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("search of the unreadable index: %v", err)
	}
}

// heldEmbed blocks every call while hold is set, closing entered once.
type heldEmbed struct {
	embed.Service
	hold    atomic.Bool
	entered chan struct{}
	once    sync.Once
}

func (h *heldEmbed) Embed(ctx context.Context, req embed.EmbedRequest) (embed.EmbedResponse, error) {
	if h.hold.Load() {
		h.once.Do(func() { close(h.entered) })
		<-ctx.Done()
		return embed.EmbedResponse{}, ctx.Err()
	}
	return h.Service.Embed(ctx, req)
}

// TestRestartMidIndex (audit, thirteenth session): matrixd stopped while a
// job embeds (the state on disk says building, as after a kill -9) resumes
// the job at the next start and the index becomes ready with every row.
func TestRestartMidIndex(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &heldEmbed{Service: embed.NewClient(gw), entered: make(chan struct{})}
	emb.hold.Store(true)
	r := restartable{t: t, dir: t.TempDir(), gw: gw, emb: emb}
	ctx := context.Background()

	m := r.open()
	st.ingest(t, "mid", "replace", compactRows(0, 40, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "mid", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-emb.entered:
	case <-time.After(time.Minute):
		t.Fatal("the job never embedded")
	}
	if s, _ := m.Status(ctx, "mid"); s.State != matrix.StateBuilding {
		t.Fatalf("while embedding: %+v", s)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	emb.hold.Store(false)
	m = r.open()
	if s := waitStatus(t, m, "mid", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady }); s.Docs != 40 || s.Version != 1 {
		t.Fatalf("after the restart: %+v", s)
	}
}
