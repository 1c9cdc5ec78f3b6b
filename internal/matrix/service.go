package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	names "github.com/ollama/ollama/types/model"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix/keyword"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

// Deps are the services Matrix calls: in matrixd the HTTP clients of
// catalogd, queryd, embedd and vectord; in tests any implementation.
type Deps struct {
	Catalog catalog.Service
	Query   query.Service
	Embed   embed.Service
	Vectors vector.Service
}

// Options tune Matrix. Zero fields take the defaults.
type Options struct {
	Dir          string        // state and keyword files (required)
	BatchRows    int           // rows per embed + upsert call (default 2048)
	PageRows     int           // rows per queryd page (default 20,000)
	PollInterval time.Duration // catalog poll for new versions (default 10 s; < 0 disables)
	// RetryAfter is the first wait before the poll runs again a job that
	// failed on an outage (embedd, vectord, queryd or storage unavailable,
	// a full disk, a timeout); it doubles up to 10 min (default 30 s).
	RetryAfter time.Duration
	Model      string // embedding model ("" = embedd's default)
	// Depth is the candidate depth of each list before fusion
	// (default max(100, 4k)).
	Depth int
	// VectorWeight and KeywordWeight weight the RRF terms (default 1, 1).
	VectorWeight, KeywordWeight float64
	// PrefilterMax: a where predicate matching at most this many rows is
	// applied before ranking (exact); above, candidates are post-filtered
	// with growing depth (default 10,000).
	PrefilterMax int
	// ModelCheckEvery is how long the index status trusts embedd's model
	// listing (GET /v1/embed/models, one /api/tags on Ollama) when it
	// checks the weights of each index's model (ADR-124; default 5 s).
	ModelCheckEvery time.Duration
	// RowStoreBytes bounds the rows kept per index so that a search
	// without a where needs no Parquet scan through queryd (ADR-133;
	// default 256 MiB; < 0 keeps none). A dataset over it is hydrated
	// through queryd.
	RowStoreBytes int64
	Log           *slog.Logger
}

// defaultModelCheckEvery is Options.ModelCheckEvery's default.
var defaultModelCheckEvery = 5 * time.Second

// RRFK is the k constant of reciprocal rank fusion (Cormack et al. 2009).
const RRFK = 60

