package matrix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// embedCounter sits between the daemons and embedd and counts the texts
// sent to POST /v1/embed.
type embedCounter struct{ inputs atomic.Int64 }

// proxyEmbedd points cfg's embedd URL at a counting proxy in front of
// embedd's bind address.
func proxyEmbedd(t *testing.T, cfg *shared.Config) *embedCounter {
	t.Helper()
	target, err := url.Parse("http://" + cfg.Section("embedd").Bind)
	if err != nil {
		t.Fatal(err)
	}
	c := &embedCounter{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == embed.RouteEmbed {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			var req struct{ Input any }
			if json.Unmarshal(b, &req) == nil {
				switch in := req.Input.(type) {
				case string:
					c.inputs.Add(1)
				case []any:
					c.inputs.Add(int64(len(in)))
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Section("embedd").URL = srv.URL
	return c
}

// compactWords gives each row a word of its own (letters only, so the
// keyword index keeps it whole).
func compactWord(i int) string {
	return "zq" + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
}

func compactRows(from, n int, extra string) string {
	var b strings.Builder
	b.WriteString("id,txt,n\n")
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "d%d,%s warehouse row,%d\n", i, compactWord(i), i)
	}
	b.WriteString(extra)
	return b.String()
}

// TestCompactKeepsIndex: a compaction (ingestd, mode compact) is
// content-neutral for matrixd. Index 40 rows, append 10 more and a second
// copy of d5, compact the three files into one, append 5: the refresh
// reads and embeds only those 5 rows (no full rebuild), searches answer
// as before the compaction, the last copy of d5 is still the one shown,
// and the new rows are found with their rows hydrated.
func TestCompactKeepsIndex(t *testing.T) {
	cfg := stackConfig(t)
	counter := proxyEmbedd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}

	st.ingest(t, "docs", "replace", compactRows(0, 40, ""))
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	if s := st.waitReady(t, "docs", 1); s.Refresh != "full" || s.Docs != 40 {
		t.Fatalf("first build: %+v", s)
	}
	st.ingest(t, "docs", "append", compactRows(40, 10, "d5,zqlast copy of five,5\n"))
	if s := st.waitReady(t, "docs", 2); s.Refresh != "append" || s.Docs != 50 {
		t.Fatalf("append: %+v", s)
	}

	queries := []matrix.SearchRequest{
		{Query: compactWord(3), Datasets: []string{"docs"}, Mode: "keyword", K: 3},
		{Query: compactWord(45), Datasets: []string{"docs"}, Mode: "keyword", K: 3},
		{Query: "zqlast copy of five", Datasets: []string{"docs"}, Mode: "hybrid", K: 5},
		{Query: "warehouse", Datasets: []string{"docs"}, Mode: "hybrid", K: 60, Where: "n >= 30"},
	}
	search := func(q matrix.SearchRequest) string { t.Helper(); return searchLine(t, st, q) }
	before := make([]string, len(queries))
	for i, q := range queries {
		before[i] = search(q)
	}
	if !strings.HasPrefix(before[2], `d5={"id":"d5","n":5,"txt":"zqlast copy of five"}`) {
		t.Fatalf("the last copy of d5 before compaction: %s", before[2])
	}

	ic := ingest.NewClient(gw)
	cr, err := ic.Compact(ctx, ingest.CompactParams{Name: "docs"})
	if err != nil || !cr.Compacted || cr.Version != 3 || len(cr.Files) != 1 || cr.FilesBefore < 2 {
		t.Fatalf("compact: %+v %v", cr, err)
	}
	cat := catalog.NewClient(gw)
	if d, err := cat.Get(ctx, "docs", 3); err != nil || d.Mode != catalog.ModeCompact || d.RowCount != 51 {
		t.Fatalf("compacted version: %+v %v", d, err)
	}
	// The compacted version alone: the index moves to it reading nothing,
	// and every search answers as before.
	counter.inputs.Store(0)
	if s := st.waitReady(t, "docs", 3); s.Refresh != "append" || s.RowsTotal != 0 || s.Docs != 50 {
		t.Fatalf("refresh to the compacted version: %+v", s)
	}
	if n := counter.inputs.Load(); n != 0 {
		t.Fatalf("embedd got %d texts for a compaction, want 0", n)
	}
	for i, q := range queries {
		if got := search(q); got != before[i] {
			t.Errorf("%+v after compaction:\n got %s\nwant %s", q, got, before[i])
		}
	}

	// An append after it: only its rows are embedded.
	counter.inputs.Store(0)
	st.ingest(t, "docs", "append", compactRows(50, 5, ""))
	s := st.waitReady(t, "docs", 4)
	if n := counter.inputs.Load(); n != 5 {
		t.Fatalf("embedd got %d texts after the compaction and an append of 5 rows, want 5 (no rebuild); status %+v", n, s)
	}
	if s.Refresh != "append" || s.RowsTotal != 5 || s.Docs != 55 {
		t.Fatalf("refresh after compaction: %+v", s)
	}
	for i, q := range queries[:3] {
		if got := search(q); got != before[i] {
			t.Errorf("%+v after compaction and append:\n got %s\nwant %s", q, got, before[i])
		}
	}
	for i := 50; i < 55; i++ {
		id := fmt.Sprintf("d%d", i)
		want := fmt.Sprintf(`%s={"id":"%s","n":%d,"txt":"%s warehouse row"}`, id, id, i, compactWord(i))
		if got := search(matrix.SearchRequest{Query: compactWord(i), Datasets: []string{"docs"}, Mode: "keyword", K: 1}); got != want {
			t.Errorf("new row %s: %s, want %s", id, got, want)
		}
		if got := search(matrix.SearchRequest{Query: compactWord(i), Datasets: []string{"docs"}, Mode: "vector", K: 60}); !strings.Contains(got, want) {
			t.Errorf("new row %s not in the vector index: %s", id, got)
		}
	}
	// A second compaction and a matrixd restart keep the index too; then
	// an append and a compaction land before the refresh sees either.
	counter.inputs.Store(0)
	if cr, err := ic.Compact(ctx, ingest.CompactParams{Name: "docs"}); err != nil || !cr.Compacted || cr.Version != 5 {
		t.Fatalf("second compact: %+v %v", cr, err)
	}
	if s := st.waitReady(t, "docs", 5); s.RowsTotal != 0 || s.Docs != 55 {
		t.Fatalf("after the second compaction: %+v", s)
	}
	st.restartMatrixd(t)
	st.ingest(t, "docs", "append", compactRows(55, 1, ""))
	if cr, err := ic.Compact(ctx, ingest.CompactParams{Name: "docs"}); err != nil || !cr.Compacted || cr.Version != 7 {
		t.Fatalf("third compact: %+v %v", cr, err)
	}
	if s := st.waitReady(t, "docs", 7); s.Refresh != "append" || s.Docs != 56 {
		t.Fatalf("after a restart, an append and a compaction: %+v", s)
	}
	if n := counter.inputs.Load(); n != 1 {
		t.Fatalf("embedd got %d texts, want 1", n)
	}
	if got := search(queries[2]); got != before[2] {
		t.Errorf("d5 after three compactions: %s, want %s", got, before[2])
	}
	// A replace after a compaction still rebuilds.
	st.ingest(t, "docs", "replace", compactRows(100, 3, ""))
	if s := st.waitReady(t, "docs", 8); s.Refresh != "full" || s.Docs != 3 {
		t.Fatalf("replace after compactions: %+v", s)
	}
}

// commitHook points cfg's catalogd URL at a proxy that runs the armed
// function before forwarding a compact commit (mode compact), so that
// other writers' commits land between a compaction's read and its commit.
type commitHook struct {
	mu     sync.Mutex
	before func() error
}

func (h *commitHook) arm(f func() error) { h.mu.Lock(); h.before = f; h.mu.Unlock() }

func proxyCatalogd(t *testing.T, cfg *shared.Config) *commitHook {
	t.Helper()
	target, err := url.Parse("http://" + cfg.Section("catalogd").Bind)
	if err != nil {
		t.Fatal(err)
	}
	h := &commitHook{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/commit") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			var req catalog.CommitRequest
			if json.Unmarshal(b, &req) == nil && req.Mode == catalog.ModeCompact {
				h.mu.Lock()
				f := h.before
				h.before = nil
				h.mu.Unlock()
				if f != nil {
					if err := f(); err != nil {
						t.Errorf("before the compact commit: %v", err)
					}
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Section("catalogd").URL = srv.URL
	return h
}

// TestCompactOverAppendsKeepsIndex: compactions whose commits land after
// appends (catalogd lays the compacted files over the appends, ADR-013
// "Compact commits") keep matrixd's index: whether the index was at the
// compacted version, before it, or at an append after it, the refresh
// embeds only the appended rows (the OFFSET tail read), never the
// compacted ones again, and searches return the right rows.
func TestCompactOverAppendsKeepsIndex(t *testing.T) {
	cfg := stackConfig(t)
	counter := proxyEmbedd(t, cfg)
	hook := proxyCatalogd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	ic := ingest.NewClient(gw)
	cat := catalog.NewClient(gw)
	appendRows := func(from, n int) func() error {
		return func() error {
			resp, err := http.Post(st.gateway+"/v1/ingest?format=csv&name=docs&mode=append", "text/csv", strings.NewReader(compactRows(from, n, "")))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				return fmt.Errorf("append: %d %s", resp.StatusCode, b)
			}
			return nil
		}
	}
	search := func(q matrix.SearchRequest) string { t.Helper(); return searchLine(t, st, q) }
	checkRows := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			id := fmt.Sprintf("d%d", i)
			want := fmt.Sprintf(`%s={"id":"%s","n":%d,"txt":"%s warehouse row"}`, id, id, i, compactWord(i))
			if got := search(matrix.SearchRequest{Query: compactWord(i), Datasets: []string{"docs"}, Mode: "keyword", K: 1}); got != want {
				t.Errorf("row %s: %s, want %s", id, got, want)
			}
		}
	}
	compact := func(base, version int64, appended int) {
		t.Helper()
		cr, err := ic.Compact(ctx, ingest.CompactParams{Name: "docs"})
		if err != nil || !cr.Compacted || cr.BaseVersion != base || cr.Version != version || cr.AppendedFiles != appended || cr.CommitBaseVersion != version-1 {
			t.Fatalf("compact: %+v %v, want version %d on %d carrying %d appended files", cr, err, version, base, appended)
		}
		if d, err := cat.Get(ctx, "docs", version); err != nil || d.Mode != catalog.ModeCompact || d.BaseVersion != base {
			t.Fatalf("compacted version: %+v %v", d, err)
		}
		if prev, err := cat.Get(ctx, "docs", version-1); err != nil || prev.RowCount != cr.Rows {
			t.Fatalf("version %d: %+v %v; compaction rows %d", version-1, prev, err, cr.Rows)
		}
	}

	st.ingest(t, "docs", "replace", compactRows(0, 40, ""))
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	if s := st.waitReady(t, "docs", 1); s.Refresh != "full" || s.Docs != 40 {
		t.Fatalf("first build: %+v", s)
	}
	st.ingest(t, "docs", "append", compactRows(40, 10, ""))
	st.waitReady(t, "docs", 2)
	before := search(matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: "hybrid", K: 20, Where: "n >= 30 AND n < 50"})

	// 1. Indexed at 2; the compaction of 2 commits after two appends
	// (3, 4): version 5 = the compacted files, then 3's and 4's.
	counter.inputs.Store(0)
	hook.arm(func() error {
		if err := appendRows(50, 3)(); err != nil {
			return err
		}
		return appendRows(53, 2)()
	})
	compact(2, 5, 2)
	if s := st.waitReady(t, "docs", 5); s.Refresh != "append" || s.Docs != 55 {
		t.Fatalf("after a compaction over two appends: %+v", s)
	}
	// The 5 appended texts, each once whichever versions the jobs
	// target (a job reads only its target's rows:
	// TestAppendReadStopsAtTarget). A rebuild embeds all 55.
	if n := counter.inputs.Load(); n != 5 {
		t.Fatalf("embedd got %d texts, want the 5 appended (no rebuild)", n)
	}
	checkRows(0, 55)

	// 2. Indexed at 5; an append (6) lands before the compaction of 5
	// commits (7).
	counter.inputs.Store(0)
	hook.arm(appendRows(55, 1))
	compact(5, 7, 1)
	if s := st.waitReady(t, "docs", 7); s.Refresh != "append" || s.Docs != 56 {
		t.Fatalf("after the second compaction: %+v", s)
	}
	// 3. The index reaches the append (9) before the compaction of 8
	// commits over it (10).
	st.ingest(t, "docs", "append", compactRows(56, 1, ""))
	st.waitReady(t, "docs", 8)
	hook.arm(func() error {
		if err := appendRows(57, 2)(); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			s, err := st.mx.Status(ctx, "docs")
			if err != nil {
				return err
			}
			if s.State == matrix.StateReady && s.Version == 9 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("index not ready at 9: %+v", s)
			}
		}
	})
	compact(8, 10, 1)
	if s := st.waitReady(t, "docs", 10); s.Refresh != "append" || s.RowsTotal != 0 || s.Docs != 59 {
		t.Fatalf("after a compaction over the indexed append: %+v", s)
	}
	if n := counter.inputs.Load(); n != 4 { // as above; a rebuild embeds 59
		t.Fatalf("embedd got %d texts, want the 4 appended (no rebuild)", n)
	}
	checkRows(0, 59)
	if got := search(matrix.SearchRequest{Query: "warehouse", Datasets: []string{"docs"}, Mode: "hybrid", K: 20, Where: "n >= 30 AND n < 50"}); got != before {
		t.Errorf("old rows after the compactions:\n got %s\nwant %s", got, before)
	}
	// An append after them: only its row.
	counter.inputs.Store(0)
	st.ingest(t, "docs", "append", compactRows(59, 1, ""))
	if s := st.waitReady(t, "docs", 11); s.Refresh != "append" || s.RowsTotal != 1 || s.Docs != 60 || counter.inputs.Load() != 1 {
		t.Fatalf("append after: %+v, %d texts", s, counter.inputs.Load())
	}
	checkRows(56, 60)
}

