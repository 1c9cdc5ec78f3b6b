package queryd

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
)

// slowStore is a real local store whose object bodies (GET) send nothing
// until open is closed, as an object store that is slow to send a big
// file; a body read gives up when the GET's context ends, as an HTTP
// body does.
type slowStore struct {
	storage.Store
	open    chan struct{}
	getOnce sync.Once
	getting chan struct{} // closed at the first GET
}

func (s *slowStore) Get(ctx context.Context, key string, r storage.GetOptions) (io.ReadCloser, storage.ObjectInfo, error) {
	rc, info, err := s.Store.Get(ctx, key, r)
	if err != nil {
		return rc, info, err
	}
	s.getOnce.Do(func() { close(s.getting) })
	return &slowBody{ReadCloser: rc, ctx: ctx, open: s.open}, info, nil
}

type slowBody struct {
	io.ReadCloser
	ctx  context.Context
	open chan struct{}
}

func (b *slowBody) Read(p []byte) (int, error) {
	select {
	case <-b.open:
		return b.ReadCloser.Read(p)
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	}
}

// postHTTP posts a /v1/sql body over a real connection.
func postHTTP(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/sql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestQueuedBehindADownloadKeepsItsTimeout: a query of a dataset whose
// files another query is still fetching into the cache (S3 or storaged
// sending a big file slowly) waits its turn for the dataset within its own
// time limit: timeout_ms 500 is a 504 after about half a second. It
// waited on the dataset's lock with no regard for its context, until the
// first query's download ended (up to that query's limit, minutes with
// [queryd].timeout raised), holding a query slot all the while; a client
// that hung up left it waiting just as long.
func TestQueuedBehindADownloadKeepsItsTimeout(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(filepath.Join(dir, "objects"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "part.parquet")
	if _, err := db.Exec(`COPY (SELECT range AS id FROM range(1000)) TO '` + pq + `' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	body, err := os.ReadFile(pq)
	if err != nil {
		t.Fatal(err)
	}
	key := "datasets/slow/x/part-00000.parquet"
	if _, err := st.Put(ctx, key, strings.NewReader(string(body)), int64(len(body)), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, catalog.ManifestKey("slow", 1), strings.NewReader("{}"), 2, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	cat := &storeCatalog{st: st, ds: map[string]catalog.Dataset{"slow": {Name: "slow", Version: 1,
		Schema: []catalog.Column{{Name: "id", Type: "BIGINT"}},
		Files:  []catalog.File{{Key: key, Rows: 1000, Bytes: int64(len(body))}}, RowCount: 1000}}}

	slow := &slowStore{Store: st, open: make(chan struct{}), getting: make(chan struct{})}
	var openOnce sync.Once
	openBody := func() { openOnce.Do(func() { close(slow.open) }) }
	defer openBody()
	// No LocalDir: every file goes through the cache, as on S3.
	s, err := NewServer(ctx, Options{Catalog: cat, Store: slow,
		CacheDir: filepath.Join(dir, "cache"), TempDir: filepath.Join(dir, "tmp"),
		Threads: 1, MaxConcurrent: 3, MaxQueue: 2, MaxRows: 1000, Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := chi.NewRouter()
	s.Routes(&shared.Env{Log: slog.New(slog.DiscardHandler)})(r)
	srv := httptest.NewServer(r)
	defer srv.Close()

	// The first query fetches the file (slowly).
	type answer struct {
		status int
		body   string
	}
	first := make(chan answer, 1)
	go func() {
		st, b := postHTTP(t, srv.URL, `{"sql":"SELECT count(*) FROM slow"}`)
		first <- answer{st, b}
	}()
	select {
	case <-slow.getting:
	case <-time.After(30 * time.Second):
		t.Fatal("the first query never fetched the file")
	}

	// The second one, with half a second, waits behind it.
	second := make(chan answer, 1)
	start := time.Now()
	go func() {
		st, b := postHTTP(t, srv.URL, `{"sql":"SELECT count(*) FROM slow","timeout_ms":500}`)
		second <- answer{st, b}
	}()
	var a answer
	select {
	case a = <-second:
	case <-time.After(10 * time.Second):
		openBody() // let the first download end, then see what the second said
		a = <-second
		t.Errorf("a query with timeout_ms 500 queued behind another's download answered only after that download ended (%v): %d %s",
			time.Since(start).Round(time.Millisecond), a.status, a.body)
	}
	if a.status != http.StatusGatewayTimeout || !strings.Contains(a.body, "timed out") {
		t.Errorf("the queued query with timeout_ms 500: %d %s, want a 504 timeout", a.status, a.body)
	}

	// A client that hangs up while queued frees its slot at once: with the
	// first query and two abandoned ones, a fourth still runs (3 slots).
	for range 2 {
		cctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(cctx, http.MethodPost, srv.URL+"/v1/sql", strings.NewReader(`{"sql":"SELECT count(*) FROM slow"}`))
		req.Header.Set("Content-Type", "application/json")
		go func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
	}
	time.Sleep(300 * time.Millisecond)
	if status, b := postHTTP(t, srv.URL, `{"sql":"SELECT 42","timeout_ms":2000}`); status != http.StatusOK || !strings.Contains(b, "42") {
		t.Errorf("a query after two callers queued behind the download hung up: %d %s (their slots still held?)", status, b)
	}

	// A name that is no dataset leaves no lock behind either.
	if status, b := postHTTP(t, srv.URL, `{"sql":"SELECT * FROM no_such_dataset"}`); status != http.StatusNotFound {
		t.Errorf("a query of no dataset: %d %s", status, b)
	}

	// The first query ends as it would have.
	openBody()
	select {
	case a = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("the first query never ended")
	}
	if a.status != http.StatusOK || !strings.Contains(a.body, "1000") {
		t.Errorf("the first query: %d %s", a.status, a.body)
	}
	s.mu.Lock()
	n := len(s.locks)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d dataset locks kept after every query ended, want 0", n)
	}
}