func (o Options) withDefaults() Options {
	if o.BatchRows <= 0 {
		o.BatchRows = 2048
	}
	if o.PageRows <= 0 {
		o.PageRows = 20_000
	}
	if o.PageRows < o.BatchRows {
		o.PageRows = o.BatchRows
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 30 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Second
	}
	if o.VectorWeight == 0 {
		o.VectorWeight = 1
	}
	if o.KeywordWeight == 0 {
		o.KeywordWeight = 1
	}
	if o.PrefilterMax <= 0 {
		o.PrefilterMax = 10_000
	}
	if o.ModelCheckEvery <= 0 {
		o.ModelCheckEvery = defaultModelCheckEvery
	}
	if o.RowStoreBytes == 0 {
		o.RowStoreBytes = defaultRowStoreBytes
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Matrix implements Service. Build jobs run in background goroutines, one
// at a time per dataset; searches never wait for them.
type Matrix struct {
	deps Deps
	opts Options
	ctx  context.Context // ends at Close: stops jobs and the poller
	stop context.CancelFunc
	wg   sync.WaitGroup
	// lock is Options.Dir's lock (shared.LockDir), taken by NewMatrix
	// before anything in Dir is read and released once Close has stopped
	// every job: a second matrixd on the same directory would write the
	// same state.json and keyword files and upsert into the same vectord
	// indexes from stale offsets.
	lock *shared.DirLock

	mu  sync.Mutex
	idx map[string]*dsIndex
	// names serializes Index and Drop of one dataset (lockName): a POST
	// that came during a DELETE wrote its state.json into the directory
	// the DELETE then removed, or the DELETE removed the vector index the
	// POST's build had just made (ADR-106).
	names map[string]*nameLock

	// models is embedd's model listing as the status last asked for it
	// (listedModels); modelsMu is held while it is asked.
	modelsMu sync.Mutex
	models   modelListing

	// storeSem lets one row store read (loadStore) run at a time: after a
	// restart every ready index starts one, and side by side they would
	// each scan their dataset through queryd at once (ADR-136).
	storeSem chan struct{}

	// metrics are matrixd's domain metrics (metrics.go), registered by New.
	metrics *metrics
}

// modelListing is embedd's model listing asked at at (models nil when
// embedd did not answer within modelListTimeout).
type modelListing struct {
	at     time.Time
	models []embed.ModelInfo
}

// modelListTimeout bounds the status's wait for embedd's model listing.
const modelListTimeout = 2 * time.Second

// nameLock is one dataset's Index/Drop lock; n counts its holders and
// waiters (the entry goes when it is 0).
type nameLock struct {
	mu sync.Mutex
	n  int
}

// lockName takes dataset's Index/Drop lock and returns its release.
func (m *Matrix) lockName(dataset string) func() {
	m.mu.Lock()
	l := m.names[dataset]
	if l == nil {
		l = &nameLock{}
		m.names[dataset] = l
	}
	l.n++
	m.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		if l.n--; l.n == 0 {
			delete(m.names, dataset)
		}
		m.mu.Unlock()
	}
}

var _ Service = (*Matrix)(nil)

// dsIndex is one dataset's index. mu guards every field.
type dsIndex struct {
	mu      sync.Mutex
	spec    IndexRequest // column names as in the schema
	status  IndexStatus
	kw      *keyword.Index // searchable; nil until the first build finishes
	files   []string       // file keys of status.Version
	rows    int64          // row count of status.Version
	idType  string         // DuckDB type of the id column
	columns []string       // every column of the dataset (for where)
	full    bool           // next job must rebuild (spec changed)
	// fullGen counts markFull calls: a job clears full only when no mark
	// came after its plan (a POST during the job changed the spec).
	fullGen uint64
	running bool
	again   bool
	// stopJob cancels the running job's context and jobDone is closed
	// when its goroutine ends (both set while running): Drop stops the
	// job and waits for it before removing anything (ADR-106).
	stopJob context.CancelFunc
	jobDone chan struct{}
	checked time.Time // last catalog check triggered by a search
	dropped bool
	// dropVectors: a POST found the vector index held by vectord
	// (ADR-095); the next job drops it and builds it again (ADR-103).
	// Kept in state.json until that job has dropped it (ADR-106).
	dropVectors bool
	gone        bool // the last job failed with the dataset not found
	// modelChange: a search or refresh found the embedding model answering
	// other dims than the vector index holds (ADR-112); vector and hybrid
	// searches are a 409, status shows it as vector_error, and the next
	// POST rebuilds in full. Cleared once a job embeds at the index's dims.
	// Kept in state.json.
	modelChange *modelChange
	// revAt is when status.ModelRevision was last set in this process
	// (zero: loaded from state.json): a model listing asked before it
	// may show the weights the index was built with replaced (ADR-124).
	revAt time.Time
	// retryAt: the last job failed on an outage; the poll runs it again
	// from then (zero: not retried by the poll). retries counts them.
	retryAt time.Time
	retries int
	// store is the rows of the served version, when read (ADR-133);
	// storeBusy while a read runs; storeTried is what the last read was
	// for (one read per version and keyword index).
	store      *rowStore
	storeBusy  bool
	storeTried storeKey
	storeErr   string // why the last read kept nothing ("" after one that did)
	// appended: the last job was an append (or compaction) refresh from
	// version from, whose first rows rows were those of from (zero after
	// a full build).
	appended appendedRows
	// waiting is the status's Waiting while the job waits for an
	// upstream that asked to be called again (upstream.go).
	waiting string
}

// persisted is <dir>/<dataset>/state.json.
type persisted struct {
	Spec    IndexRequest `json:"spec"`
	Status  IndexStatus  `json:"status"`
	Files   []string     `json:"files"`
	Rows    int64        `json:"rows"`
	IDType  string       `json:"id_type"`
	Columns []string     `json:"columns"`
	// RetryAt and Retries are dsIndex's retry schedule of a job failed on
	// an outage (absent: not retried, as in a state written before them),
	// so a restart resumes it instead of leaving the index failed.
	RetryAt time.Time `json:"retry_at,omitzero"`
	Retries int       `json:"retries,omitempty"`
	// Full: the next job must rebuild (a POST changed the spec); a
	// restart before that rebuild finished kept the old text (ADR-104).
	Full bool `json:"full,omitempty"`
	// DropVectors: the next job drops the vector index vectord held when
	// a POST came, and builds it again (ADR-103); a restart before that
	// job failed on the held index instead (ADR-106).
	DropVectors bool `json:"drop_vectors,omitempty"`
	// ModelChanged: the embedding model answered other dims than the
	// vector index holds (ADR-112); a restart keeps the 409s and the
	// POST's full rebuild.
	ModelChanged *modelChange `json:"model_changed,omitempty"`
}

// modelChange is what the embedding model answered when its dims no
// longer matched the vector index (ADR-112), or its weights (revision)
// or name did at the same dims (ADR-115). Revision is absent when
// embedd named none.
type modelChange struct {
	Model    string `json:"model"`
	Dims     int    `json:"dims"`
	Revision string `json:"revision,omitempty"`
}

// sameModelName reports whether two names embedd answered name one model
// by Ollama's rules (ADR-147): its name parser fills in the registry
// registry.ollama.ai, the namespace library and the tag latest, and every
// part is compared case-insensitively, so "library/M", "m" and
// "registry.ollama.ai/library/m:latest" are one model. Names Ollama would
// refuse compare as before: case-insensitively, without ":latest".
func sameModelName(a, b string) bool {
	if na, nb := names.ParseName(a), names.ParseName(b); na.IsValid() && nb.IsValid() {
		return na.EqualFold(nb)
	}
	norm := func(s string) string { return strings.TrimSuffix(strings.ToLower(s), ":latest") }
	return norm(a) == norm(b)
}

// modelDiffers reports whether vectors of model at revision rev are not
// comparable with an index built with indexModel at indexRev (same dims):
// both revisions known and different (the model pulled again with new
// weights), or another model whose revisions do not show the same
// weights ([embedd].default_model changed; an `ollama cp` alias has the
// same digest and does not differ). An unknown revision with the same
// name cannot be told apart and does not differ (ADR-115).
func modelDiffers(indexModel, indexRev, model, rev string) bool {
	if indexRev != "" && rev != "" {
		return indexRev != rev
	}
	return indexModel != "" && !sameModelName(indexModel, model)
}

// shortRev is a revision as `ollama list` shows a digest (12 digits).
func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// changeError is the error of a search or refresh (what) of dataset whose
// vector index holds dims-dim vectors of indexModel at indexRev while
// model now answers newDims at rev: dimsError when the dims differ, else
// the same conflict naming the weights (ADR-115).
func changeError(op, what, dataset string, dims int, indexModel, indexRev, model string, newDims int, rev string) error {
	if dims != newDims {
		return dimsError(op, what, dataset, dims, indexModel, model, newDims)
	}
	head := fmt.Sprintf("%s of dataset %q failed: its", what, dataset)
	if what == "" {
		head = fmt.Sprintf("dataset %q needs a rebuild: its", dataset)
	}
	instead := "the last version built stays served; "
	if op == "matrix.search" {
		instead = `search with mode "keyword" meanwhile, or `
	}
	of := func(m, r string) string {
		if r == "" {
			return fmt.Sprintf("%q (revision unknown)", m)
		}
		return fmt.Sprintf("%q (revision %s)", m, shortRev(r))
	}
	return errs.E(op, errs.Conflict, fmt.Sprintf("%s vector index %s holds %d-dim vectors of model %s but the embedding model now answers with %s, other weights of the same dims whose vectors do not compare with the index's (the model was pulled again with new weights or [embedd].default_model changed); %srebuild the index with the new model with POST %s (every row is embedded again)",
		head, VectorIndex(dataset), dims, of(indexModel, indexRev), of(model, rev), instead, IndexesPath))
}

// maxRetryWait is the longest wait between two retries of a job that
// failed on an outage.
const maxRetryWait = 10 * time.Minute

// VectorIndex is the vectord index of dataset.
func VectorIndex(dataset string) string { return "matrix." + dataset }

// NewMatrix loads the indexes saved under opts.Dir, resumes jobs that were
// interrupted and starts the catalog poller. Close stops them. opts.Dir is
// locked (shared.LockDir) until Close: a second Matrix on it, in this
// process or another, fails naming the holder's pid (errs.Unavailable).
func NewMatrix(deps Deps, opts Options) (*Matrix, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("matrix: Dir is required")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("matrix dir: %w", err)
	}
	lock, err := shared.LockDir(opts.Dir)
	if err != nil {
		return nil, errs.E("matrix.open", errs.Unavailable, err)
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Matrix{deps: deps, opts: opts, ctx: ctx, stop: stop, lock: lock, idx: map[string]*dsIndex{}, names: map[string]*nameLock{}, storeSem: make(chan struct{}, 1), metrics: newMetrics()}
	var resume []*dsIndex
	for _, e := range entries {
		if !e.IsDir() || catalog.ValidateName(e.Name()) != nil {
			continue
		}
		m.sweepTemps(e.Name())
		x, err := m.loadIndex(e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			// No state.json: the first save of a POST that never answered
			// (or the rest of a Drop); nothing was ever indexed.
			opts.Log.Warn("index directory without state.json; ignored", "op", "load", "dataset", e.Name())
			continue
		}
		if err != nil {
			// Reported, not dropped: it was missing from the list and a
			// search of it was a 404 as if it had never been created.
			opts.Log.Error("index state unreadable; rebuild it with POST /v1/matrix/indexes", "op", "load", "dataset", e.Name(), "err", err.Error())
			x = &dsIndex{spec: IndexRequest{Dataset: e.Name()}, status: IndexStatus{Dataset: e.Name(), State: StateFailed,
				Error: fmt.Sprintf("the index state in %s could not be read (%v); create the index again with POST %s", m.dir(e.Name()), err, IndexesPath)}}
		}
		m.idx[e.Name()] = x
		if x.status.State == StatePending || x.status.State == StateBuilding {
			resume = append(resume, x)
		}
	}
	for _, x := range resume {
		m.start(x)
	}
	// The rows of every served version are read now, not at its first
	// search (ADR-136); an index resumed above is read when its job ends.
	for _, x := range m.idx {
		m.maybeLoadStore(x)
	}
	if opts.PollInterval > 0 {
		m.wg.Add(1)
		go m.poll()
	}
	return m, nil
}

// Close stops the poller and running jobs and waits for them; Dir's lock
// is released once they have stopped (after Close returns when ctx ends
// first).
func (m *Matrix) Close(ctx context.Context) error {
	m.stop()
	done := make(chan struct{})
	go func() { m.wg.Wait(); m.lock.Unlock(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Matrix) dir(dataset string) string { return filepath.Join(m.opts.Dir, dataset) }

// sweepTemps removes the temp files of state.json and keyword.lhkw
// (writeAtomic, keyword.Save) that a process killed mid-write left in the
// dataset's directory; NewMatrix calls it before any job of its own runs.
func (m *Matrix) sweepTemps(dataset string) {
	for _, name := range []string{"state.json", "keyword.lhkw"} {
		left, err := filepath.Glob(filepath.Join(m.dir(dataset), name+".tmp-*"))
		if err != nil {
			continue
		}
		for _, f := range left {
			if err := os.Remove(f); err != nil {
				m.opts.Log.Warn("remove a left temp file", "op", "load", "dataset", dataset, "file", f, "err", err.Error())
			}
		}
	}
}

func (m *Matrix) loadIndex(dataset string) (*dsIndex, error) {
	b, err := os.ReadFile(filepath.Join(m.dir(dataset), "state.json"))
	if err != nil {
		return nil, err
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	// A state names its dataset; one copied from another directory would
	// be served under this name while searching and writing the other's
	// indexes.
	if p.Spec.Dataset != dataset {
		return nil, fmt.Errorf("state.json is of dataset %q, not %q", p.Spec.Dataset, dataset)
	}
	if err := p.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("state.json: %s", errs.Message(err))
	}
	x := &dsIndex{spec: p.Spec, status: p.Status, files: p.Files, rows: p.Rows, idType: p.IDType, columns: p.Columns, full: p.Full, dropVectors: p.DropVectors}
	if mc := p.ModelChanged; mc != nil && mc.Dims > 0 {
		x.modelChange = mc
	}
	if x.dropVectors {
		x.full = true // a new vector index holds no row: every row is embedded
	}
	if p.Status.Version > 0 {
		kw, err := keyword.Load(filepath.Join(m.dir(dataset), "keyword.lhkw"))
		if err != nil {
			// The spec is known: build the index again from scratch (it
			// was dropped from the list until someone POSTed it again).
			m.opts.Log.Error("keyword index unreadable; building the index again", "op", "load", "dataset", dataset, "err", err.Error())
			x.status = IndexStatus{Dataset: dataset, IDColumn: p.Spec.IDColumn, TextColumns: p.Spec.TextColumns, State: StatePending, Model: p.Status.Model}
			x.files, x.rows = nil, 0
			x.markFull()
			return x, nil
		}
		x.kw = kw
		x.status.Docs = kw.Len()
	}
	if x.status.State == StateBuilding {
		x.status.State = StatePending // interrupted: the job starts again
	}
	if x.status.State == StateFailed && !p.RetryAt.IsZero() {
		// Failed on an outage: the poll retries from RetryAt, at the
		// latest maxRetryWait from now (the clock may have been set back).
		x.retryAt = p.RetryAt
		if latest := time.Now().Add(maxRetryWait); x.retryAt.After(latest) {
			x.retryAt = latest
		}
		x.retries = min(max(p.Retries, 0), 64)
	}
	return x, nil
}

// save writes state.json atomically (x.mu held).
func (m *Matrix) saveState(x *dsIndex) error {
	p := persisted{Spec: x.spec, Status: x.status, Files: x.files, Rows: x.rows, IDType: x.idType, Columns: x.columns,
		RetryAt: x.retryAt, Retries: x.retries, Full: x.full, DropVectors: x.dropVectors,
		ModelChanged: x.modelChange}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(m.dir(x.spec.Dataset), "state.json"), b)
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	f.Close()
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// resolve maps the request's column names onto the schema (DuckDB column
// names are case-insensitive). Errors: Invalid naming the missing columns.
func resolve(req IndexRequest, schema []catalog.Column) (IndexRequest, string, []string, error) {
	byLower := map[string]catalog.Column{}
	var names []string
	for _, c := range schema {
		byLower[strings.ToLower(c.Name)] = c
		names = append(names, c.Name)
	}
	var missing []string
	out := IndexRequest{Dataset: req.Dataset}
	idCol, ok := byLower[strings.ToLower(req.IDColumn)]
	if !ok {
		missing = append(missing, "id_column "+req.IDColumn)
	}
	out.IDColumn = idCol.Name
	for _, c := range req.TextColumns {
		col, ok := byLower[strings.ToLower(c)]
		if !ok {
			missing = append(missing, "text column "+c)
			continue
		}
		out.TextColumns = append(out.TextColumns, col.Name)
	}
	if len(missing) > 0 {
		return out, "", nil, errs.Errorf("matrix.index", errs.Invalid, "dataset %s has no %s; its columns are %s",
			req.Dataset, strings.Join(missing, ", "), strings.Join(names, ", "))
	}
	return out, idCol.Type, names, nil
}

// Index implements Service.
func (m *Matrix) Index(ctx context.Context, req IndexRequest) (IndexStatus, error) {
	if err := req.Validate(); err != nil {
		return IndexStatus{}, err
	}
	d, err := m.deps.Catalog.Get(ctx, req.Dataset, 0)
	if err != nil {
		return IndexStatus{}, err
	}
	spec, idType, cols, err := resolve(req, d.Schema)
	if err != nil {
		return IndexStatus{}, err
	}
	// A vector index vectord holds is matrixd's own, built from the
	// dataset: a POST rebuilds it (ADR-103).
	held := m.heldVectors(ctx)[VectorIndex(req.Dataset)] != nil
	// After a DELETE of the dataset's index has finished (the lock), so
	// that it neither removes what this POST writes nor finds this POST's
	// index in the map.
	unlock := m.lockName(req.Dataset)
	defer unlock()
	m.mu.Lock()
	x := m.idx[req.Dataset]
	if x == nil {
		x = &dsIndex{spec: spec, status: IndexStatus{Dataset: spec.Dataset, State: StatePending}}
		m.idx[req.Dataset] = x
	}
	m.mu.Unlock()
	x.mu.Lock()
	if x.spec.IDColumn != spec.IDColumn || strings.Join(x.spec.TextColumns, "\x00") != strings.Join(spec.TextColumns, "\x00") {
		x.markFull()
	}
	x.spec, x.idType, x.columns = spec, idType, cols
	if held {
		x.markFull()
		x.dropVectors = true
	}
	if x.modelChange != nil && !x.full {
		// The model answers other dims than the vector index holds: the
		// POST is the way out the 409s name, a rebuild with the new model
		// (an append would be refused again, ADR-112).
		x.markFull()
	}
	x.status.Dataset, x.status.IDColumn, x.status.TextColumns = spec.Dataset, spec.IDColumn, spec.TextColumns
	if !x.running {
		// The previous job's figures are not the queued job's (they
		// were shown as if they were, ADR-149).
		x.status.State = StatePending
		x.status.setAside()
	}
	err = m.saveState(x)
	st := x.status
	x.mu.Unlock()
	if err != nil {
		return IndexStatus{}, errs.E("matrix.index", errs.Internal, err)
	}
	m.start(x)
	return st, nil
}

// start runs a job for x, or asks the running one to go again.
func (m *Matrix) start(x *dsIndex) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.running {
		x.again = true
		// A run is queued: the index is not ready at the version the
		// caller saw until it has ended (a job that just ended said ready
		// at its own, older version until the queued run said building).
		if x.status.State == StateReady {
			x.status.State = StatePending
		}
		return
	}
	if m.ctx.Err() != nil || x.dropped {
		return // a poll or search that took x before a Drop
	}
	ctx, cancel := context.WithCancel(m.ctx)
	done := make(chan struct{})
	x.running, x.stopJob, x.jobDone = true, cancel, done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		defer cancel()
		quick := 0 // quick retries in a row (upstream.go)
		for {
			err := m.job(ctx, x)
			x.mu.Lock()
			x.waiting = ""
			if x.dropped {
				m.metrics.jobs.WithLabelValues(jobStopped).Inc()
				// Drop stopped the job: nothing of it is kept (Drop
				// removes the directory once this goroutine has ended).
				x.running = false
				x.mu.Unlock()
				return
			}
			if err != nil && ctx.Err() == nil && !x.again && quick < maxQuickRetries {
				// An upstream only starting (vectord loading its indexes)
				// asked to be called again: soon, not as an outage (the
				// status said failed for 30 s or more). The state stays
				// as the job left it; Waiting says why nothing moves.
				if service, msg, wait, ok := upstreamStarting(err); ok {
					quick++
					m.metrics.waited(service)
					x.waiting = waitingText(service, msg, wait, quick)
					name := x.spec.Dataset
					x.mu.Unlock()
					m.opts.Log.Info("index job waits for an upstream that asked to be called again", "op", "index", "dataset", name,
						"service", service, "retry_in_ms", wait.Milliseconds(), "quick_retry", quick, "err", err.Error())
					t := time.NewTimer(wait)
					select {
					case <-ctx.Done(): // Drop or Close: the next try ends at once
					case <-t.C:
					}
					t.Stop()
					x.mu.Lock()
					x.waiting = "" // the job runs again
					x.mu.Unlock()
					continue
				}
			}
			quick = 0
			m.metrics.jobs.WithLabelValues(jobOutcome(err, x.again, m.ctx.Err() != nil)).Inc()
			x.gone = err != nil && errs.Is(err, errs.NotFound)
			x.retryAt = time.Time{}
			// A run is queued after this one (a POST came during it): a
			// failure of the plan made before the POST is not its answer
			// (the running append failed on the vector index the POST
			// found held and queued a drop for, and the status said failed
			// with vectord's message until the queued run began). The
			// index stays pending; the queued run's outcome is reported.
			superseded := err != nil && x.again && m.ctx.Err() == nil
			switch {
			case superseded:
				m.opts.Log.Warn("index job failed; the run queued during it follows", "op", "index", "dataset", x.spec.Dataset, "err", err.Error())
				x.status.State = StatePending
				x.status.Error = ""
				err = nil
			case err == nil || m.ctx.Err() != nil:
				x.retries = 0
			case errs.Is(err, errs.Unavailable) || errs.Is(err, errs.Timeout):
				// An outage, not the index's fault: the poll tries again,
				// backing off (it stayed failed until a POST).
				x.retryAt = time.Now().Add(min(m.opts.RetryAfter<<min(x.retries, 10), maxRetryWait))
				x.retries++
			default:
				x.retries = 0
			}
			if err != nil && m.ctx.Err() == nil {
				x.status.State = StateFailed
				x.status.Error = errs.Message(err)
				x.status.FinishedAt = time.Now().UTC()
				m.opts.Log.Error("index job failed", "op", "index", "dataset", x.spec.Dataset, "err", err.Error())
			}
			if m.ctx.Err() == nil {
				if err := m.saveState(x); err != nil {
					m.opts.Log.Error("save index state", "op", "index", "dataset", x.spec.Dataset, "err", err.Error())
				}
			}
			if !x.again || m.ctx.Err() != nil {
				x.running = false
				x.mu.Unlock()
				// The served version's rows are read now, so the first
				// searches after a build or refresh hydrate from memory
				// as soon as possible (ADR-136).
				if err == nil {
					m.maybeLoadStore(x)
				}
				return
			}
			x.again = false
			x.mu.Unlock()
		}
	}()
}

// poll checks the catalog for new versions of every index.
func (m *Matrix) poll() {
	defer m.wg.Done()
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		for _, x := range m.snapshot() {
			m.checkVersion(x)
		}
	}
}

