// Package queryd builds the queryd daemon (:3214): POST /v1/sql over a
// locked-down DuckDB (query/engine) in which every catalog dataset is a
// view by its name at its latest version. cmd/queryd calls New through
// shared.Run; tests call NewServer with their own catalog and store.
//
// Views are kept in step with the catalog per query (ADR-022): the table
// names a statement mentions are extracted with DuckDB's parser, and for
// each known view queryd checks that the manifest of the next version does
// not exist (manifests are create-only objects _catalog/{name}/{v}.json, so
// this one existence check is the whole freshness test: a stat for the
// local backend, a HEAD for S3). A dataset seen for the first time, or one
// with a newer version, is loaded from catalogd and its view replaced before
// the statement is bound, so a commit is visible to the next query.
//
// Parquet is read from the local backend's files directly; objects of any
// other backend go through query/pcache (keyed by etag, LRU, bounded),
// fetched from S3 directly with [queryd].secrets_path's keys when set, else
// through storaged.
package queryd

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/query/engine"
	"lakehouse-go/internal/query/pcache"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/local"
	"lakehouse-go/internal/storage/s3"
)

// DataPrefix is the key prefix of dataset files (ingestd writes under it).
const DataPrefix = "datasets/"

// Catalog is what queryd needs from catalogd.
type Catalog interface {
	Get(ctx context.Context, name string, version int64) (catalog.Dataset, error)
}

// Lister is a Catalog that lists every dataset (catalogd's client): with
// it, a statement that lists tables sees all of them (discovery).
type Lister interface {
	List(ctx context.Context) ([]catalog.Dataset, error)
}

// allLister is a Lister that also names the datasets the catalog could not
// read (ADR-093: a damaged manifest, a gap), which List leaves out.
type allLister interface {
	ListAll(ctx context.Context) (catalog.ListResponse, error)
}

// Options configure a Server.
type Options struct {
	Catalog Catalog
	Store   storage.Store
	// LocalDir is the local backend's [storaged].dir when queryd may read
	// its files directly ("" = always through the cache).
	LocalDir string
	// LocalRoot, when set, confirms LocalDir: queryd reads LocalDir's files
	// only once LocalRoot answers that same directory (storaged's object
	// directory as its socket on this host reports it,
	// storage.Client.LocalRoot); until then every file goes through Store.
	// A queryd on another host than storaged finds its own, empty LocalDir
	// and would take every dataset for missing. nil = LocalDir is trusted.
	LocalRoot func(context.Context) string
	CacheDir  string
	// CacheMaxBytes bounds the cache (<= 0: unbounded).
	CacheMaxBytes int64
	TempDir       string
	Threads       int
	MemoryLimit   string
	MaxConcurrent int
	MaxQueue      int
	MaxRows       int
	Timeout       time.Duration
	// MaxJSONBytes bounds a format=json answer, which is built in memory
	// before it is sent (<= 0: DefaultMaxJSONBytes). The row that reaches
	// it is the last one; the answer says truncated when rows follow.
	// ndjson and csv stream in flat memory and are not bounded.
	MaxJSONBytes int
	// Log gets one INFO line per query its caller abandoned (nil: none).
	Log *slog.Logger
	// Metrics, when set, gets queryd's domain metrics (metrics.go).
	Metrics prometheus.Registerer
}

// DefaultMaxJSONBytes is the bound of a json answer: 100,000 rows of 1.3 KiB.
// Without it one query of wide rows (100,000 x 10 KB of text) held the whole
// answer, several times over while the buffer grew (a 1 GB answer: 4.7 GB RSS).
const DefaultMaxJSONBytes = 128 << 20

// Server is queryd: it implements query.Service.
type Server struct {
	opts  Options
	eng   *engine.Engine
	cache *pcache.Cache
	// localData is <LocalDir>/data/datasets/ (allowed to DuckDB) or "".
	localData string
	// localOK: LocalRoot confirmed LocalDir (or there is no LocalRoot);
	// localWarned: the mismatch was logged once.
	localOK, localWarned atomic.Bool

	mu    sync.Mutex
	views map[string]*view
	locks map[string]*nameLock

	slots   chan struct{}
	waiting atomic.Int64

	// locks are CacheDir's and TempDir's (shared.LockDir), taken by
	// NewServer before the cache sweeps its partial downloads and held
	// until Close: a second queryd on the same directories removed the
	// first one's downloads in progress, could evict the files its
	// queries had pinned (each keeps its own LRU of the same files), and
	// spilled into the same DuckDB temp directory.
	dirLocks []*shared.DirLock

	metrics *metrics
}

