package matrix_test

import (
	"context"
	"fmt"
	"slices"
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

// gateEmbed holds every embed call one of whose texts contains word until
// open is closed (or the call's context ends), closing held once.
type gateEmbed struct {
	embed.Service
	word string
	held chan struct{}
	open chan struct{}
	once sync.Once
}

func (g *gateEmbed) Embed(ctx context.Context, req embed.EmbedRequest) (embed.EmbedResponse, error) {
	if in, _ := req.Input.([]string); slices.ContainsFunc(in, func(s string) bool { return strings.Contains(s, g.word) }) {
		g.once.Do(func() { close(g.held) })
		select {
		case <-g.open:
		case <-ctx.Done():
			return embed.EmbedResponse{}, ctx.Err()
		}
	}
	return g.Service.Embed(ctx, req)
}

// TestDropDuringJob (ADR-106): DELETE /v1/matrix/indexes/{dataset} while
// the index's build runs, then POST it again with other text_columns. The
// dropped build went on: it upserted its vectors into the new build's
// vectord index, wrote its keyword file and its state.json (the old spec,
// "building") into the new index's directory, so after a restart matrixd
// rebuilt the old spec and the POST was lost. Drop now stops the job and
// waits for it before removing anything.
func TestDropDuringJob(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	dir := t.TempDir()
	emb := &gateEmbed{Service: embed.NewClient(gw), word: "heading", held: make(chan struct{}), open: make(chan struct{})}
	open := func() *matrix.Matrix {
		m, err := matrix.NewMatrix(matrix.Deps{
			Catalog: catalog.NewClient(gw), Query: query.NewClient(gw), Embed: emb, Vectors: vector.NewClient(gw),
		}, matrix.Options{Dir: dir, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(context.Background()) })
		return m
	}
	m := open()
	st.ingest(t, "docs", "replace", "id,title,body\n1,alpha heading,omega text\n2,beta heading,sigma text\n")
	if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"title"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-emb.held:
	case <-time.After(time.Minute):
		t.Fatal("the build never embedded")
	}
	if err := m.Drop(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	newSpec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"body"}}
	if _, err := m.Index(ctx, newSpec); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	close(emb.open) // the dropped build, if it still runs, goes on now
	time.Sleep(500 * time.Millisecond)

	check := func(when string) {
		s, err := m.Status(ctx, "docs")
		if err != nil || s.State != matrix.StateReady || !slices.Equal(s.TextColumns, newSpec.TextColumns) || s.Docs != 2 {
			t.Fatalf("%s: %+v %v", when, s, err)
		}
		for _, tc := range []struct {
			query, mode string
			want        []string
		}{
			{"omega", matrix.ModeKeyword, []string{"1"}},
			{"heading", matrix.ModeKeyword, nil},
			{"sigma text", matrix.ModeVector, []string{"2", "1"}},
		} {
			res, err := m.Search(ctx, matrix.SearchRequest{Query: tc.query, Datasets: []string{"docs"}, Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Results); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("%s: %s search %q over text_columns %v: %v, want %v", when, tc.mode, tc.query, s.TextColumns, got, tc.want)
			}
		}
	}
	check("after the dropped build's release")
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m = open()
	time.Sleep(500 * time.Millisecond) // a resumed job, if any, has started
	waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	check("after a restart")
}

// slowDrop is a vectord client whose first DeleteIndex after arm waits
// for open (closing entered).
type slowDrop struct {
	vector.Service
	armed   chan struct{}
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (s *slowDrop) DeleteIndex(ctx context.Context, name string) error {
	select {
	case <-s.armed:
		first := false
		s.once.Do(func() { first = true })
		if first {
			close(s.entered)
			<-s.open
		}
	default:
	}
	return s.Service.DeleteIndex(ctx, name)
}

// ListAll keeps vector.Client's list visible through the wrapper
// (matrixd asks it for held indexes).
func (s *slowDrop) ListAll(ctx context.Context) (vector.ListResponse, error) {
	return s.Service.(*vector.Client).ListAll(ctx)
}

// TestPostDuringDrop (ADR-106): a POST /v1/matrix/indexes that came while
// a DELETE of the same index was removing it was built at once, and the
// DELETE then deleted the vectord index under the new build: the index
// said ready and every vector search was a 409 "deleted outside
// matrixd". The POST now waits for the DELETE to finish.
func TestPostDuringDrop(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	vc := &slowDrop{Service: vector.NewClient(gw), armed: make(chan struct{}), entered: make(chan struct{}), open: make(chan struct{})}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw), Query: query.NewClient(gw), Embed: embed.NewClient(gw), Vectors: vc,
	}, matrix.Options{Dir: t.TempDir(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	st.ingest(t, "docs", "replace", "id,title,body\n1,alpha heading,omega text\n2,beta heading,sigma text\n")
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"title"}}
	if _, err := m.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	close(vc.armed)
	dropped := make(chan error, 1)
	go func() { dropped <- m.Drop(ctx, "docs") }()
	select {
	case <-vc.entered:
	case <-time.After(time.Minute):
		t.Fatal("the DELETE never deleted the vector index")
	}
	posted := make(chan error, 1)
	go func() { _, err := m.Index(ctx, spec); posted <- err }()
	time.Sleep(time.Second) // the POST, and a build it started, go as far as they can
	close(vc.open)
	if err := <-dropped; err != nil {
		t.Fatal(err)
	}
	if err := <-posted; err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady || s.State == matrix.StateFailed })
	if s.State != matrix.StateReady || s.Docs != 2 {
		t.Fatalf("after the POST: %+v", s)
	}
	for _, mode := range []string{matrix.ModeVector, matrix.ModeHybrid} {
		res, err := m.Search(ctx, matrix.SearchRequest{Query: "alpha heading", Datasets: []string{"docs"}, Mode: mode})
		if err != nil || len(res.Results) != 2 {
			t.Fatalf("%s search after the POST: %+v %v", mode, res, err)
		}
	}
}