// searchLine is a search's answer as one comparable line: each result's
// id and hydrated row, in order.
func searchLine(t *testing.T, st *stack, q matrix.SearchRequest) string {
	t.Helper()
	res, err := st.mx.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	parts := make([]string, len(res.Results))
	for i, r := range res.Results {
		parts[i] = r.ID + "=" + mustJSON(r.Row)
	}
	return strings.Join(parts, " ")
}

// hookQuery is a queryd client that runs before (once) ahead of the first
// query whose SQL contains match.
type hookQuery struct {
	query.Service
	mu     sync.Mutex
	match  string
	before func() error
	t      *testing.T
}

func (h *hookQuery) arm(match string, f func() error) {
	h.mu.Lock()
	h.match, h.before = match, f
	h.mu.Unlock()
}

func (h *hookQuery) Query(ctx context.Context, req query.Request) (*query.Result, error) {
	h.mu.Lock()
	var f func() error
	if h.before != nil && strings.Contains(req.SQL, h.match) {
		f, h.before = h.before, nil
	}
	h.mu.Unlock()
	if f != nil {
		if err := f(); err != nil {
			h.t.Errorf("before the query: %v", err)
		}
	}
	return h.Service.Query(ctx, req)
}

// countEmbed is an embedd client that counts the texts it embeds.
type countEmbed struct {
	embed.Service
	inputs atomic.Int64
}