type view struct {
	version int64
	files   []viewFile
}

type viewFile struct {
	key, etag, path string
	cached          bool
	size            int64
}

var _ query.Service = (*Server)(nil)

// NewServer opens the engine and cache. Errors: Internal.
func NewServer(ctx context.Context, opts Options) (*Server, error) {
	if opts.MaxConcurrent < 1 {
		opts.MaxConcurrent = 1
	}
	if opts.MaxRows < 1 {
		opts.MaxRows = 100_000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxJSONBytes <= 0 {
		opts.MaxJSONBytes = DefaultMaxJSONBytes
	}
	s := &Server{opts: opts, views: map[string]*view{}, locks: map[string]*nameLock{}, slots: make(chan struct{}, opts.MaxConcurrent)}
	if err := s.lockDirs(); err != nil {
		return nil, err
	}
	// DuckDB removes its spill files when it closes, not those of a
	// queryd killed mid-query: they stayed (as big as that query's spill,
	// up to max_temp_directory_size). Only under TempDir's lock.
	if opts.TempDir != "" {
		left, _ := filepath.Glob(filepath.Join(opts.TempDir, "duckdb_temp_*"))
		for _, f := range left {
			os.Remove(f)
		}
	}
	cache, err := pcache.Open(opts.CacheDir, opts.CacheMaxBytes)
	if err != nil {
		s.unlockDirs()
		return nil, err
	}
	s.cache = cache
	s.localOK.Store(opts.LocalRoot == nil)
	allowed := []string{cache.Dir()}
	if opts.LocalDir != "" {
		// Allowed to DuckDB now (lock_configuration leaves no later SET),
		// created by no one but storaged: queryd made it here, and a queryd
		// whose storaged is on another host left an empty
		// <data_dir>/objects/data/datasets/ behind (ADR-199). DuckDB checks
		// the path, not that it exists.
		if p, err := local.ObjectPath(opts.LocalDir, DataPrefix+"x"); err == nil {
			s.localData = filepath.Dir(p) + string(filepath.Separator)
			allowed = append(allowed, s.localData)
		}
	}
	eng, err := engine.Open(ctx, engine.Options{
		Threads: opts.Threads, MemoryLimit: opts.MemoryLimit, TempDir: opts.TempDir,
		AllowedDirs: allowed, MaxConns: opts.MaxConcurrent,
	})
	if err != nil {
		s.unlockDirs()
		return nil, err
	}
	s.eng = eng
	m, err := newMetrics(opts.Metrics, func() *pcache.Cache { return s.cache })
	if err != nil {
		eng.Close()
		s.unlockDirs()
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// lockDirs takes the locks of CacheDir and TempDir (one process per
// directory, ADR-080). Errors: Unavailable naming the holder's pid;
// Internal.
func (s *Server) lockDirs() error {
	for _, d := range []struct{ what, dir string }{{"[queryd].cache_dir", s.opts.CacheDir}, {"queryd temp dir", s.opts.TempDir}} {
		if d.dir == "" || (len(s.dirLocks) > 0 && filepath.Clean(d.dir) == filepath.Clean(s.opts.CacheDir)) {
			continue
		}
		l, err := shared.LockDir(d.dir)
		if err != nil {
			s.unlockDirs()
			kind := errs.Internal
			if errors.Is(err, shared.ErrLocked) {
				kind = errs.Unavailable
			}
			return errs.E("queryd.open", kind, d.what, err)
		}
		s.dirLocks = append(s.dirLocks, l)
	}
	return nil
}

func (s *Server) unlockDirs() {
	for _, l := range s.dirLocks {
		l.Unlock()
	}
	s.dirLocks = nil
}

// Close releases DuckDB, then the directories' locks.
func (s *Server) Close() error {
	err := s.eng.Close()
	s.unlockDirs()
	return err
}

// Cache exposes the Parquet cache (stats in tests and benchmarks).
func (s *Server) Cache() *pcache.Cache { return s.cache }

// New is queryd's constructor for shared.Run.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	cfg := env.Config
	qc := cfg.Queryd
	cacheDir := cfg.DataPath(qc.CacheDir, "queryd/cache")
	opts := Options{
		Catalog:       catalog.NewClient(env.Client("catalogd")),
		Store:         storage.NewClient(env.StreamClient("storaged"), storage.WithConfig(env.Config)),
		CacheDir:      cacheDir,
		CacheMaxBytes: qc.CacheMaxBytes,
		TempDir:       cfg.DataPath("", "queryd/tmp"),
		Threads:       qc.Threads,
		MemoryLimit:   qc.MemoryLimit,
		MaxConcurrent: qc.MaxConcurrent,
		MaxQueue:      qc.MaxQueue,
		MaxRows:       qc.MaxRows,
		Timeout:       qc.Timeout.Duration,
		Log:           env.Log,
		Metrics:       env.Metrics,
	}
	switch cfg.Storaged.Backend {
	case "", "local":
		opts.LocalDir = cfg.DataPath(cfg.Storaged.Dir, "objects")
		if sc, ok := opts.Store.(*storage.Client); ok {
			opts.LocalRoot = sc.LocalRoot
		}
	case "s3":
		// With its own (ideally read-only) keys queryd reads S3 directly;
		// without, through storaged.
		if qc.SecretsPath != "" {
			ak, sk, err := s3.LoadSecrets(qc.SecretsPath)
			if err != nil {
				return nil, shared.ConfigErr(err)
			}
			st, err := s3.Open(s3.ConfigFrom(cfg.S3, ak, sk), env.Log)
			if err != nil {
				return nil, err
			}
			opts.Store = st
		}
	}
	s, err := NewServer(ctx, opts)
	if err != nil {
		return nil, err
	}
	env.Log.Info("queryd engine", "op", "start", "local_dir", opts.LocalDir, "cache_dir", cacheDir,
		"max_concurrent", opts.MaxConcurrent, "max_queue", opts.MaxQueue)
	return &shared.Daemon{
		Routes: s.Routes(env),
		Close:  func(context.Context) error { return s.Close() },
	}, nil
}

// Routes registers POST /v1/sql.
func (s *Server) Routes(env *shared.Env) func(r chi.Router) {
	return func(r chi.Router) {
		r.Post(query.Route, env.Handle(s.handleSQL))
	}
}

// admit takes a query slot, waiting in a bounded queue. Errors: Unavailable
// (queue full), Timeout/Unavailable (ctx).
func (s *Server) admit(ctx context.Context) (func(), error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
	}
	if n := s.waiting.Add(1); n > int64(s.opts.MaxQueue) {
		s.waiting.Add(-1)
		return nil, errs.E("query", errs.Unavailable, fmt.Sprintf("queryd is busy: %d queries running and %d queued ([queryd].max_concurrent, max_queue)", s.opts.MaxConcurrent, s.opts.MaxQueue))
	}
	defer s.waiting.Add(-1)
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return nil, errs.E("query", errs.Timeout, "query timed out while queued")
		}
		return nil, errs.E("query", errs.Unavailable, "query canceled while queued")
	}
}