func (m *Matrix) snapshot() []*dsIndex {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*dsIndex, 0, len(m.idx))
	for _, x := range m.idx {
		out = append(out, x)
	}
	return out
}

// checkVersion starts a refresh when the catalog has a newer version than
// the one indexed (or the dataset is gone: then the index empties).
func (m *Matrix) checkVersion(x *dsIndex) {
	x.mu.Lock()
	name, have, running := x.spec.Dataset, x.status.Version, x.running
	retry := !x.retryAt.IsZero() && !time.Now().Before(x.retryAt)
	x.mu.Unlock()
	if running {
		return
	}
	if retry {
		m.start(x) // a job failed on an outage: again, with backoff
		return
	}
	if have == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	defer cancel()
	// The latest version's number alone (ADR-136: the dataset GET carried
	// every file's key, every poll and every 2 s of searches).
	latest, err := m.latestVersion(ctx, name)
	if err == nil && latest == 0 {
		err = errs.Errorf("matrix.poll", errs.NotFound, "dataset %q is deleted", name)
	}
	switch {
	case errs.Is(err, errs.NotFound):
		x.mu.Lock()
		known := x.gone && x.status.State == StateFailed
		x.mu.Unlock()
		if known {
			return // already failed on it: not again every poll; POST /v1/matrix/indexes retries
		}
		m.start(x) // the job sees the dataset gone and fails, keeping the old index
	case err != nil:
		m.opts.Log.Warn("catalog poll", "op", "poll", "dataset", name, "err", err.Error())
	case latest != have:
		x.mu.Lock()
		failedAt := x.status.TargetVersion
		failed := x.status.State == StateFailed
		x.mu.Unlock()
		if failed && failedAt == latest {
			return // do not retry a failed version in a loop; POST /v1/matrix/indexes retries
		}
		m.start(x)
	}
}

