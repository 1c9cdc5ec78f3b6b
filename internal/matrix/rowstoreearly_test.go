package matrix_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// waitKept polls the index status until its row_store says the rows of
// version are kept (ADR-136), without a search; the status it saw.
func (st *stack) waitKept(t testing.TB, dataset string, version int64) matrix.IndexStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := st.mx.Status(context.Background(), dataset)
		if err != nil {
			t.Fatal(err)
		}
		if rs := s.RowStore; rs != nil && rs.State == matrix.RowStoreKept && rs.Version == version {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows of %s version %d not kept 30 s after it was served, with no search: status %s", dataset, version, mustJSON(s))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRowStoreReadWithoutSearch: the rows of a version are read as soon
// as its build ends, and after a restart as soon as matrixd starts — not
// at the version's first search, which (like every search until the read
// ended) hydrated through queryd — and the index status says so: state,
// version, ids kept and bytes (ADR-136).
func TestRowStoreReadWithoutSearch(t *testing.T) {
	cfg := stackConfig(t)
	cfg.Matrixd.BatchRows, cfg.Matrixd.PageRows = 2, 2
	qc := proxyQueryd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "early", "replace", rowStoreCSV)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "early", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "early", 1)
	s := st.waitKept(t, "early", 1)
	// rowStoreCSV: ids 1..7 (a NULL id is not kept).
	if rs := s.RowStore; rs.Rows != 7 || rs.Bytes <= 7*120 || rs.Reason != "" {
		t.Errorf("row_store %s; want 7 rows and their bytes", mustJSON(rs))
	}
	// The wire form, through the gateway.
	resp, err := http.Get(st.gateway + matrix.IndexesPath + "/early")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`"row_store":{"state":"kept","version":1,"rows":7,"bytes":%d}`, s.RowStore.Bytes); !strings.Contains(string(b), want) {
		t.Errorf("GET status: %s; want it to hold %s", b, want)
	}
	first := func(what string) {
		t.Helper()
		before := qc.n.Load()
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "astronaut", Mode: "keyword", K: 3, Datasets: []string{"early"}})
		if err != nil {
			t.Fatal(err)
		}
		if n := qc.n.Load() - before; n != 0 || !strings.Contains(mustJSON(res), `"Carla3"`) {
			t.Errorf("%s: the first search sent queryd %d statements (%s); want 0: the rows read before it", what, n, mustJSON(res))
		}
	}
	first("after the build")

	// The state file does not keep it: it says what this process holds.
	state, err := os.ReadFile(filepath.Join(cfg.DataPath(cfg.Matrixd.Dir, "matrixd"), "early", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(state, []byte("row_store")) {
		t.Errorf("state.json holds the row store's status: %s", state)
	}

	st.restartMatrixd(t)
	st.waitKept(t, "early", 1)
	first("after a restart")
}

// catalogBytes sits between the daemons and catalogd and counts the bytes
// of catalogd's answers.
type catalogBytes struct{ n atomic.Int64 }

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	return w.ResponseWriter.Write(b)
}