func (s *Server) limits(req *query.Request) (maxRows int, timeout time.Duration) {
	maxRows = s.opts.MaxRows
	if req.MaxRows > 0 && req.MaxRows < maxRows {
		maxRows = req.MaxRows
	}
	timeout = s.opts.Timeout
	// Compared in milliseconds: a huge timeout_ms would overflow a Duration
	// (and was answered 504 at once).
	if req.TimeoutMS > 0 && int64(req.TimeoutMS) < timeout.Milliseconds() {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	return maxRows, timeout
}

// run admits and runs req, calling fn with the cursor.
func (s *Server) run(ctx context.Context, req query.Request, fn func(*engine.Cursor) error) error {
	start := time.Now()
	rows := 0
	err := s.runQuery(ctx, req, func(c *engine.Cursor) error {
		err := fn(c)
		rows = c.Count()
		return err
	})
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		err = s.canceled(ctx, err, time.Since(start))
	}
	s.metrics.done(err, rows, time.Since(start))
	return err
}

// canceled is the error of a query whose request was cancelled (not timed
// out). Cancelled by queryd's stop (its drain ran out: the cause is
// shared.ErrStopping, ADR-129) it is queryd's 503. Else the caller went
// away (a closed connection, the gateway's hang-up when its client left):
// nginx's 499, a client's doing, so neither an ERROR line nor a server
// error in the metrics and the observer (it was 503 "query canceled",
// logged at ERROR with DuckDB's "INTERRUPT Error").
func (s *Server) canceled(ctx context.Context, err error, took time.Duration) error {
	if errors.Is(context.Cause(ctx), shared.ErrStopping) {
		return errs.E("query", errs.Unavailable, "queryd is shutting down: the query was interrupted", errs.E(errs.Internal, err))
	}
	if s.opts.Log != nil {
		s.opts.Log.Info("query abandoned: the client closed the connection before the answer; interrupted",
			"req_id", shared.RequestID(ctx), "op", "query", "status", errs.StatusClientClosed, "elapsed_ms", took.Milliseconds())
	}
	return errs.E("query", errs.Invalid, errs.StatusClientClosed, "the client closed the connection before the answer", errs.E(errs.Internal, err))
}