// maybeRefresh is the search-time trigger: at most every 2 s per dataset.
func (m *Matrix) maybeRefresh(x *dsIndex) {
	x.mu.Lock()
	due := time.Since(x.checked) > 2*time.Second
	if due {
		x.checked = time.Now()
	}
	x.mu.Unlock()
	if due {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.checkVersion(x) }()
	}
}

// Status implements Service.
func (m *Matrix) Status(ctx context.Context, dataset string) (IndexStatus, error) {
	if err := catalog.ValidateName(dataset); err != nil {
		return IndexStatus{}, err
	}
	m.mu.Lock()
	x := m.idx[dataset]
	m.mu.Unlock()
	if x == nil {
		return IndexStatus{}, errs.Errorf("matrix.status", errs.NotFound, "dataset %q has no search index; create it with POST %s", dataset, IndexesPath)
	}
	// vectord's list and embedd's model listing are asked side by side:
	// the status waits at most about 2 s for both.
	// So is the catalog's latest version, when rows are kept (ADR-147).
	var listing modelListing
	var latest map[*dsIndex]keptAndLatest
	done := make(chan struct{}, 2)
	check := x.wantsModelCheck()
	go func() {
		defer func() { done <- struct{}{} }()
		if check {
			listing = m.listedModels(ctx)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		latest = m.latestVersions(ctx, []*dsIndex{x})
	}()
	held := m.heldVectors(ctx)
	<-done
	<-done
	if held[VectorIndex(dataset)] == nil && check {
		m.checkModel(x, listing)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.statusLocked()
	st.VectorError = held[VectorIndex(dataset)]
	if st.VectorError == nil {
		st.VectorError = x.modelVectorError()
	}
	if kl, ok := latest[x]; ok {
		st.RowStore.markStale(kl)
	}
	return st, nil
}

// storeCheckTimeout bounds the catalog questions of a status or list
// about the datasets whose rows are kept (latestVersions).
const storeCheckTimeout = 2 * time.Second

// keptAndLatest is, for an index whose rows are kept, the version kept
// when the catalog was asked and the catalog's latest version (0: the
// dataset is deleted).
type keptAndLatest struct{ kept, latest int64 }

// latestVersions is the catalog's latest version of every index of xs
// whose rows are kept (row_store kept), asked side by side, at most 8 at
// a time, within storeCheckTimeout: an index the catalog did not answer
// for is missing (its row_store says kept, as before). Each question is
// the one-version page a search asks (ADR-136, about 160 bytes).
func (m *Matrix) latestVersions(ctx context.Context, xs []*dsIndex) map[*dsIndex]keptAndLatest {
	ctx, cancel := context.WithTimeout(ctx, storeCheckTimeout)
	defer cancel()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[*dsIndex]keptAndLatest{}
		sem = make(chan struct{}, 8)
	)
	for _, x := range xs {
		x.mu.Lock()
		kept := x.keptLocked()
		name, version := x.spec.Dataset, x.status.Version
		x.mu.Unlock()
		if !kept {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			v, err := m.latestVersion(ctx, name)
			if err != nil {
				return
			}
			mu.Lock()
			out[x] = keptAndLatest{version, v}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// markStale turns a kept row_store into stale when the catalog's latest
// version of the dataset (0: deleted), asked while the rows of version
// kl.kept were kept, is not that version: searches do not use those rows
// (freshStore) until the refresh serves the new version and its rows are
// read (ADR-147). Before, it said kept until then. When other rows are
// kept by now, the answer is about the rows before: nothing is changed.
func (rs *RowStoreStatus) markStale(kl keptAndLatest) {
	latest := kl.latest
	if rs == nil || rs.State != RowStoreKept || rs.Version != kl.kept || latest == rs.Version {
		return
	}
	rs.State, rs.LatestVersion = RowStoreStale, latest
	if latest == 0 {
		rs.Reason = "the dataset is deleted; searches do not use these rows"
		return
	}
	rs.Reason = fmt.Sprintf("the rows kept are of version %d, the dataset is at version %d; searches hydrate through queryd until the index serves version %d and its rows are read", rs.Version, latest, latest)
}

// vectorLister is vectord's whole list (vector.Client, vector.Store).
type vectorLister interface {
	ListAll(ctx context.Context) (vector.ListResponse, error)
}

// heldVectors is the indexes vectord holds (ADR-095) by name, each with
// the error its routes answer; nil when vectord cannot be asked within 2 s
// (then nothing is known, and nothing is said).
func (m *Matrix) heldVectors(ctx context.Context) map[string]*VectorError {
	l, ok := m.deps.Vectors.(vectorLister)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	res, err := l.ListAll(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]*VectorError, len(res.Unreadable))
	for _, u := range res.Unreadable {
		out[u.Name] = &VectorError{Index: u.Name, Kind: u.Error.Kind, Message: u.Error.Message}
	}
	return out
}

// listedModels is embedd's model listing, asked at most once per
// Options.ModelCheckEvery (each asking is one GET /api/tags on Ollama,
// plus an /api/show per digest embedd has not seen) and waited for at
// most modelListTimeout; a failure is kept as long, so a status poll
// never hammers embedd or Ollama. Concurrent callers share one asking.
func (m *Matrix) listedModels(ctx context.Context) modelListing {
	return m.askModels(ctx, false)
}

// askModels is listedModels; fresh asks embedd even when the listing kept
// is recent.
func (m *Matrix) askModels(ctx context.Context, fresh bool) modelListing {
	m.modelsMu.Lock()
	defer m.modelsMu.Unlock()
	if !fresh && !m.models.at.IsZero() && time.Since(m.models.at) < m.opts.ModelCheckEvery {
		return m.models
	}
	asked := time.Now()
	lctx, cancel := context.WithTimeout(ctx, modelListTimeout)
	defer cancel()
	res, err := m.deps.Embed.Models(lctx)
	if err != nil {
		if ctx.Err() != nil {
			return modelListing{} // the caller left: nothing learned
		}
		m.models = modelListing{at: asked}
		return m.models
	}
	m.models = modelListing{at: asked, models: res.Models}
	return m.models
}

// name is the index's dataset.
func (x *dsIndex) name() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.spec.Dataset
}

// wantsModelCheck reports whether the status should ask embedd about the
// index's model: its vector index has a model revision and no model
// change is known yet.
func (x *dsIndex) wantsModelCheck() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.modelChange == nil && !x.dropped && x.status.Dims > 0 && x.status.ModelRevision != ""
}

// checkModel records a model change (ADR-112, ADR-115) that embedd's
// listing l shows: the index's model listed with another revision than
// the index was built with (pulled again with new weights). Before, the
// status showed it only once a search or a refresh had met it, up to
// embedd's digest TTL after that (ADR-124). A listing asked before the
// index's revision was recorded says nothing about it.
func (m *Matrix) checkModel(x *dsIndex, l modelListing) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.modelChange != nil || x.dropped || x.status.Dims <= 0 || x.status.ModelRevision == "" || !l.at.After(x.revAt) {
		return
	}
	for _, mi := range l.models {
		if mi.Revision == "" || !sameModelName(mi.Name, x.status.Model) {
			continue
		}
		if mi.Revision != x.status.ModelRevision {
			dims := mi.Dims
			if dims <= 0 {
				dims = x.status.Dims
			}
			m.noteModelChange(x, x.status.Model, dims, mi.Revision)
		}
		return
	}
}