// TestSearchDuringDrop (ADR-106): a search that had found the index when
// a DELETE of it came read the dropped (nil) keyword index and panicked:
// a 500 "internal" (the harness recovers), where the index is simply gone.
// It is a 404 now for a dataset the search named, and the dataset is left
// out of a search of every index.
func TestSearchDuringDrop(t *testing.T) {
	st := startStack(t, stackConfig(t))
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	emb := &gateEmbed{Service: embed.NewClient(gw), word: "racing", held: make(chan struct{}), open: make(chan struct{})}
	vc := &keepIndex{Client: vector.NewClient(gw)}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw), Query: query.NewClient(gw), Embed: emb, Vectors: vc,
	}, matrix.Options{Dir: t.TempDir(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	st.ingest(t, "docs", "replace", "id,title\n1,alpha heading\n2,beta heading\n")
	st.ingest(t, "more", "replace", "id,title\n1,gamma heading\n")
	for _, d := range []string{"docs", "more"} {
		if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: d, IDColumn: "id", TextColumns: []string{"title"}}); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, m, d, time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
	}
	search := func(datasets []string, mode string) chan answer {
		out := make(chan answer, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					out <- answer{err: fmt.Errorf("panic: %v", v)}
				}
			}()
			res, err := m.Search(ctx, matrix.SearchRequest{Query: "racing heading", Datasets: datasets, Mode: mode})
			out <- answer{res, err}
		}()
		return out
	}
	// The searches are held where they embed the query. First the DELETE
	// removes vectord's index too (vectord's 404 read as "deleted outside
	// matrixd"); then it leaves it (as when vectord's DELETE failed after
	// matrixd's own state went: the keyword index was read nil).
	for _, keep := range []bool{false, true} {
		if keep {
			if _, err := m.Index(ctx, matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"title"}}); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, m, "docs", time.Minute, func(s matrix.IndexStatus) bool { return s.State == matrix.StateReady })
			emb.held, emb.open, emb.once = make(chan struct{}), make(chan struct{}), sync.Once{}
			vc.keep.Store(true)
		}
		var searches []chan answer
		var labels []string
		for _, mode := range []string{matrix.ModeHybrid, matrix.ModeVector} {
			searches = append(searches, search([]string{"docs"}, mode), search(nil, mode))
			labels = append(labels, fmt.Sprintf("keep %v: %s docs", keep, mode), fmt.Sprintf("keep %v: %s all", keep, mode))
		}
		select {
		case <-emb.held:
		case <-time.After(time.Minute):
			t.Fatal("the search never embedded")
		}
		time.Sleep(300 * time.Millisecond) // every search is held
		if err := m.Drop(ctx, "docs"); err != nil {
			t.Fatal(err)
		}
		close(emb.open)
		checkDropped(t, searches, labels)
	}
}

// keepIndex is a vectord client whose DeleteIndex, once keep is set,
// deletes nothing and answers 404.
type keepIndex struct {
	*vector.Client
	keep atomic.Bool
}

func (k *keepIndex) DeleteIndex(ctx context.Context, name string) error {
	if k.keep.Load() {
		return errs.Errorf("vector.DeleteIndex", errs.NotFound, "index %q not found (test)", name)
	}
	return k.Client.DeleteIndex(ctx, name)
}

type answer struct {
	res matrix.SearchResponse
	err error
}

func checkDropped(t *testing.T, searches []chan answer, labels []string) {
	t.Helper()
	for i, ch := range searches {
		a := <-ch
		if strings.HasSuffix(labels[i], "docs") {
			if !errs.Is(a.err, errs.NotFound) || !strings.Contains(a.err.Error(), "deleted during the search") {
				t.Errorf("%s: %+v %v", labels[i], a.res, a.err)
			}
			continue
		}
		if a.err != nil || len(a.res.Results) != 1 || a.res.Results[0].Dataset != "more" {
			t.Errorf("%s: %+v %v", labels[i], a.res, a.err)
		}
	}
}