func (s *Server) runQuery(ctx context.Context, req query.Request, fn func(*engine.Cursor) error) error {
	maxRows, timeout := s.limits(&req)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	release, err := s.admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	err = s.eng.Query(ctx, engine.Request{SQL: req.SQL, Params: req.Params, MaxRows: maxRows, Tables: s.tables}, fn)
	if errs.Is(err, errs.Timeout) && ctx.Err() == context.DeadlineExceeded {
		// One line naming the limit; DuckDB's "INTERRUPT Error" text and
		// the Go context error stay in the log (ADR-111).
		return errs.E("query", errs.Timeout,
			fmt.Sprintf("query timed out after %d ms and was interrupted", timeout.Milliseconds()), errs.E(errs.Internal, err))
	}
	return err
}

// Query implements query.Service.
func (s *Server) Query(ctx context.Context, req query.Request) (*query.Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	res := &query.Result{Rows: [][]any{}}
	err := s.run(ctx, req, func(c *engine.Cursor) error {
		res.Columns = c.Columns
		for {
			ok, err := c.Next()
			if err != nil || !ok {
				res.Truncated = c.Truncated()
				return err
			}
			res.Rows = append(res.Rows, c.Values())
		}
	})
	if err != nil {
		return nil, err
	}
	res.RowCount = len(res.Rows)
	res.ElapsedMS = ms(time.Since(start))
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Server) handleSQL(w http.ResponseWriter, r *http.Request) error {
	if _, err := shared.QueryParams("query", r.URL.RawQuery, sqlBodyHint); err != nil {
		s.metrics.refused(err)
		return err // POST /v1/sql takes no query parameter (ADR-099)
	}
	start := time.Now()
	var req query.Request
	if err := shared.DecodeJSONExact(r, &req); err != nil {
		s.metrics.refused(err)
		return err
	}
	// The row cap in force: a max_rows above [queryd].max_rows is lowered
	// to it, and a truncated answer alone did not say to what (ADR-148).
	maxRows, _ := s.limits(&req)
	w.Header().Set("X-Max-Rows", strconv.Itoa(maxRows))
	switch req.Format {
	case query.FormatNDJSON, query.FormatCSV:
		return s.stream(w, r, req)
	}
	var buf []byte
	err := s.run(r.Context(), req, func(c *engine.Cursor) error {
		cols, _ := json.Marshal(c.Columns)
		buf = append(buf, `{"columns":`...)
		buf = append(buf, cols...)
		buf = append(buf, `,"rows":[`...)
		for {
			ok, err := c.Next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if c.Count() > 1 {
				buf = append(buf, ',')
			}
			buf = c.AppendJSON(buf)
			if len(buf) >= s.opts.MaxJSONBytes {
				c.Stop() // truncated if a row follows
			}
		}
		buf = append(buf, `],"row_count":`...)
		buf = strconv.AppendInt(buf, int64(c.Count()), 10)
		buf = append(buf, `,"truncated":`...)
		buf = strconv.AppendBool(buf, c.Truncated())
		return nil
	})
	if err != nil {
		return err
	}
	buf = append(buf, `,"elapsed_ms":`...)
	buf = strconv.AppendFloat(buf, ms(time.Since(start)), 'f', 3, 64)
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	// Bounded without progress (shared.AnswerStall, as every daemon's
	// answer): a client that never read its answer (up to MaxJSONBytes,
	// 128 MiB) held it, the handler and the connection for as long as it
	// stayed connected; a slow reader is not cut.
	return shared.WriteAnswer(w, r, http.StatusOK, buf)
}

