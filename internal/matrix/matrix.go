// Package matrix is the contract of matrixd (:3218), hybrid search over
// datasets: the request/response types of POST /v1/matrix/indexes,
// GET /v1/matrix/indexes[/{dataset}] and POST /v1/matrix/search, the
// Service interface, the route constants and the typed Client that tests
// and other daemons use. Matrix (service.go) implements Service over the
// other daemons' clients: catalogd (versions and files), queryd (rows, by
// keyset pages and by id), embedd (vectors), vectord (one index per dataset,
// "matrix.<dataset>", metadata {"id"}), plus a BM25 keyword index per
// dataset (matrix/keyword) persisted under [matrixd].dir. server.go holds
// the routes and the daemon constructor New.
//
// Search: the vector list (vectord k-NN of the embedded query) and the
// keyword list (BM25) are fused by reciprocal rank fusion,
// score = sum over lists of 1/(60 + rank) (ADR-031); rows are hydrated from
// queryd by id, so a row deleted or replaced since indexing never shows. A
// "where" predicate is compiled by CompileWhere (ADR-032) and applied
// through queryd to that dataset's rows only.
//
// The embedding model behind a vector index is checked against every
// answer of embedd: its dims (ADR-112) and its weights, the "revision"
// embedd names (Ollama's digest, builtin's hash; recorded as the status's
// model_revision, ADR-115). A search whose query vector comes from other
// weights than the index is a 409 (it would rank at random), an append
// embedded with other weights or another model is refused whole, both
// recorded in state.json, and POST /v1/matrix/indexes rebuilds. The
// revision comes with the query's embedding, so the check costs no round
// trip; it sees a re-pull once embedd does (ollama.DefaultDigestTTL, 5 s).
// The index status asks embedd's model listing (at most once per
// Options.ModelCheckEvery, 5 s, for all status calls together) and shows
// a re-pull before any search or refresh has met it; a full build asks it
// first, so its revision is the weights it embeds with (ADR-124).
//
// A full build whose vector index holds more vectors than the served
// keyword index and the written-ids journal account for (ids left by a
// matrixd older than the journal, ADR-121) starts from an empty vector
// index, so it ends holding exactly the rows it wrote (ADR-124).
package matrix

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
)

// Routes of matrixd.
const (
	IndexesPath = "/v1/matrix/indexes"
	SearchPath  = "/v1/matrix/search"
)

// Index states.
const (
	StatePending  = "pending"
	StateBuilding = "building"
	StateReady    = "ready"
	StateFailed   = "failed"
)

// Search modes.
const (
	ModeHybrid  = "hybrid"
	ModeVector  = "vector"
	ModeKeyword = "keyword"
)

// Limits of a search.
const (
	DefaultK = 10
	MaxK     = 1000
)

// IndexRequest is the body of POST /v1/matrix/indexes.
type IndexRequest struct {
	Dataset     string   `json:"dataset"`
	IDColumn    string   `json:"id_column"`
	TextColumns []string `json:"text_columns"`
}