// heldError is the error of a job or search of dataset whose vector index
// vectord holds (ADR-103).
func heldError(op string, kind errs.Kind, status int, dataset string, ve *VectorError, what string) error {
	keyword := ""
	if op == "matrix.search" {
		keyword = `search with mode "keyword" meanwhile (the keyword index is served), or `
	}
	return errs.E(op, kind, status, fmt.Sprintf("%s of dataset %q failed: vectord holds its vector index %s and cannot serve it (%s); %srebuild the index from the dataset with POST %s (matrixd drops the held vector index and embeds every row again), or restore vectord's snapshot object from a backup (vectord reads it again on the next request, ADR-105)",
		what, dataset, ve.Index, ve.Message, keyword, IndexesPath))
}

// dimsError is the error of a search or refresh (what) of dataset whose
// vector index holds dims-dim vectors of indexModel while model now
// answers newDims (ADR-112): a conflict between the index and the model,
// not the caller's fault. what "" is status's wording (nothing failed yet).
func dimsError(op, what, dataset string, dims int, indexModel, model string, newDims int) error {
	head := fmt.Sprintf("%s of dataset %q failed: its", what, dataset)
	if what == "" {
		head = fmt.Sprintf("dataset %q needs a rebuild: its", dataset)
	}
	instead := "the last version built stays served; "
	if op == "matrix.search" {
		instead = `search with mode "keyword" meanwhile, or `
	}
	return errs.E(op, errs.Conflict, fmt.Sprintf("%s vector index %s holds %d-dim vectors of model %q but the embedding model %q now answers %d-dim vectors (the model was replaced or [embedd].default_model changed); %srebuild the index with the new model with POST %s (every row is embedded again)",
		head, VectorIndex(dataset), dims, indexModel, model, newDims, instead, IndexesPath))
}