func countCatalogd(t *testing.T, cfg *shared.Config) *catalogBytes {
	t.Helper()
	target, err := url.Parse("http://" + cfg.Section("catalogd").Bind)
	if err != nil {
		t.Fatal(err)
	}
	c := &catalogBytes{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.ServeHTTP(countingWriter{w, &c.n}, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Section("catalogd").URL = srv.URL
	return c
}

// manyFiles appends copies of the dataset's one Parquet file until it
// has files files (one catalog commit; catalogd checks each footer).
func (st *stack) manyFiles(t testing.TB, name string, files int) {
	t.Helper()
	ctx := context.Background()
	hc := shared.NewHTTPClient(time.Minute)
	cat := catalog.NewClient(&shared.Client{Service: "catalogd", Base: st.servers["catalogd"].URL(), HTTP: hc})
	sc := storage.NewClient(&shared.Client{Service: "storaged", Base: st.servers["storaged"].URL(), HTTP: hc})
	d, err := cat.Get(ctx, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := d.Files[0]
	rc, _, err := sc.Get(ctx, f.Key, storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	req := catalog.CommitRequest{BaseVersion: d.Version, Mode: catalog.ModeAppend, Schema: d.Schema}
	for i := len(d.Files); i < files; i++ {
		key := fmt.Sprintf("datasets/%s/copy-%05d.parquet", name, i)
		if _, err := sc.Put(ctx, key, bytes.NewReader(body), int64(len(body)), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		req.Files = append(req.Files, catalog.File{Key: key, Rows: f.Rows, Bytes: f.Bytes})
	}
	if _, err := cat.Commit(ctx, name, req); err != nil {
		t.Fatal(err)
	}
}

// TestFreshnessCheckBytes: the catalog check of a search answered from
// kept rows reads one version's summary, not the dataset's manifest with
// every file's key (ADR-136: 320 KB at 5,000 files). With
// LH_MEASURE_FRESHNESS=1 it logs the catalog bytes and the search time
// per search at LH_FRESHNESS_FILES files (default 300).
func TestFreshnessCheckBytes(t *testing.T) {
	files := 300
	if v := os.Getenv("LH_FRESHNESS_FILES"); v != "" {
		var err error
		if files, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	cfg := stackConfig(t)
	cb := countCatalogd(t, cfg)
	qc := proxyQueryd(t, cfg)
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "mf", "replace", "id,txt\n1,forklift operator\n")
	st.manyFiles(t, "mf", files)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "mf", IDColumn: "id", TextColumns: []string{"txt"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "mf", 2)
	st.waitKept(t, "mf", 2)
	rounds := 50
	var perSearch []int64
	var took []time.Duration
	for range rounds {
		b0, q0 := cb.n.Load(), qc.n.Load()
		start := time.Now()
		res, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "forklift", Mode: "keyword", K: 1, Datasets: []string{"mf"}})
		took = append(took, time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Results) != 1 || qc.n.Load() != q0 {
			t.Fatalf("search: %s, %d statements to queryd; want id 1 from the kept rows", mustJSON(res), qc.n.Load()-q0)
		}
		perSearch = append(perSearch, cb.n.Load()-b0)
	}
	sort.Slice(perSearch, func(i, j int) bool { return perSearch[i] < perSearch[j] })
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	// The p50 leaves out the search-time version check (every 2 s), which
	// reads the same summary.
	p50 := perSearch[rounds/2]
	if os.Getenv("LH_MEASURE_FRESHNESS") != "" {
		t.Logf("%d files: catalog bytes per search p50 %d max %d; search p50 %v p90 %v", files, p50, perSearch[rounds-1], took[rounds/2], took[rounds*9/10])
	}
	if p50 > 2048 || perSearch[rounds-1] > 4096 {
		t.Errorf("%d files: catalogd answered %d bytes per search (p50; max %d); want one version's summary (< 2 KB), whatever the file count", files, p50, perSearch[rounds-1])
	}
}

// TestRowStoreReadRetried: a read of the rows that fails on an outage (the
// catalog's versions refused) is tried again by the next search — before,
// the read of a version was tried once, so an outage at the build's end
// or at start left every search of that version hydrating through queryd
// — and the status says why nothing is kept meanwhile (ADR-136).
func TestRowStoreReadRetried(t *testing.T) {
	cfg := stackConfig(t)
	target, err := url.Parse("http://" + cfg.Section("catalogd").Bind)
	if err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && strings.HasSuffix(r.URL.Path, "/versions") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"kind":"unavailable","message":"catalog storage is down (test)"}}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Section("catalogd").URL = srv.URL
	st := startStack(t, cfg)
	ctx := context.Background()
	st.ingest(t, "retry", "replace", rowStoreCSV)
	refuse.Store(true)
	if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: "retry", IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
		t.Fatal(err)
	}
	st.waitReady(t, "retry", 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := st.mx.Status(ctx, "retry")
		if err != nil {
			t.Fatal(err)
		}
		if rs := s.RowStore; rs != nil && rs.State == matrix.RowStoreNone && strings.Contains(rs.Reason, "catalog storage is down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status with the catalog's versions refused: %s; want row_store none, with the reason", mustJSON(s.RowStore))
		}
		time.Sleep(50 * time.Millisecond)
	}
	refuse.Store(false)
	if _, err := st.mx.Search(ctx, matrix.SearchRequest{Query: "welder", Mode: "keyword", K: 3, Datasets: []string{"retry"}}); err != nil {
		t.Fatal(err)
	}
	st.waitKept(t, "retry", 1)
}

// TestRowStoreReadsOneAtATime: after a restart every ready index starts
// reading its rows; the reads run one after another, not all at once
// against queryd (ADR-136).
func TestRowStoreReadsOneAtATime(t *testing.T) {
	cfg := stackConfig(t)
	target, err := url.Parse("http://" + cfg.Section("queryd").Bind)
	if err != nil {
		t.Fatal(err)
	}
	var inFlight, most atomic.Int64
	var slow atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		// loadStore's page: the row-numbered scan from a row number on.
		if slow.Load() && strings.Contains(string(b), `\"__matrix_rn\" \u003e `) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg.Section("queryd").URL = srv.URL
	st := startStack(t, cfg)
	ctx := context.Background()
	for _, ds := range []string{"one", "two", "three"} {
		st.ingest(t, ds, "replace", rowStoreCSV)
		if _, err := st.mx.Index(ctx, matrix.IndexRequest{Dataset: ds, IDColumn: "id", TextColumns: []string{"name", "role"}}); err != nil {
			t.Fatal(err)
		}
		st.waitReady(t, ds, 1)
		st.waitKept(t, ds, 1)
	}
	slow.Store(true)
	st.restartMatrixd(t)
	for _, ds := range []string{"one", "two", "three"} {
		st.waitKept(t, ds, 1)
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d row store reads ran at once after the restart; want 1", m)
	}
}
