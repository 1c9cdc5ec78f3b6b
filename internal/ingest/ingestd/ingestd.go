// Package ingestd builds the ingestd daemon (:3213): POST /v1/ingest
// streams the upload (a multipart field "file" or the raw body) to a temp
// file, converts it with ingest/convert, uploads the Parquet files to
// storaged (create-only, under datasets/{name}/{ingest id}/) and commits
// them through catalogd, retrying on a conflict with a concurrent commit.
// Nothing is committed on failure, uploaded files of a failed ingest are
// deleted, and temp files are always removed. An ingest records its intent
// in a pending marker before uploading, and a periodic Sweep removes the
// files of ingests that died before settling (pending.go). POST
// /v1/ingest/compact rewrites a dataset's small files into few (compact.go).
// cmd/ingestd calls New through shared.Run; tests call NewServer with their own catalog
// and store.
package ingestd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/convert"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// DataPrefix is the key prefix of dataset files (queryd allows only it).
const DataPrefix = "datasets/"

// Options configure a Server.
type Options struct {
	Catalog        catalog.Service
	Store          storage.Store
	TempDir        string
	MaxUploadBytes int64 // 0 = no limit; the bytes received (compressed or not)
	MaxConcurrent  int
	CommitRetries  int
	Convert        convert.Options
	Log            *slog.Logger
	// PendingLease is how long a pending-ingest marker may go unrenewed
	// before Sweep treats its ingest as dead (0 = DefaultPendingLease).
	PendingLease time.Duration
	// Now is the wall clock of markers and sweeps (nil = time.Now).
	Now func() time.Time
	// StreamStore writes each Parquet file into storaged while DuckDB
	// writes it, publishing it after the conversion (streamstore.go,
	// ADR-138); false stores them after the conversion. New sets it when
	// storaged is reached through its short-circuit socket (same host).
	StreamStore bool
	// StreamSocket, when set, is the short-circuit socket Store dials
	// (shared.Config.StoragedSocket): an ingest streams only when it
	// accepts a connection. A socket path configured for a storaged on
	// another host has nobody listening, Store's Puts fall back to HTTP,
	// and a streamed Put would hold an HTTP PUT open for the whole
	// conversion; such an ingest stores its files after the conversion.
	StreamSocket string
	// MaxDecompressedBytes bounds the decoded bytes of a gzip or zstd
	// upload (0 = no limit; decompress.go).
	MaxDecompressedBytes int64
	// Metrics, when set, gets ingestd's domain metrics (metrics.go).
	Metrics prometheus.Registerer
}

// Server is ingestd; it implements ingest.Service.
type Server struct {
	opts  Options
	conv  *convert.Converter
	slots chan struct{}
	log   *slog.Logger

	mu      sync.Mutex
	running map[string]bool // ids of this process's ingests holding a marker
	keys    map[string]bool // dataset and Idempotency-Key of running requests (idempotency.go)

	sweepStop context.CancelFunc
	sweepDone chan struct{}

	// bg ends (at Close) the background retries of failed cleanups.
	bg     context.Context
	bgStop context.CancelFunc
	bgWG   sync.WaitGroup

	// afterPut, when set (tests), runs after part i is uploaded; an error
	// ends the ingest there as a kill -9 would: no cleanup, marker left.
	afterPut func(i int) error

	compactor compactDB // compactions' DuckDB, opened on first use (compact.go)

	// lock is TempDir's lock (shared.LockDir), taken by NewServer before
	// it sweeps the leftovers of a previous run and held until Close: a
	// second ingestd on the same temp_dir would remove the spool files of
	// the first one's running ingests (and DuckDB its spill files).
	lock *shared.DirLock

	metrics *metrics
}

var _ ingest.Service = (*Server)(nil)