// noteModelChange records that model answered newDims at revision rev,
// not what the vector index holds (x.mu held), in state.json too.
func (m *Matrix) noteModelChange(x *dsIndex, model string, newDims int, rev string) {
	if mc := x.modelChange; mc != nil && mc.Model == model && mc.Dims == newDims && mc.Revision == rev {
		return
	}
	x.modelChange = &modelChange{Model: model, Dims: newDims, Revision: rev}
	m.opts.Log.Warn("embedding model answers other dims or weights than the vector index; POST /v1/matrix/indexes rebuilds", "op", "index",
		"dataset", x.spec.Dataset, "index_model", x.status.Model, "index_dims", x.status.Dims, "index_revision", x.status.ModelRevision,
		"model", model, "model_dims", newDims, "model_revision", rev)
	if x.dropped {
		return
	}
	if err := m.saveState(x); err != nil {
		m.opts.Log.Warn("save index state", "op", "index", "dataset", x.spec.Dataset, "err", err.Error())
	}
}

// modelVectorError is status's vector_error for a model change (x.mu
// held; nil when there is none).
func (x *dsIndex) modelVectorError() *VectorError {
	mc := x.modelChange
	if mc == nil {
		return nil
	}
	err := changeError("matrix.index", "", x.spec.Dataset, x.status.Dims, x.status.Model, x.status.ModelRevision, mc.Model, mc.Dims, mc.Revision)
	return &VectorError{Index: VectorIndex(x.spec.Dataset), Kind: errs.Conflict, Message: errs.Message(err)}
}