func (c *countEmbed) Embed(ctx context.Context, req embed.EmbedRequest) (embed.EmbedResponse, error) {
	switch in := req.Input.(type) {
	case string:
		c.inputs.Add(1)
	case []string:
		c.inputs.Add(int64(len(in)))
	}
	return c.Service.Embed(ctx, req)
}

// TestAppendReadStopsAtTarget: an append refresh reads only the rows of
// the version it targets, even when queryd already serves a newer one.
// The refresh to version 2 (3 appended rows) reads its rows after an
// append of 2 more rows (3) and a compaction (4) have landed; queryd's
// view then holds 5 rows after the indexed 40, and the refresh to 4 starts
// at version 2's 43 rows. Before the fix the first refresh read all 5 and
// the second the last 2 again: 7 texts embedded for 5 appended rows (the
// count a CI run saw in TestCompactOverAppendsKeepsIndex). Every appended
// row is embedded once, and every row is found.
func TestAppendReadStopsAtTarget(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	q := &hookQuery{Service: query.NewClient(gw), t: t}
	emb := &countEmbed{Service: embed.NewClient(gw)}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw),
		Query:   q,
		Embed:   emb,
		Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: t.TempDir(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	refresh := func(version int64) matrix.IndexStatus {
		t.Helper()
		return refreshTo(t, m, spec, version)
	}

	st.ingest(t, "docs", "replace", compactRows(0, 40, ""))
	if s := refresh(1); s.Refresh != "full" || s.Docs != 40 {
		t.Fatalf("first build: %+v", s)
	}
	st.ingest(t, "docs", "append", compactRows(40, 3, ""))
	emb.inputs.Store(0)
	ic := ingest.NewClient(gw)
	q.arm(" OFFSET ", func() error {
		resp, err := http.Post(st.gateway+"/v1/ingest?format=csv&name=docs&mode=append", "text/csv", strings.NewReader(compactRows(43, 2, "")))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("append: %d", resp.StatusCode)
		}
		cr, err := ic.Compact(ctx, ingest.CompactParams{Name: "docs"})
		if err != nil || !cr.Compacted || cr.Version != 4 {
			return fmt.Errorf("compact: %+v %v", cr, err)
		}
		return nil
	})
	if s := refresh(2); s.Refresh != "append" || s.RowsTotal != 3 || s.Docs != 43 {
		t.Fatalf("refresh to the append: %+v", s)
	}
	if n := emb.inputs.Load(); n != 3 {
		t.Errorf("refresh to version 2 embedded %d texts, want its 3 appended rows", n)
	}
	if s := refresh(4); s.Refresh != "append" || s.RowsTotal != 2 || s.Docs != 45 {
		t.Fatalf("refresh to the compaction: %+v", s)
	}
	if n := emb.inputs.Load(); n != 5 {
		t.Fatalf("embedd got %d texts for 5 appended rows, want 5", n)
	}
	for i := 0; i < 45; i++ {
		id := fmt.Sprintf("d%d", i)
		for _, mode := range []string{matrix.ModeKeyword, matrix.ModeVector} {
			res, err := m.Search(ctx, matrix.SearchRequest{Query: compactWord(i) + " warehouse row", Datasets: []string{"docs"}, Mode: mode, K: 45})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ids(res.Results), id) || (mode == matrix.ModeKeyword && res.Results[0].ID != id) {
				t.Errorf("%s search for %s: %v", mode, id, ids(res.Results))
			}
		}
	}
}