// NewServer opens the converter. Errors: Internal.
func NewServer(opts Options) (*Server, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 2
	}
	if opts.CommitRetries <= 0 {
		opts.CommitRetries = 20
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.PendingLease <= 0 {
		opts.PendingLease = DefaultPendingLease
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, errs.E("ingestd", errs.Internal, err)
	}
	// One ingestd per temp dir: the sweep below removes what a previous
	// run left, which would be a live peer's spool files.
	lock, err := shared.LockDir(opts.TempDir)
	if err != nil {
		kind := errs.Internal
		if errors.Is(err, shared.ErrLocked) {
			kind = errs.Unavailable
		}
		return nil, errs.E("ingestd.open", kind, "[ingestd].temp_dir", err)
	}
	// Leftovers of a crashed ingestd.
	if des, err := os.ReadDir(opts.TempDir); err == nil {
		for _, de := range des {
			if strings.HasPrefix(de.Name(), "ingest-") {
				os.RemoveAll(filepath.Join(opts.TempDir, de.Name()))
			}
		}
	}
	if opts.Convert.TempDir == "" {
		opts.Convert.TempDir = filepath.Join(opts.TempDir, "duckdb")
	}
	// Spill files of a process killed mid-conversion or mid-compaction:
	// the converter's DuckDB removes those of its directory when it opens,
	// the compactions' one opens at the first compaction, so they stayed
	// (as big as that compaction's spill) until then. Only under the lock.
	for _, d := range []string{filepath.Join(opts.TempDir, "duckdb"), compactTempDir(opts.TempDir)} {
		left, _ := filepath.Glob(filepath.Join(d, "duckdb_temp_*"))
		for _, f := range left {
			os.Remove(f)
		}
	}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	conv, err := convert.Open(opts.Convert)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	bg, bgStop := context.WithCancel(context.Background())
	return &Server{opts: opts, conv: conv, slots: make(chan struct{}, opts.MaxConcurrent), log: opts.Log, running: map[string]bool{}, keys: map[string]bool{}, lock: lock, bg: bg, bgStop: bgStop, metrics: m}, nil
}

// StartSweeping runs Sweep in the background, delay after the start (at
// most interval; 0 = at once) and then every interval (0 =
// DefaultSweepInterval), until Close.
func (s *Server) StartSweeping(delay, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.sweepStop, s.sweepDone = cancel, make(chan struct{})
	go func() {
		defer close(s.sweepDone)
		s.sweepLoop(ctx, max(delay, 0), interval)
	}()
}

// Close stops the sweeps, releases DuckDB, then TempDir's lock.
func (s *Server) Close() error {
	if s.sweepStop != nil {
		s.sweepStop()
		<-s.sweepDone
	}
	s.bgStop()
	s.bgWG.Wait()
	err := errors.Join(s.conv.Close(), s.compactor.close())
	s.lock.Unlock()
	return err
}

func (s *Server) now() time.Time { return s.opts.Now() }