// markFull makes the next job a full rebuild (x.mu held); a job running
// now does not clear the mark (ADR-104).
func (x *dsIndex) markFull() {
	x.full = true
	x.fullGen++
}

func (x *dsIndex) statusLocked() IndexStatus {
	st := x.status
	st.Waiting = x.waiting
	if x.kw != nil {
		st.Docs = x.kw.Len()
		st.RowStore = x.rowStoreStatus()
	}
	return st
}

// keptLocked reports whether x keeps the rows of the version it serves
// (x.mu held).
func (x *dsIndex) keptLocked() bool {
	s := x.store
	return s != nil && x.kw != nil && s.version == x.status.Version && s.kw == x.kw
}

// rowStoreStatus is status's row_store (x.mu held; ADR-136).
func (x *dsIndex) rowStoreStatus() *RowStoreStatus {
	if x.keptLocked() {
		s := x.store
		return &RowStoreStatus{State: RowStoreKept, Version: s.version, Rows: s.n, Bytes: s.size}
	}
	if x.storeBusy {
		return &RowStoreStatus{State: RowStoreReading, Version: x.status.Version}
	}
	reason := x.storeErr
	if reason == "" {
		reason = "not read yet"
	}
	return &RowStoreStatus{State: RowStoreNone, Reason: reason}
}