// sqlBodyHint: POST /v1/sql?format=csv answered JSON, ?max_rows=10 every
// row: a query's options are fields of its JSON body.
func sqlBodyHint([]string) string {
	return `sql, params, format, max_rows and timeout_ms are fields of the JSON body ({"sql":"...","format":"csv"})`
}

// MaxColumnsHeader is the largest X-Columns header queryd sends (bytes of
// its JSON). Proxies and clients refuse larger header blocks (nginx and
// Go's defaults are 4-8 KiB a line, curl 100 KiB in all); above it the
// header is left out and X-Columns-Omitted says so: the names are in the
// CSV header row and in every NDJSON object, and a json query with
// max_rows 1 answers the types.
const MaxColumnsHeader = 8 << 10

// streamGrace is how long after a query's time limit its stream may still
// be writing: its end (the last chunk, the trailers).
const streamGrace = 2 * time.Second

// stream writes ndjson (one JSON object per row) or CSV (header line first),
// flushing every flushRows rows or 64 KiB. Column names and types are in the
// X-Columns header (up to MaxColumnsHeader bytes), their number in
// X-Column-Count; X-Row-Count and X-Truncated are trailers.
//
// A write may not block past the query's time limit (plus streamGrace for
// the answer's end): a client that stops reading (a paused pager, a stuck
// consumer, its connection open) held the query's slot and DuckDB
// connection for as long as it stayed connected, the time limit notwith-
// standing (DuckDB is interrupted at it, but a write blocked on a full
// socket is not).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req query.Request) error {
	const flushRows = 1000
	flusher, _ := w.(http.Flusher)
	_, timeout := s.limits(&req)
	writeBy := time.Now().Add(timeout + streamGrace)
	ctl := http.NewResponseController(w)
	return s.run(r.Context(), req, func(c *engine.Cursor) error {
		cols, _ := json.Marshal(c.Columns)
		h := w.Header()
		h.Set("X-Column-Count", strconv.Itoa(len(c.Columns)))
		if len(cols) <= MaxColumnsHeader {
			h.Set("X-Columns", string(cols))
		} else {
			h.Set("X-Columns-Omitted", fmt.Sprintf("%d bytes, over the %d-byte limit", len(cols), MaxColumnsHeader))
		}
		h.Set("Trailer", "X-Row-Count, X-Truncated")
		if req.Format == query.FormatCSV {
			h.Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			h.Set("Content-Type", "application/x-ndjson")
		}
		var buf []byte
		var cw *csv.Writer
		var rec []string
		var sb strings.Builder
		if req.Format == query.FormatCSV {
			cw = csv.NewWriter(&sb)
			names := make([]string, len(c.Columns))
			for i, col := range c.Columns {
				names[i] = col.Name
			}
			cw.Write(names)
		}
		started := false
		flush := func() error {
			if cw != nil {
				cw.Flush()
				buf = append(buf, sb.String()...)
				sb.Reset()
			}
			if len(buf) == 0 {
				return nil
			}
			if !started {
				// Net/http clears it when the request ends (a kept-alive
				// connection's next answer is not bound by it).
				_ = ctl.SetWriteDeadline(writeBy)
				w.WriteHeader(http.StatusOK)
				started = true
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		}
		for {
			ok, err := c.Next()
			if err != nil {
				if started {
					return err
				}
				return err
			}
			if !ok {
				break
			}
			if cw != nil {
				rec = c.Text(rec)
				cw.Write(rec)
			} else {
				buf = c.AppendJSONObject(buf)
				buf = append(buf, '\n')
			}
			if c.Count()%flushRows == 0 || len(buf) > 64<<10 || sb.Len() > 64<<10 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if !started {
			w.WriteHeader(http.StatusOK)
		}
		h.Set("X-Row-Count", strconv.Itoa(c.Count()))
		h.Set("X-Truncated", strconv.FormatBool(c.Truncated()))
		return nil
	})
}

// nameLock is a dataset's lock, which serializes its view refreshes (and
// the downloads of its files into the cache).
type nameLock struct {
	ch   chan struct{} // holds one token while the lock is held
	refs int           // holders and waiters; under Server.mu
}

// lockName takes name's lock, waiting at most as long as ctx: a query
// queued behind another's slow download (a big file from S3) keeps its
// own time limit and ends when its caller hangs up. The lock is forgotten
// when nobody holds or waits for it, so names that are no dataset leave
// nothing behind. Errors: Timeout, Unavailable (ctx).
func (s *Server) lockName(ctx context.Context, name string) (func(), error) {
	s.mu.Lock()
	l := s.locks[name]
	if l == nil {
		l = &nameLock{ch: make(chan struct{}, 1)}
		s.locks[name] = l
	}
	l.refs++
	s.mu.Unlock()
	drop := func() {
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, name)
		}
		s.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		if ctx.Err() == context.DeadlineExceeded {
			return nil, errs.E("query", errs.Timeout, fmt.Sprintf("dataset %q: timed out waiting for another query to finish fetching its files", name), ctx.Err())
		}
		return nil, errs.E("query", errs.Unavailable, fmt.Sprintf("dataset %q: canceled waiting for another query to finish fetching its files", name), ctx.Err())
	}
}