// Validate checks the request on its own (columns against the schema later).
func (r *IndexRequest) Validate() error {
	var problems []string
	if err := catalog.ValidateName(r.Dataset); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if strings.TrimSpace(r.IDColumn) == "" {
		problems = append(problems, "id_column: required")
	}
	if len(r.TextColumns) == 0 {
		problems = append(problems, "text_columns: at least one column is required")
	}
	seen := map[string]bool{}
	for i, c := range r.TextColumns {
		switch {
		case strings.TrimSpace(c) == "":
			problems = append(problems, fmt.Sprintf("text_columns[%d]: empty", i))
		case seen[strings.ToLower(c)]:
			problems = append(problems, fmt.Sprintf("text_columns[%d] %q: listed twice", i, c))
		}
		seen[strings.ToLower(c)] = true
	}
	if len(problems) > 0 {
		return errs.E("matrix.index", errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// IndexStatus is the state of one dataset's search index
// (GET /v1/matrix/indexes/{dataset}).
type IndexStatus struct {
	Dataset     string   `json:"dataset"`
	IDColumn    string   `json:"id_column"`
	TextColumns []string `json:"text_columns"`
	// State is pending (queued), building (a job runs), ready or failed.
	// A failed refresh keeps serving the last version that was built.
	State string `json:"state"`
	// Version is the dataset version searches see (0: none built yet).
	Version int64 `json:"version"`
	// TargetVersion is the version the running or last job builds.
	TargetVersion int64 `json:"target_version,omitempty"`
	// Refresh is what the running or last job does: full or append (only
	// rows after the indexed ones; also across compactions, which keep
	// every row in place: a compaction alone reads none).
	Refresh   string `json:"refresh,omitempty"`
	RowsDone  int64  `json:"rows_done"`
	RowsTotal int64  `json:"rows_total"`
	// Docs is the number of rows searchable by keyword.
	Docs int `json:"docs"`
	// Skipped counts rows of the last job that are not searchable: no text
	// in any text column, or an id vectord cannot hold (empty, or longer
	// than 1024 bytes as text; matrixd logs the first one's prefix).
	Skipped int64  `json:"skipped,omitempty"`
	Model   string `json:"model,omitempty"`
	Dims    int    `json:"dims,omitempty"`
	// ModelRevision names the weights of Model the vector index was built
	// with: the "revision" of embedd's answers (Ollama's digest, builtin's
	// hash). Absent when unknown (an index built before matrixd recorded
	// it, or an Ollama model /api/tags does not list); such an index
	// adopts the revision of the first answer of its model and dims
	// (ADR-115).
	ModelRevision string    `json:"model_revision,omitempty"`
	Error         string    `json:"error,omitempty"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	// RowsPerSec is the rate of the running or last job.
	RowsPerSec float64 `json:"rows_per_sec,omitempty"`
	// VectorError is set while vectord holds the dataset's vector index
	// (ADR-095: a damaged snapshot or log record): vector and hybrid
	// searches fail with it, keyword searches work, and POST IndexesPath
	// rebuilds the index (ADR-103). Absent otherwise, and when vectord
	// cannot be asked.
	VectorError *VectorError `json:"vector_error,omitempty"`
	// RowStore says whether the rows of Version are kept in matrixd's
	// memory for search (ADR-133, ADR-136); absent before the first build.
	// Never saved in state.json.
	RowStore *RowStoreStatus `json:"row_store,omitempty"`
	// PreviousJob holds the figures of the job before, from a POST that
	// queues a job until that job starts building (ADR-149): while the
	// index is pending, target_version, refresh, rows_done, rows_total,
	// skipped, rows_per_sec, started_at, finished_at, updated_at and error
	// above are of no job yet (zero, or absent). A job that finds nothing
	// to build puts them back above. Absent otherwise.
	PreviousJob *JobFigures `json:"previous_job,omitempty"`
	// Waiting says what the running job waits for: an upstream that
	// answered 503 with Retry-After (vectord loading its indexes after a
	// start) is asked again after it, within 1-5 s, up to 30 times in a
	// row, the state staying as it was (not failed). Absent otherwise.
	// Never saved in state.json.
	Waiting string `json:"waiting,omitempty"`
}

// JobFigures is an index status's previous_job (ADR-149): what the job
// before the queued one built, with the fields of the same names.
type JobFigures struct {
	TargetVersion int64     `json:"target_version,omitempty"`
	Refresh       string    `json:"refresh,omitempty"`
	RowsDone      int64     `json:"rows_done"`
	RowsTotal     int64     `json:"rows_total"`
	Skipped       int64     `json:"skipped,omitempty"`
	RowsPerSec    float64   `json:"rows_per_sec,omitempty"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	Error         string    `json:"error,omitempty"`
}

// setAside moves the last job's figures into PreviousJob and clears them
// (a POST queued a job, ADR-149); figures already set aside stay when no
// job has run since.
func (s *IndexStatus) setAside() {
	f := JobFigures{TargetVersion: s.TargetVersion, Refresh: s.Refresh, RowsDone: s.RowsDone, RowsTotal: s.RowsTotal,
		Skipped: s.Skipped, RowsPerSec: s.RowsPerSec, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		UpdatedAt: s.UpdatedAt, Error: s.Error}
	if f != (JobFigures{}) {
		s.PreviousJob = &f
	}
	s.TargetVersion, s.Refresh, s.RowsDone, s.RowsTotal, s.Skipped, s.RowsPerSec = 0, "", 0, 0, 0, 0
	s.StartedAt, s.FinishedAt, s.UpdatedAt, s.Error = time.Time{}, time.Time{}, time.Time{}, ""
}

// putBack undoes setAside: the queued job found nothing to build, so the
// job before is still the index's last.
func (s *IndexStatus) putBack() {
	f := s.PreviousJob
	if f == nil {
		return
	}
	s.TargetVersion, s.Refresh, s.RowsDone, s.RowsTotal, s.Skipped, s.RowsPerSec = f.TargetVersion, f.Refresh, f.RowsDone, f.RowsTotal, f.Skipped, f.RowsPerSec
	s.StartedAt, s.FinishedAt, s.UpdatedAt = f.StartedAt, f.FinishedAt, f.UpdatedAt
	s.PreviousJob = nil
}

// RowStoreStatus is an index status's row_store (ADR-136).
type RowStoreStatus struct {
	// State is kept (a search without a where at Version reads no
	// Parquet), stale (the rows of Version are kept, but the catalog's
	// latest version is another, LatestVersion, or the dataset is
	// deleted: searches hydrate through queryd until the refresh serves
	// the new version and its rows are read; ADR-147), reading (being
	// read; searches hydrate through queryd meanwhile) or none (Reason
	// says why).
	State string `json:"state"`
	// Version is the dataset version kept or being read.
	Version int64 `json:"version,omitempty"`
	// LatestVersion is the catalog's latest version of the dataset when
	// State is stale (absent when the dataset is deleted).
	LatestVersion int64 `json:"latest_version,omitempty"`
	// Rows is the ids kept; Bytes what they count against
	// [matrixd].row_store_bytes.
	Rows   int64  `json:"rows,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RowStoreStatus states.
const (
	RowStoreKept    = "kept"
	RowStoreStale   = "stale"
	RowStoreReading = "reading"
	RowStoreNone    = "none"
)

// VectorError is the error vectord answers for every route on a held
// vector index (vector.Unreadable), with the index's name.
type VectorError struct {
	Index   string    `json:"index"`
	Kind    errs.Kind `json:"kind"`
	Message string    `json:"message"`
}

// ListResponse is GET /v1/matrix/indexes.
type ListResponse struct {
	Indexes []IndexStatus `json:"indexes"`
}

// SearchRequest is the body of POST /v1/matrix/search.
type SearchRequest struct {
	Query string `json:"query"`
	// Datasets to search; empty = every indexed dataset.
	Datasets []string `json:"datasets,omitempty"`
	K        int      `json:"k,omitempty"`    // default 10, at most 1000
	Mode     string   `json:"mode,omitempty"` // hybrid (default) | vector | keyword
	// Where is a SQL predicate over the dataset's columns (see CompileWhere).
	Where string `json:"where,omitempty"`
}

// Validate checks the request and fills defaults.
func (r *SearchRequest) Validate() error {
	var problems []string
	if strings.TrimSpace(r.Query) == "" {
		problems = append(problems, "query: empty")
	}
	if len(r.Query) > 8192 {
		problems = append(problems, "query: longer than 8192 bytes")
	}
	switch {
	case r.K == 0:
		r.K = DefaultK
	case r.K < 0 || r.K > MaxK:
		problems = append(problems, fmt.Sprintf("k %d: want 1..%d", r.K, MaxK))
	}
	switch r.Mode {
	case "":
		r.Mode = ModeHybrid
	case ModeHybrid, ModeVector, ModeKeyword:
	default:
		problems = append(problems, fmt.Sprintf("mode %q: want hybrid, vector or keyword", r.Mode))
	}
	seen := map[string]bool{}
	for i, d := range r.Datasets {
		if err := catalog.ValidateName(d); err != nil {
			problems = append(problems, fmt.Sprintf("datasets[%d]: %s", i, errs.Message(err)))
		}
		if seen[d] {
			problems = append(problems, fmt.Sprintf("datasets[%d] %q: listed twice", i, d))
		}
		seen[d] = true
	}
	if len(problems) > 0 {
		return errs.E("matrix.search", errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// Ranks are a result's 1-based positions in the vector and keyword lists of
// its dataset; null when it is not in that list.
type Ranks struct {
	Vector  *int `json:"vector"`
	Keyword *int `json:"keyword"`
}

// Result is one search hit.
type Result struct {
	Dataset string `json:"dataset"`
	ID      string `json:"id"` // the id column's value as text
	// Score: hybrid = the RRF score; vector = cosine similarity; keyword = BM25.
	Score float64        `json:"score"`
	Row   map[string]any `json:"row"`
	Ranks Ranks          `json:"ranks"`
}

// SearchResponse is the answer of POST /v1/matrix/search, best first.
type SearchResponse struct {
	Results []Result `json:"results"`
}

// Service is matrixd.
type Service interface {
	// Index starts (or queues) a build or refresh of dataset's index and
	// returns its status at once; the work runs in the background.
	// Errors: Invalid (bad request; a column not in the dataset), NotFound
	// (no such dataset), Unavailable (catalogd down).
	Index(ctx context.Context, req IndexRequest) (IndexStatus, error)
	// Status is the state of dataset's index. Errors: NotFound (no index).
	Status(ctx context.Context, dataset string) (IndexStatus, error)
	// List is the state of every index, by dataset name.
	List(ctx context.Context) ([]IndexStatus, error)
	// Drop deletes dataset's index (keyword file, state, vectord index).
	// Errors: NotFound, Unavailable.
	Drop(ctx context.Context, dataset string) error
	// Search runs a query over datasets. Errors: Invalid (bad request or
	// where predicate), NotFound (a dataset without an index), Conflict (an
	// index whose first build has not finished), Unavailable/Timeout (a
	// daemon it needs).
	Search(ctx context.Context, req SearchRequest) (SearchResponse, error)
}