// List implements Service.
func (m *Matrix) List(ctx context.Context) ([]IndexStatus, error) {
	out := []IndexStatus{}
	xs := m.snapshot()
	check := false
	for _, x := range xs {
		check = check || x.wantsModelCheck()
	}
	var listing modelListing
	var latest map[*dsIndex]keptAndLatest
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		if check {
			listing = m.listedModels(ctx)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		latest = m.latestVersions(ctx, xs)
	}()
	held := m.heldVectors(ctx)
	<-done
	<-done
	for _, x := range xs {
		if check && held[VectorIndex(x.name())] == nil {
			m.checkModel(x, listing)
		}
	}
	for _, x := range xs {
		x.mu.Lock()
		st := x.statusLocked()
		ve := x.modelVectorError()
		x.mu.Unlock()
		st.VectorError = held[VectorIndex(st.Dataset)]
		if st.VectorError == nil {
			st.VectorError = ve
		}
		if kl, ok := latest[x]; ok {
			st.RowStore.markStale(kl)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset < out[j].Dataset })
	return out, nil
}

// Drop implements Service.
func (m *Matrix) Drop(ctx context.Context, dataset string) error {
	if err := catalog.ValidateName(dataset); err != nil {
		return err
	}
	unlock := m.lockName(dataset)
	defer unlock()
	m.mu.Lock()
	x := m.idx[dataset]
	delete(m.idx, dataset)
	m.mu.Unlock()
	if x == nil {
		return errs.Errorf("matrix.drop", errs.NotFound, "dataset %q has no search index", dataset)
	}
	x.mu.Lock()
	x.dropped = true
	x.kw = nil
	stop, done := x.stopJob, x.jobDone
	if !x.running {
		done = nil
	}
	x.mu.Unlock()
	if done != nil {
		// A running job would go on upserting into the vectord index and
		// write its keyword file and state.json after the removal below
		// (into the index of a POST that follows): stop it and wait. Every
		// call it makes ends with its context.
		stop()
		<-done
	}
	if err := os.RemoveAll(m.dir(dataset)); err != nil {
		return errs.E("matrix.drop", errs.Internal, err)
	}
	if err := m.deps.Vectors.DeleteIndex(ctx, VectorIndex(dataset)); err != nil && !errs.Is(err, errs.NotFound) {
		return err
	}
	return nil
}

// idTypeRE accepts DuckDB type names safe to inline in CAST($n AS T).
var idTypeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_ ]{0,40}(\([0-9]{1,3}(, ?[0-9]{1,3})?\))?$`)

// idParam renders placeholder $n compared against the id column.
func idParam(idType string, n int) string {
	if idTypeRE.MatchString(idType) {
		return fmt.Sprintf("CAST($%d AS %s)", n, idType)
	}
	return fmt.Sprintf("$%d", n)
}

func (m *Matrix) finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