// TestAppendDuringFullBuildEmbedsOnce: a full build reads keyset pages of
// queryd's latest version, so rows appended while it runs are read and
// embedded by it although it indexes the version before them; the
// refresh to the append then reads those rows again (its tail starts at
// the built version's row count) and finds each indexed with the same
// text: none is embedded a second time. Before, the 5 rows were embedded
// twice (50 texts for 45 rows).
func TestAppendDuringFullBuildEmbedsOnce(t *testing.T) {
	cfg := stackConfig(t)
	st := startStack(t, cfg)
	ctx := context.Background()
	gw := &shared.Client{Service: "gateway", Base: st.gateway, HTTP: shared.NewHTTPClient(time.Minute)}
	q := &hookQuery{Service: query.NewClient(gw), t: t}
	emb := &countEmbed{Service: embed.NewClient(gw)}
	m, err := matrix.NewMatrix(matrix.Deps{
		Catalog: catalog.NewClient(gw),
		Query:   q,
		Embed:   emb,
		Vectors: vector.NewClient(gw),
	}, matrix.Options{Dir: t.TempDir(), PollInterval: -1, BatchRows: 8, PageRows: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	spec := matrix.IndexRequest{Dataset: "docs", IDColumn: "id", TextColumns: []string{"txt"}}
	refresh := func(version int64) matrix.IndexStatus {
		t.Helper()
		return refreshTo(t, m, spec, version)
	}

	st.ingest(t, "docs", "replace", compactRows(0, 40, ""))
	q.arm(" ORDER BY ", func() error { // the full build's first page
		resp, err := http.Post(st.gateway+"/v1/ingest?format=csv&name=docs&mode=append", "text/csv", strings.NewReader(compactRows(40, 5, "")))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("append: %d", resp.StatusCode)
		}
		return nil
	})
	if s := refresh(1); s.Refresh != "full" {
		t.Fatalf("first build: %+v", s)
	}
	if s := refresh(2); s.Refresh != "append" || s.RowsTotal != 5 || s.Docs != 45 {
		t.Fatalf("refresh to the append: %+v", s)
	}
	if n := emb.inputs.Load(); n != 45 {
		t.Fatalf("embedd got %d texts for 45 rows, want 45", n)
	}
	for i := 0; i < 45; i++ {
		id := fmt.Sprintf("d%d", i)
		for _, mode := range []string{matrix.ModeKeyword, matrix.ModeVector} {
			res, err := m.Search(ctx, matrix.SearchRequest{Query: compactWord(i) + " warehouse row", Datasets: []string{"docs"}, Mode: mode, K: 45})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ids(res.Results), id) || (mode == matrix.ModeKeyword && res.Results[0].ID != id) {
				t.Errorf("%s search for %s: %v", mode, id, ids(res.Results))
			}
		}
	}
}

// refreshTo asks m to index spec and waits until the index is ready at
// version.
func refreshTo(t *testing.T, m *matrix.Matrix, spec matrix.IndexRequest, version int64) matrix.IndexStatus {
	t.Helper()
	ctx := context.Background()
	if _, err := m.Index(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		s, err := m.Status(ctx, spec.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == matrix.StateFailed {
			t.Fatalf("index failed: %s", s.Error)
		}
		if s.State == matrix.StateReady && s.Version == version {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("index not ready at version %d: %+v", version, s)
		}
	}
}