// socketUp says whether something accepts connections on the Unix
// socket path ("" = no socket to check: true). It is the storage client's
// own test: when its dial fails, its calls go over HTTP.
func socketUp(path string) bool {
	if path == "" {
		return true
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// DefaultMemoryLimit is DuckDB's memory_limit for ingestd when
// [ingestd].memory_limit is empty (keeps RSS bounded; DuckDB spills).
const DefaultMemoryLimit = "1GB"

// New is ingestd's constructor for shared.Run.
func New(ctx context.Context, env *shared.Env) (*shared.Daemon, error) {
	cfg := env.Config
	ic := cfg.Ingestd
	mem := ic.MemoryLimit
	if mem == "" {
		mem = DefaultMemoryLimit
	}
	s, err := NewServer(Options{
		Catalog:        catalog.NewClient(env.Client("catalogd")),
		Store:          storage.NewClient(env.StreamClient("storaged"), storage.WithConfig(env.Config)),
		TempDir:        cfg.DataPath(ic.TempDir, "ingestd/tmp"),
		MaxUploadBytes: ic.MaxUploadBytes,
		MaxConcurrent:  ic.MaxConcurrent,
		CommitRetries:  ic.CommitRetries,
		Convert: convert.Options{
			Threads: ic.Threads, MemoryLimit: mem, RowGroupSize: ic.RowGroupSize,
			FileRows: ic.FileRows, MaxLineBytes: ic.MaxLineBytes,
		},
		Log:          env.Log,
		PendingLease: ic.PendingLease.Duration,
		StreamStore:  ic.StreamStore && cfg.StoragedSocket() != "" && os.Getenv("LH_STORAGE_FORCE_HTTP") != "1",
		StreamSocket: cfg.StoragedSocket(),

		MaxDecompressedBytes: ic.MaxDecompressedBytes,
		Metrics:              env.Metrics,
	})
	if err != nil {
		return nil, err
	}
	s.StartSweeping(ic.SweepDelay.Duration, ic.SweepInterval.Duration)
	return &shared.Daemon{
		Routes: s.Routes(env),
		Close:  func(context.Context) error { return s.Close() },
	}, nil
}

// Routes registers POST /v1/ingest and POST /v1/ingest/compact.
func (s *Server) Routes(env *shared.Env) func(r chi.Router) {
	return func(r chi.Router) {
		r.Post(ingest.Route, env.Handle(s.handle))
		r.Post(ingest.CompactRoute, env.Handle(s.handleCompact))
	}
}

// params reads POST /v1/ingest's query parameters and Idempotency-Key
// header; errors are Invalid.
func params(r *http.Request) (ingest.Params, error) {
	// Only the parameters the route takes, each once (ADR-099):
	// ?name=x&mdoe=replace appended, a misspelt mode read as the default.
	q, err := shared.QueryParams("ingest", r.URL.RawQuery, nil, "name", "mode", "format")
	if err != nil {
		return ingest.Params{}, err
	}
	key, err := idempotencyKey(r.Header)
	if err != nil {
		return ingest.Params{}, err
	}
	p := ingest.Params{Name: q[0], Mode: q[1], Format: q[2], IdempotencyKey: key}
	if err := p.Validate(); err != nil {
		return ingest.Params{}, err
	}
	return p, nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) error {
	p, err := params(r)
	if err != nil {
		return err
	}
	if s.opts.MaxUploadBytes > 0 && r.ContentLength > s.opts.MaxUploadBytes {
		return tooLarge(s.opts.MaxUploadBytes)
	}
	cod, err := requestCoding(r.Header)
	if err != nil {
		w.Header().Set("Accept-Encoding", acceptedEncodings)
		return err
	}
	body := io.Reader(r.Body)
	filename := ""
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && strings.HasPrefix(mt, "multipart/") {
		if params["boundary"] == "" {
			return errs.E("ingest", errs.Invalid, "multipart body without a boundary")
		}
		if cod.enc != "" {
			// The coding would be the whole multipart body's (RFC 9110),
			// which no client sends: curl -F file=@x.gz with this header
			// means the file part.
			w.Header().Set("Accept-Encoding", acceptedEncodings)
			return unsupportedCoding("Content-Encoding " + cod.enc + " on a multipart body (it would code the whole form) is not accepted; send the compressed file as the part without the header (a part named *.gz/*.zst or starting with gzip/zstd bytes is decoded) or as the raw body")
		}
		mr, err := r.MultipartReader()
		if err != nil {
			return errs.E("ingest", errs.Invalid, "multipart body: "+err.Error())
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return errs.E("ingest", errs.Invalid, `multipart body has no field "file"`)
			}
			if err != nil {
				return uploadErr(err, s.opts.MaxUploadBytes)
			}
			if part.FormName() == "file" {
				filename = part.FileName()
				cod, filename = fileCoding(filename)
				body = &lastPart{Reader: part, mr: mr}
				break
			}
			io.Copy(io.Discard, part)
		}
	}
	res, err := s.ingest(r.Context(), p, body, filename, cod)
	if err != nil {
		return err
	}
	if res.IdempotentReplayed {
		w.Header().Set(ingest.ReplayedHeader, "true")
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}

// Ingest implements ingest.Service.
func (s *Server) Ingest(ctx context.Context, p ingest.Params, body io.Reader, size int64) (*ingest.Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if s.opts.MaxUploadBytes > 0 && size > s.opts.MaxUploadBytes {
		return nil, tooLarge(s.opts.MaxUploadBytes)
	}
	return s.ingest(ctx, p, body, "", coding{sniff: true})
}

// lastPart reads the "file" part and, at its end, the rest of the
// multipart body: other fields are skipped, a second "file" part or a body
// that stops before its closing boundary (a cut upload) is an error, so
// what was read is known to be the whole file.
type lastPart struct {
	io.Reader
	mr  *multipart.Reader
	end error // once the part has ended: io.EOF, or why the body is not whole
}

func (l *lastPart) Read(p []byte) (int, error) {
	if l.end != nil {
		return 0, l.end // the same answer to every read after the end
	}
	n, err := l.Reader.Read(p)
	if err != io.EOF {
		return n, err
	}
	l.end = l.rest()
	return n, l.end
}

// rest checks what follows the file part.
func (l *lastPart) rest() error {
	for {
		part, err := l.mr.NextPart()
		switch {
		case errors.Is(err, io.EOF):
			return io.EOF
		case err != nil:
			return errs.E("ingest", errs.Invalid, "multipart body ends without its closing boundary (a cut upload?): "+err.Error())
		case part.FormName() == "file":
			return errs.E("ingest", errs.Invalid, `multipart body has more than one "file" part; send one file per request`)
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return errs.E("ingest", errs.Invalid, "multipart body: "+err.Error())
		}
	}
}

func tooLarge(limit int64) error {
	return errs.E("ingest", errs.TooLarge, fmt.Sprintf("upload over the limit of %d bytes ([ingestd].max_upload_bytes)", limit))
}

func uploadErr(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
	}
	if errs.Is(err, errs.TooLarge) || errs.Is(err, errs.Invalid) {
		return err
	}
	return errs.E("ingest", errs.Invalid, "reading the upload: "+err.Error())
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ingest runs one ingest and records it in the metrics.
func (s *Server) ingest(ctx context.Context, p ingest.Params, body io.Reader, filename string, cod coding) (*ingest.Result, error) {
	start := time.Now()
	st := ingestStats{format: p.Format}
	res, err := s.ingest1(ctx, p, body, filename, cod, &st)
	s.metrics.done(&st, res, err, time.Since(start))
	return res, err
}

func (s *Server) ingest1(ctx context.Context, p ingest.Params, body io.Reader, filename string, cod coding, st *ingestStats) (*ingest.Result, error) {
	if cod.enc != "" && p.Format == convert.Parquet {
		return nil, compressedParquet(cod)
	}
	start := time.Now()
	ph := newPhases(start)
	id := newID()
	dir := filepath.Join(s.opts.TempDir, "ingest-"+id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.E("ingest", errs.Internal, err)
	}
	defer os.RemoveAll(dir)

	// 1. Stream the upload to a temp file.
	upload := filepath.Join(dir, "upload")
	sp, err := s.spool(body, upload, p.IdempotencyKey != "", cod)
	if err != nil {
		return nil, err
	}
	inBytes, head, bodySum := sp.wire, sp.head, sp.sum
	st.wire, st.decoded, st.spooled = sp.wire, sp.n, true
	ph.mark("spool")
	format := p.Format
	if format == "" {
		format = convert.DetectFormat(filename, head)
	}
	st.format = format
	if sp.coding.enc != "" && format == convert.Parquet {
		return nil, compressedParquet(sp.coding)
	}

	// With an Idempotency-Key: the key's earlier commit answers, if any
	// (idempotency.go). keyTop is the newest version looked at.
	var hash string
	var keyTop int64
	// replayed: a replay answers with this request's own input figures,
	// as the commit would have (input_bytes, content_encoding, decoded_bytes).
	replayed := func(res *ingest.Result, err error) (*ingest.Result, error) {
		if res != nil {
			res.ContentEncoding, res.DecodedBytes = sp.coding.enc, sp.decoded()
		}
		return res, err
	}
	if p.IdempotencyKey != "" {
		release, err := s.claimKey(p.Name, p.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		defer release()
		hash = requestHash(p, format, bodySum)
		found, top, err := s.findKey(ctx, p.Name, p.IdempotencyKey, 0, 0)
		if err != nil {
			return nil, err
		}
		if found != nil {
			return replayed(s.answerFound(ctx, p, found, hash, format, inBytes, 0, start))
		}
		keyTop = top
	}

	// 2. Wait for a conversion slot.
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, errs.E("ingest", errs.Unavailable, "ingest canceled while waiting for a conversion slot", ctx.Err())
	}
	defer func() { <-s.slots }()

	// 3. The base: the latest version for append.
	var base catalog.Dataset
	cur, err := s.opts.Catalog.Get(ctx, p.Name, 0)
	switch {
	case err == nil:
		base = cur
	case errs.Is(err, errs.NotFound):
	default:
		return nil, errs.E("ingest", errs.KindOf(err), "catalogd", err)
	}
	if p.IdempotencyKey != "" && base.Version > keyTop {
		// Versions committed since the look-up: the base must have been
		// looked at before a commit on it.
		found, _, err := s.findKey(ctx, p.Name, p.IdempotencyKey, keyTop, base.Version)
		if err != nil {
			return nil, err
		}
		if found != nil {
			return replayed(s.answerFound(ctx, p, found, hash, format, inBytes, 0, start))
		}
	}
	in := convert.Input{Path: upload, Format: format}
	if p.Mode == ingest.ModeAppend && base.Version > 0 {
		in.Schema = toConvert(base.Schema)
	}

	// 4. Convert, storing the part files as DuckDB writes them (published
	// only after release below; streamstore.go).
	ph.mark("wait")
	outDir := filepath.Join(dir, "out")
	var ss *streamStore
	if s.opts.StreamStore && socketUp(s.opts.StreamSocket) {
		ss = s.startStreamStore(ctx, p.Name, id, outDir)
		defer ss.abort()
	}
	conv, err := s.conv.Convert(ctx, in, outDir)
	if err != nil {
		return nil, err
	}
	os.Remove(upload) // free the disk early
	ph.mark("convert")

	// 5. Record the intent (a pending marker, renewed while this runs),
	// then upload (create-only) under a key of this ingest.
	intent, err := s.begin(ctx, p.Name, id, p.Mode)
	if err != nil {
		return nil, err
	}
	defer intent.end(ctx, false) // a return without settling leaves the marker
	if ss != nil {
		keys := map[string]string{}
		for i, f := range conv.Files {
			keys[f.Path] = partKey(p.Name, id, i)
		}
		ss.release(keys)
	}
	settle := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	}
	files := make([]catalog.File, 0, len(conv.Files))
	var uploaded []string
	streamed := 0
	// cleanup deletes this ingest's files after a failure; the marker goes
	// only when the failure is definite (nothing in flight can still land
	// or commit) and every file is gone, else the sweep finishes the job.
	cleanup := func(definite bool) {
		if ss != nil {
			ss.abort() // no streamed Put may land after the deletes
		}
		cctx, cancel := settle()
		defer cancel()
		intent.end(cctx, false)
		_, err := s.deletePrefix(cctx, IngestPrefix(p.Name, id), uploaded)
		if err != nil {
			s.retryCleanup("ingest cleanup", p.Name, id, uploaded, definite, err)
			return
		}
		if definite {
			intent.end(cctx, true)
		}
	}
	for i, f := range conv.Files {
		key := partKey(p.Name, id, i)
		if ss != nil && ss.stored(f.Path, key, f.Bytes) {
			streamed++ // stored while converting
		} else if err := s.put(ctx, key, f.Path, f.Bytes); err != nil {
			// A Put cut by a timeout may still land: keep the marker then.
			cleanup(errs.Is(err, errs.Invalid) || errs.Is(err, errs.Conflict))
			return nil, err
		}
		uploaded = append(uploaded, key)
		files = append(files, catalog.File{Key: key, Rows: f.Rows, Bytes: f.Bytes})
		if s.afterPut != nil {
			if err := s.afterPut(i); err != nil {
				return nil, err
			}
		}
	}
	schema := toCatalog(conv.Schema)
	ph.mark("store")

	// 6. Commit, retrying on conflict.
	ds, retries, sent, found, err := s.commit(ctx, p, hash, base, schema, files, intent.valid)
	if err == nil && found != nil {
		// The same key's commit won the version this one raced for: this
		// request's files are not needed (nothing of them was committed).
		cleanup(true)
		return replayed(s.answerFound(ctx, p, found, hash, conv.Format, inBytes, retries, start))
	}
	if err != nil {
		if sent {
			// The commit may have been written with its answer lost: the
			// files may belong to a version now. The sweep decides from the
			// catalog once the commit can no longer be in flight.
			s.log.Warn("commit outcome unknown; files and pending marker left for the sweep", "op", "ingest", "ingest", id, "idempotency_key", p.IdempotencyKey, "err", err.Error())
			how := "send it again with an " + ingest.IdempotencyKeyHeader + " next time; without one, check GET /v1/catalog/datasets/" + p.Name + "/versions before retrying, or the rows may be added twice"
			if p.IdempotencyKey != "" {
				how = "send the same request with the same " + ingest.IdempotencyKeyHeader + " again: it answers the version if it landed, or commits it if not"
			}
			return nil, errs.E("ingest", errs.KindOf(err), "the commit's outcome is unknown (its answer was lost; the version may have been written): "+how, err)
		}
		cleanup(true)
		return nil, err
	}
	cctx, cancel := settle()
	intent.end(cctx, true)
	cancel()
	ph.mark("commit")
	s.log.Info("ingest committed", append([]any{"op", "ingest", "dataset", p.Name, "version", ds.Version, "ingest", id,
		"input_bytes", inBytes, "bytes", conv.Bytes, "files", len(files), "files_stored_while_converting", streamed}, ph.attrs...)...)
	return &ingest.Result{
		Dataset: p.Name, Version: ds.Version, Mode: p.Mode, Format: conv.Format,
		Rows: conv.Rows, Bytes: conv.Bytes, InBytes: inBytes, Schema: schema, Files: files,
		ContentEncoding: sp.coding.enc, DecodedBytes: sp.decoded(),
		Retries: retries, ElapsedMS: float64(time.Since(start).Microseconds()) / 1000,
		IdempotencyKey: p.IdempotencyKey,
	}, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// spooled is what spool read: the bytes received (wire), the bytes
// written (n, decoded), the first decoded bytes (for format detection),
// the SHA-256 of the decoded bytes when hashed, and the coding decoded.
type spooled struct {
	wire, n int64
	head    []byte
	sum     []byte
	coding  coding
}

// decoded is the decoded size of a compressed upload, else 0.
func (sp spooled) decoded() int64 {
	if sp.coding.enc == "" {
		return 0
	}
	return sp.n
}

// compressedParquet refuses a gzip/zstd Parquet file: Parquet compresses
// inside, and ingestd never decodes one.
func compressedParquet(c coding) error {
	return errs.E("ingest", errs.Invalid, fmt.Sprintf("a %s-compressed Parquet file (%s): Parquet files are compressed inside; send the .parquet file as it is", c.enc, c.from))
}

// spool copies body into path, decoding it when cod says (or, with
// cod.sniff, when its first bytes are gzip's or zstd's), enforcing the
// upload limit on the bytes received and [ingestd].max_decompressed_bytes
// on the decoded ones. When hashed (a request with an Idempotency-Key) it
// returns the SHA-256 of every decoded byte (the request hash: the same
// rows sent compressed or not are the same request). Hashing runs on its
// own goroutine, beside the copy: on the spool's thread it doubled the
// spool's CPU time, and without a key nothing reads the hash (ADR-138).
func (s *Server) spool(body io.Reader, path string, hashed bool, cod coding) (spooled, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return spooled{}, errs.E("ingest", errs.Internal, err)
	}
	defer f.Close()
	limit := s.opts.MaxUploadBytes
	wire := newWireReader(body, limit)
	if cod.sniff {
		magic, err := wire.br.Peek(4)
		if err != nil && err != io.EOF {
			return spooled{}, uploadErr(err, limit)
		}
		if enc := sniffCoding(magic); enc != "" {
			cod = coding{enc: enc, from: "recognized by its first bytes"}
		}
	}
	sp := spooled{coding: cod}
	r := io.Reader(wire)
	if cod.enc != "" {
		dec, err := newDecoder(cod, wire, s.opts.MaxDecompressedBytes)
		if err != nil {
			return spooled{}, uploadErr(err, limit)
		}
		defer dec.Close()
		r = dec
	}
	var sum *asyncHash
	if hashed {
		sum = newAsyncHash()
		defer sum.stop()
		r = io.TeeReader(r, sum)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		// bufio keeps a read error met while peeking but its WriteTo (the
		// copy below) never returns it: answer it here.
		return spooled{}, uploadErr(err, limit)
	}
	head = append([]byte(nil), head...)
	// A UTF-8 byte order mark (Windows tools write one) is not data:
	// DuckDB's CSV reader skips it, its JSON reader refuses the file.
	var bom int64
	if bytes.HasPrefix(head, utf8BOM) {
		br.Discard(len(utf8BOM))
		head, bom = head[len(utf8BOM):], int64(len(utf8BOM))
	}
	n, err := io.Copy(spoolWriter{f}, br)
	n += bom
	if err != nil {
		if we := (*spoolWriteError)(nil); errors.As(err, &we) {
			return spooled{}, convert.DiskError("ingest", "spooling the upload", we.err)
		}
		return spooled{}, uploadErr(err, limit)
	}
	if limit > 0 && wire.n > limit {
		return spooled{}, tooLarge(limit)
	}
	if err := f.Close(); err != nil {
		return spooled{}, errs.E("ingest", errs.Internal, err)
	}
	sp.wire, sp.n, sp.head = wire.n, n, head
	if sum != nil {
		sp.sum = sum.sum()
	}
	return sp, nil
}

// asyncHash is a SHA-256 fed on its own goroutine: Write copies into one
// of four 1 MiB buffers and hands each full one over, so the writer waits
// only when the hash is four buffers behind.
type asyncHash struct {
	cur        []byte
	full, free chan []byte
	done       chan struct{}
	out        []byte
	closed     bool
}

const asyncHashBufs, asyncHashBuf = 4, 1 << 20

func newAsyncHash() *asyncHash {
	a := &asyncHash{full: make(chan []byte, asyncHashBufs), free: make(chan []byte, asyncHashBufs), done: make(chan struct{})}
	for range asyncHashBufs {
		a.free <- make([]byte, 0, asyncHashBuf)
	}
	go func() {
		defer close(a.done)
		h := sha256.New()
		for b := range a.full {
			h.Write(b)
			a.free <- b[:0]
		}
		a.out = h.Sum(nil)
	}()
	return a
}

func (a *asyncHash) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if a.cur == nil {
			a.cur = <-a.free
		}
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur, p = a.cur[:len(a.cur)+k], p[k:]
		if len(a.cur) == cap(a.cur) {
			a.full <- a.cur
			a.cur = nil
		}
	}
	return n, nil
}

