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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
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
	search := func(q matrix.SearchRequest) string {
		t.Helper()
		res, err := st.mx.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(res.Results))
		for i, r := range res.Results {
			parts[i] = r.ID + "=" + mustJSON(r.Row)
		}
		return strings.Join(parts, " ")
	}
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