// tables brings the views of the datasets among names up to date and pins
// their cached files for the query (see the package doc). With missing=false
// names are every identifier of the statement and only known views are
// checked; with missing=true the name is one DuckDB could not find, loaded
// from the catalog when it is a dataset.
func (s *Server) tables(ctx context.Context, names []string, missing bool) (func(), bool, error) {
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	created := false
	if !missing && discovery(names) {
		if l, ok := s.opts.Catalog.(Lister); ok {
			var all []catalog.Dataset
			var err error
			unreadable := map[string]bool{}
			if al, ok := l.(allLister); ok {
				var resp catalog.ListResponse
				resp, err = al.ListAll(ctx)
				all = resp.Datasets
				for _, u := range resp.Unreadable {
					unreadable[u.Name] = true
				}
			} else {
				all, err = l.List(ctx)
			}
			if err != nil {
				return nil, false, errs.E("query", errs.KindOf(err), "listing the datasets: catalogd", err)
			}
			// Every listed dataset at its listed version; then the views
			// this queryd holds that were not listed (a deleted dataset's
			// view is dropped). A view of a dataset the catalog could not
			// read stays as it is: checking it would fail the whole
			// statement for one damaged dataset (a query naming it still
			// gets catalogd's error). The statement's other names are not
			// datasets.
			seen := make(map[string]bool, len(all))
			for _, d := range all {
				seen[d.Name] = true
				rel, err := s.listedView(ctx, d)
				if err != nil {
					release()
					return nil, false, err
				}
				releases = append(releases, rel...)
			}
			var gone []string
			s.mu.Lock()
			for n := range s.views {
				if !seen[n] && !unreadable[n] {
					gone = append(gone, n)
				}
			}
			s.mu.Unlock()
			names = gone
		}
	}
	for _, name := range names {
		if catalog.ValidateName(name) != nil {
			continue
		}
		if !missing {
			s.mu.Lock()
			_, known := s.views[name]
			s.mu.Unlock()
			if !known {
				continue
			}
		}
		rel, exists, err := s.ensureView(ctx, name)
		if err != nil {
			release()
			return nil, false, err
		}
		created = created || exists
		releases = append(releases, rel...)
	}
	return release, created, nil
}

