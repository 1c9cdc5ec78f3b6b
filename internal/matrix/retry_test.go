package matrix_test

import (
	"context"
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

// flakyEmbed fails every call with fail while it is set.
type flakyEmbed struct {
	embed.Service
	fail atomic.Pointer[error]
}

func (f *flakyEmbed) Embed(ctx context.Context, req embed.EmbedRequest) (embed.EmbedResponse, error) {
	if e := f.fail.Load(); e != nil {
		return embed.EmbedResponse{}, *e
	}
	return f.Service.Embed(ctx, req)
}

// An index job that failed on an outage (embedd down, vectord's disk
// full: Unavailable) is run again by the poll, backing off, and becomes
// ready once the outage ends — it stayed failed until someone POSTed the
// index again. A job that failed on the index's own fault (Invalid) is
// not retried.
func TestFailedOnOutageRetried(t *testing.T) {
	st := startStack(t, stackConfig(t))
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &flakyEmbed{Service: embed.NewClient(gw)}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw), Query: query.NewClient(gw), Embed: emb, Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: t.TempDir(), PollInterval: 50 * time.Millisecond, RetryAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	ctx := context.Background()
	wait := func(name string, want func(matrix.IndexStatus) bool) matrix.IndexStatus {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			s, err := m.Status(ctx, name)
			if err == nil && want(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v %v", name, s, err)
			}
		}
	}
	failed := func(s matrix.IndexStatus) bool { return s.State == matrix.StateFailed }
	ready := func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady }

	down := errs.E("embed.Embed", errs.Unavailable, "embedd down (test)")
	emb.fail.Store(&down)
	st.ingest(t, "outage", "replace", compactRows(0, 20, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "outage", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	wait("outage", failed)
	time.Sleep(500 * time.Millisecond) // retried in between, still down
	emb.fail.Store(nil)
	if s := wait("outage", ready); s.Docs != 20 {
		t.Fatalf("after the outage: %+v", s)
	}

	bad := errs.E("embed.Embed", errs.Invalid, "refused (test)")
	emb.fail.Store(&bad)
	st.ingest(t, "badreq", "replace", compactRows(0, 5, ""))
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "badreq", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	wait("badreq", failed)
	emb.fail.Store(nil)
	time.Sleep(time.Second)
	if s, _ := m.Status(ctx, "badreq"); s.State != matrix.StateFailed {
		t.Fatalf("a job failed on the index's own fault was retried: %+v", s)
	}
}