// sum hands over the last buffer and waits for the hash of every byte written.
func (a *asyncHash) sum() []byte {
	if len(a.cur) > 0 {
		a.full <- a.cur
		a.cur = nil
	}
	a.stop()
	return a.out
}

// stop ends the goroutine (at most once).
func (a *asyncHash) stop() {
	if !a.closed {
		a.closed = true
		close(a.full)
		<-a.done
	}
}

// spoolWriter tells the temp file's write errors (ingestd's disk) from the
// upload's read errors (the client's): a full disk is not a bad upload.
type spoolWriter struct{ f *os.File }

type spoolWriteError struct{ err error }

func (e *spoolWriteError) Error() string { return e.err.Error() }
func (e *spoolWriteError) Unwrap() error { return e.err }

func (w spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &spoolWriteError{err}
	}
	return n, err
}

const parquetType = "application/vnd.apache.parquet"

func (s *Server) put(ctx context.Context, key, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return errs.E("ingest", errs.Internal, err)
	}
	defer f.Close()
	if _, err := s.opts.Store.Put(ctx, key, f, size, storage.PutOptions{CreateOnly: true, ContentType: parquetType}); err != nil {
		return errs.E("ingest", errs.KindOf(err), "storaged: uploading "+key, err)
	}
	return nil
}