// listedView brings the view of a dataset listed by the catalog to its
// listed version (made from the listing: no manifest check, no Get) and
// pins its files.
func (s *Server) listedView(ctx context.Context, d catalog.Dataset) ([]func(), error) {
	if catalog.ValidateName(d.Name) != nil {
		return nil, nil
	}
	unlock, err := s.lockName(ctx, d.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.mu.Lock()
	v := s.views[d.Name]
	s.mu.Unlock()
	if v != nil && v.version >= d.Version {
		return s.pin(ctx, d.Name, v)
	}
	return s.install(ctx, d.Name, d)
}

// discovery reports whether a statement with these identifiers lists
// tables: DuckDB's catalog views and functions (information_schema,
// duckdb_tables(), pg_catalog, ...), SHOW TABLES, and a bare SHOW or
// DESCRIBE. Views are made on a dataset's first use, so without a look at
// the catalog such a statement listed only the datasets queried since
// queryd started (an agent's SHOW TABLES missed the rest).
func discovery(names []string) bool {
	bare := true
	show, tables := false, false
	for _, n := range names {
		switch n {
		case "information_schema", "duckdb_tables", "duckdb_views", "duckdb_columns", "duckdb_constraints",
			"duckdb_indexes", "duckdb_dependencies", "pg_catalog", "pg_tables", "pg_views", "pg_class",
			"pg_attribute", "pg_namespace", "sqlite_master", "sqlite_schema":
			return true
		case "show":
			show = true
		case "tables":
			tables = true
		case "describe", "all":
		default:
			bare = false
		}
	}
	return show && tables || bare && len(names) > 0
}

func (s *Server) ensureView(ctx context.Context, name string) (rels []func(), exists bool, err error) {
	rels, err = s.ensureView1(ctx, name)
	s.mu.Lock()
	_, exists = s.views[name]
	s.mu.Unlock()
	return rels, exists, err
}

func (s *Server) ensureView1(ctx context.Context, name string) ([]func(), error) {
	unlock, err := s.lockName(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.mu.Lock()
	v := s.views[name]
	s.mu.Unlock()
	next := int64(1)
	if v != nil {
		next = v.version + 1
	}
	exists, err := s.manifestExists(ctx, name, next)
	if err != nil {
		return nil, err
	}
	if !exists {
		if v == nil {
			return nil, nil // not a dataset
		}
		return s.pin(ctx, name, v)
	}
	ds, err := s.opts.Catalog.Get(ctx, name, 0)
	if errs.Is(err, errs.NotFound) {
		if v != nil {
			s.mu.Lock()
			delete(s.views, name)
			s.mu.Unlock()
			return nil, s.eng.DropView(ctx, name)
		}
		return nil, nil
	}
	if err != nil {
		return nil, errs.E("query", errs.KindOf(err), fmt.Sprintf("dataset %q: catalogd", name), err)
	}
	return s.install(ctx, name, ds)
}

// install makes ds the view of name and pins its files. The caller holds
// name's lock.
func (s *Server) install(ctx context.Context, name string, ds catalog.Dataset) ([]func(), error) {
	nv := &view{version: ds.Version}
	for _, f := range ds.Files {
		vf, err := s.resolve(ctx, f)
		if err != nil {
			return nil, err
		}
		nv.files = append(nv.files, vf)
	}
	rels, err := s.pin(ctx, name, nv)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(nv.files))
	for i, f := range nv.files {
		paths[i] = f.path
	}
	if len(paths) == 0 {
		err = s.eng.ReplaceEmptyView(ctx, name, columnsOf(ds.Schema))
	} else {
		err = s.eng.ReplaceView(ctx, name, paths)
	}
	if err != nil {
		for _, r := range rels {
			r()
		}
		return nil, err
	}
	s.mu.Lock()
	s.views[name] = nv
	s.mu.Unlock()
	return rels, nil
}

func columnsOf(schema []catalog.Column) []query.Column {
	out := make([]query.Column, len(schema))
	for i, c := range schema {
		out[i] = query.Column{Name: c.Name, Type: c.Type}
	}
	return out
}

// local reports whether queryd reads LocalDir's files itself: there is
// one, and LocalRoot (when set) has answered that it is storaged's object
// directory. Once confirmed it stays so; until then each call asks again
// (cheap: the storage client redials a missing socket at most once a second).
func (s *Server) local(ctx context.Context) bool {
	if s.localData == "" {
		return false
	}
	if s.localOK.Load() {
		return true
	}
	root := s.opts.LocalRoot(ctx)
	if root == "" {
		return false
	}
	mine, err1 := os.Stat(filepath.Dir(filepath.Clean(s.localData)))
	theirs, err2 := os.Stat(root)
	if err1 == nil && err2 == nil && os.SameFile(mine, theirs) {
		s.localOK.Store(true)
		return true
	}
	if s.opts.Log != nil && !s.localWarned.Swap(true) {
		s.opts.Log.Warn("queryd reads every file through storaged: its object directory is not [storaged].dir here",
			"op", "local_check", "storaged_root", root, "local_dir", s.opts.LocalDir)
	}
	return false
}

// manifestExists reports whether version v of name has a manifest.
func (s *Server) manifestExists(ctx context.Context, name string, v int64) (bool, error) {
	key := catalog.ManifestKey(name, v)
	if s.local(ctx) {
		p, err := local.ObjectPath(s.opts.LocalDir, key)
		if err == nil {
			if _, err := os.Stat(p); err == nil {
				return true, nil
			}
			return false, nil
		}
	}
	_, err := s.opts.Store.Head(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errs.Is(err, errs.NotFound):
		return false, nil
	}
	return false, errs.E("query", errs.KindOf(err), "storaged: checking the catalog", err)
}

// resolve finds where DuckDB reads f: the local backend's own file when
// storaged reports one inside the allowed directory, else the cache.
func (s *Server) resolve(ctx context.Context, f catalog.File) (viewFile, error) {
	if s.local(ctx) {
		if p, err := local.ObjectPath(s.opts.LocalDir, f.Key); err == nil && strings.HasPrefix(p, s.localData) {
			if st, err := os.Stat(p); err == nil && st.Size() == f.Bytes {
				return viewFile{key: f.Key, path: p, size: f.Bytes}, nil
			}
		}
	}
	info, err := s.opts.Store.Head(ctx, f.Key)
	if err != nil {
		return viewFile{}, errs.E("query", errs.KindOf(err), fmt.Sprintf("data file %s", f.Key), err)
	}
	return viewFile{key: f.Key, etag: info.ETag, cached: true, size: info.Size, path: s.cache.Path(f.Key, info.ETag)}, nil
}

// readErr remembers a read error, to tell a download that broke at the
// object store from a cache file that could not be written.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// pin acquires the cached files of v (downloading evicted ones) until the
// query ends; local files need nothing.
func (s *Server) pin(ctx context.Context, name string, v *view) ([]func(), error) {
	var rels []func()
	for i := range v.files {
		f := &v.files[i]
		if !f.cached {
			continue
		}
		key := f.key
		_, rel, err := s.cache.AcquireSize(ctx, f.key, f.etag, f.size, func(ctx context.Context, w io.Writer) (int64, error) {
			rc, _, err := s.opts.Store.Get(ctx, key, storage.Whole)
			if err != nil {
				return 0, err
			}
			defer rc.Close()
			src := &readErr{r: rc}
			n, err := io.Copy(w, src)
			if err != nil && src.err != nil && ctx.Err() == nil && errs.KindOf(src.err) == errs.Internal {
				// The object store went away mid-download (S3 or storaged
				// down): that is unavailable, not queryd's own failure.
				return n, errs.E("query", errs.Unavailable, "the object store stopped sending the file", src.err)
			}
			return n, err
		})
		if err != nil {
			for _, r := range rels {
				r()
			}
			return nil, errs.E("query", errs.KindOf(err), fmt.Sprintf("dataset %q: fetching %s", name, key), err)
		}
		rels = append(rels, rel)
	}
	return rels, nil
}