// commit commits files on base; on a conflict it reloads the latest version
// and retries (an append still needs the same schema), with jittered backoff.
// Each attempt first checks valid (the ingest's lease). On an error, sent
// says whether the last commit request may have been written even so (its
// answer was not a refusal: a timeout, catalogd unreachable mid-request).
// With an Idempotency-Key (p.IdempotencyKey, hash) the key and hash go into
// the commit, and after a conflict the versions committed since base are
// looked at first: found is the version that holds the key (nothing was
// committed by this call then; ADR-123).
func (s *Server) commit(ctx context.Context, p ingest.Params, hash string, base catalog.Dataset, schema []catalog.Column, files []catalog.File, valid func() error) (ds catalog.Dataset, attempt int, sent bool, found *catalog.VersionInfo, err error) {
	backoff := 5 * time.Millisecond
	for attempt = 0; ; attempt++ {
		if err := valid(); err != nil {
			return catalog.Dataset{}, attempt, false, nil, err
		}
		req := catalog.CommitRequest{BaseVersion: base.Version, Mode: p.Mode, Schema: schema, Files: files,
			IdempotencyKey: p.IdempotencyKey, RequestHash: hash}
		ds, err := s.opts.Catalog.Commit(ctx, p.Name, req)
		if err == nil {
			return ds, attempt, false, nil, nil
		}
		if !errs.Is(err, errs.Conflict) || attempt >= s.opts.CommitRetries {
			if errs.Is(err, errs.Conflict) {
				return catalog.Dataset{}, attempt, false, nil, errs.E("ingest", errs.Conflict, fmt.Sprintf("dataset %q kept changing: gave up after %d commit attempts", p.Name, attempt+1), err)
			}
			return catalog.Dataset{}, attempt, mayHaveLanded(err), nil, errs.E("ingest", errs.KindOf(err), "catalogd: commit", err)
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(backoff)))
		select {
		case <-time.After(backoff/2 + time.Duration(n.Int64())):
		case <-ctx.Done():
			return catalog.Dataset{}, attempt, false, nil, errs.E("ingest", errs.Unavailable, "ingest canceled during commit", ctx.Err())
		}
		backoff = min(backoff*2, 500*time.Millisecond)
		latest, err := s.opts.Catalog.Get(ctx, p.Name, 0)
		switch {
		case err == nil:
		case errs.Is(err, errs.NotFound):
			latest = catalog.Dataset{}
		default:
			return catalog.Dataset{}, attempt, false, nil, errs.E("ingest", errs.KindOf(err), "catalogd", err)
		}
		if p.IdempotencyKey != "" {
			// The version that took base+1 may be this key's (another
			// ingestd, or the commit of an earlier try whose answer was
			// lost): look at every version since base before committing
			// on a newer one. A deleted dataset's latest (NotFound above)
			// is looked at too: the key may be in its tombstone's past.
			v, _, err := s.findKey(ctx, p.Name, p.IdempotencyKey, base.Version, latest.Version)
			if err != nil {
				return catalog.Dataset{}, attempt, false, nil, err
			}
			if v != nil {
				return catalog.Dataset{}, attempt, false, v, nil
			}
		}
		if p.Mode == ingest.ModeAppend && latest.Version > 0 && !sameSchema(latest.Schema, schema) {
			return catalog.Dataset{}, attempt, false, nil, errs.E("ingest", errs.Conflict, fmt.Sprintf("dataset %q changed schema during this append (now version %d); nothing was committed", p.Name, latest.Version))
		}
		base = latest
	}
}

// mayHaveLanded says whether a failed commit request may have been
// written even so. catalogd's refusals (invalid, not found, too large,
// unauthorized, forbidden) wrote nothing, and neither did a request that
// never left: a connect that failed (refused, no route, dial timeout)
// sent no byte. Anything else — an answer lost after the request went
// out, a timeout, catalogd's own 5xx — may have written the version.
func mayHaveLanded(err error) bool {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.NotFound, errs.TooLarge, errs.Unauthorized, errs.Forbidden:
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}

func sameSchema(a, b []catalog.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !strings.EqualFold(a[i].Type, b[i].Type) {
			return false
		}
	}
	return true
}

func toConvert(cols []catalog.Column) []convert.Column {
	out := make([]convert.Column, len(cols))
	for i, c := range cols {
		out[i] = convert.Column{Name: c.Name, Type: c.Type, Format: c.Format}
	}
	return out
}

func toCatalog(cols []convert.Column) []catalog.Column {
	out := make([]catalog.Column, len(cols))
	for i, c := range cols {
		out[i] = catalog.Column{Name: c.Name, Type: c.Type, Format: c.Format}
	}
	return out
}
