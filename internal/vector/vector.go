// Package vector is the contract of vectord (:3215): named HNSW indexes of
// vectors with metadata, persisted as LHV1 snapshots in storaged plus a
// local write-ahead log. It holds the request/response types of DESIGN.md,
// the Service interface, the route constants and the typed Client that
// matrixd, pathwayd and tests use. The index itself is vector/hnsw, the
// file format vector/lhv1, the log vector/wal.
package vector

import (
	"context"
	"net/http"
	"net/url"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector/hnsw"
)

// Item, Result and Metadata are the index's own JSON shapes.
type (
	Item     = hnsw.Item
	Result   = hnsw.Result
	Metadata = hnsw.Metadata
	Filter   = hnsw.Filter
	Range    = hnsw.Range
	Params   = hnsw.Params
	Stats    = hnsw.Stats
)

// Routes of vectord.
const (
	IndexesPath = "/v1/vectors/indexes"
)

// CreateIndexRequest is PUT /v1/vectors/indexes/{name}.
type CreateIndexRequest struct {
	Dims           int    `json:"dims"`
	Metric         string `json:"metric,omitempty"` // cosine (default) | l2 | dot
	M              int    `json:"m,omitempty"`
	EfConstruction int    `json:"ef_construction,omitempty"`
}

// IndexInfo describes one index (GET /v1/vectors/indexes/{name}).
type IndexInfo struct {
	Name string `json:"name"`
	Stats
}

// ListResponse is GET /v1/vectors/indexes: DESIGN.md's indexes, and
// (ADR-095) the indexes vectord holds but cannot serve — a damaged
// snapshot the log cannot rebuild, or a damaged log record that may be
// theirs — always present, [] when there are none, so a reader can tell
// "every index" from "every servable one" (as catalogd's dataset list,
// ADR-093).
type ListResponse struct {
	Indexes    []IndexInfo  `json:"indexes"`
	Unreadable []Unreadable `json:"unreadable"`
}

// Unreadable is an index vectord cannot serve (ADR-095): every route on
// it but DELETE answers Error; PUT of its name is a 409 until it is
// dropped.
type Unreadable struct {
	Name  string          `json:"name"`
	Error UnreadableError `json:"error"`
}

// UnreadableError is DESIGN.md's error object without a request id: the
// error the index's routes answer.
type UnreadableError struct {
	Kind    errs.Kind `json:"kind"`
	Message string    `json:"message"`
}

// UpsertRequest is POST .../{name}/upsert.
type UpsertRequest struct {
	Items []Item `json:"items"`
}

// UpsertResponse answers an upsert once it is durable (in the WAL).
type UpsertResponse struct {
	Upserted int `json:"upserted"`
}

// DeleteRequest is POST .../{name}/delete.
type DeleteRequest struct {
	IDs []string `json:"ids"`
}

// DeleteResponse counts the ids that existed.
type DeleteResponse struct {
	Deleted int `json:"deleted"`
}

// RecoverRequest is POST .../{name}/recover (ADR-116): serve an index held
// for a damaged write-ahead log record from its snapshot and every intact
// record. AcceptLoss must be true: what the damaged record held is lost if
// it was this index's.
type RecoverRequest struct {
	AcceptLoss bool `json:"accept_loss"`
}

// RecoverResponse is the recovered index, what it was rebuilt from, and
// what was lost: LostRecords log records (in Damaged's frames, after the
// snapshot) that may have been its changes.
type RecoverResponse struct {
	IndexInfo
	Log             string          `json:"log"`          // the write-ahead log's file name in vectord's data_dir
	SnapshotSeq     uint64          `json:"snapshot_seq"` // what the snapshot object read covers (0: none, rebuilt from the log)
	ReplayedRecords int             `json:"replayed_records"`
	LostRecords     uint64          `json:"lost_records"`
	Damaged         []DamagedRecord `json:"damaged"`
}

// DamagedRecord is a damaged frame of the write-ahead log: its bytes
// [Offset, Offset+Bytes) held Records records from sequence FirstSeq.
type DamagedRecord struct {
	Offset   int64  `json:"offset"`
	Bytes    int64  `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	Records  uint64 `json:"records"`
}

// SearchRequest is POST .../{name}/search.
type SearchRequest struct {
	Vector []float32 `json:"vector"`
	K      int       `json:"k,omitempty"` // 0: DefaultK (on the wire only an absent k; "k": 0 is invalid)
	Ef     int       `json:"ef,omitempty"`
	Filter Filter    `json:"filter,omitempty"`
	// ScoreThreshold (Qdrant's score_threshold) drops the hits worse than
	// it: a lower score for cosine and dot, a higher one (squared
	// distance) for l2. A hit equal to it is kept; it is compared as the
	// nearest float32, as scores are (a score as shown keeps its hit). A
	// finite number.
	ScoreThreshold *float64 `json:"score_threshold,omitempty"`
}

// ScrollRequest is GET .../{name}/items?after=&limit=&with_vector=&filter=
// (Qdrant's scroll): the live items after After in id order (byte order of
// the UTF-8 ids), that match Filter, Limit at most.
type ScrollRequest struct {
	After      string // "": from the first item
	Limit      int    // 0: DefaultScrollLimit; at most MaxScrollLimit
	WithVector bool
	Filter     Filter // as search's
}

// ScrollResponse is one page of a scroll: Next is the last item's id, to
// send as the next page's after, or nil when no item follows.
type ScrollResponse struct {
	Items []ScrollItem `json:"items"`
	Next  *string      `json:"next"`
}

// ScrollItem is an item of a scroll page: the vector only when asked for
// (with_vector=true; for cosine the normalised vector, as GET .../items/{id}),
// metadata left out when the item has none (as in search results).
type ScrollItem struct {
	ID       string    `json:"id"`
	Metadata Metadata  `json:"metadata,omitempty"`
	Vector   []float32 `json:"vector,omitempty"`
}

// SearchResponse lists hits best first.
type SearchResponse struct {
	Results []Result `json:"results"`
}

// Service is vectord. Errors: Invalid (bad name, params, dims, NaN/Inf,
// empty or duplicate ids, k <= 0), NotFound (unknown index), Conflict
// (creating an index that exists with other params), TooLarge (an upsert
// of more than MaxUpsertItems items, or with an item whose metadata is
// more than MaxMetadataBytes as JSON, or one that would be more than
// wal.MaxPayload in the write-ahead log: nothing of it is applied),
// Unavailable (storage; an index vectord holds but cannot serve, ADR-095).
type Service interface {
	CreateIndex(ctx context.Context, name string, req CreateIndexRequest) (IndexInfo, error)
	GetIndex(ctx context.Context, name string) (IndexInfo, error)
	ListIndexes(ctx context.Context) ([]IndexInfo, error)
	DeleteIndex(ctx context.Context, name string) error
	Upsert(ctx context.Context, name string, items []Item) (int, error)
	Delete(ctx context.Context, name string, ids []string) (int, error)
	Search(ctx context.Context, name string, req SearchRequest) ([]Result, error)
	// GetItem returns one item by id (NotFound when absent).
	GetItem(ctx context.Context, name, id string) (Item, error)
}

// Client reaches vectord over HTTP; it implements Service.
type Client struct{ base *shared.Client }

var _ Service = (*Client)(nil)

// NewClient wraps a base client (env.Client("vectord")).
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

func indexPath(name string) string { return IndexesPath + "/" + url.PathEscape(name) }

// CreateIndex creates name, or returns it when it exists with the same params.
func (c *Client) CreateIndex(ctx context.Context, name string, req CreateIndexRequest) (IndexInfo, error) {
	var out IndexInfo
	return out, c.base.JSON(ctx, http.MethodPut, indexPath(name), req, &out)
}

// GetIndex describes name.
func (c *Client) GetIndex(ctx context.Context, name string) (IndexInfo, error) {
	var out IndexInfo
	return out, c.base.JSON(ctx, http.MethodGet, indexPath(name), nil, &out)
}

// ListIndexes lists every index vectord serves.
func (c *Client) ListIndexes(ctx context.Context) ([]IndexInfo, error) {
	var out ListResponse
	return out.Indexes, c.base.JSON(ctx, http.MethodGet, IndexesPath, nil, &out)
}

// ListAll is GET /v1/vectors/indexes whole (ADR-095): the indexes served,
// and the ones vectord cannot serve, each with the error its routes answer.
func (c *Client) ListAll(ctx context.Context) (ListResponse, error) {
	var out ListResponse
	if err := c.base.JSON(ctx, http.MethodGet, IndexesPath, nil, &out); err != nil {
		return ListResponse{}, err
	}
	if out.Indexes == nil {
		out.Indexes = []IndexInfo{}
	}
	if out.Unreadable == nil {
		out.Unreadable = []Unreadable{}
	}
	return out, nil
}

// DeleteIndex drops name and its files.
func (c *Client) DeleteIndex(ctx context.Context, name string) error {
	return c.base.JSON(ctx, http.MethodDelete, indexPath(name), nil, nil)
}

// Upsert inserts or replaces items; it returns once they are durable.
func (c *Client) Upsert(ctx context.Context, name string, items []Item) (int, error) {
	var out UpsertResponse
	return out.Upserted, c.base.JSON(ctx, http.MethodPost, indexPath(name)+"/upsert", UpsertRequest{Items: items}, &out)
}

// Delete removes ids; it returns how many existed.
func (c *Client) Delete(ctx context.Context, name string, ids []string) (int, error) {
	var out DeleteResponse
	return out.Deleted, c.base.JSON(ctx, http.MethodPost, indexPath(name)+"/delete", DeleteRequest{IDs: ids}, &out)
}

// Search returns the k nearest items that match the filter.
func (c *Client) Search(ctx context.Context, name string, req SearchRequest) ([]Result, error) {
	var out SearchResponse
	return out.Results, c.base.JSON(ctx, http.MethodPost, indexPath(name)+"/search", req, &out)
}

// GetItem returns one item by id.
func (c *Client) GetItem(ctx context.Context, name, id string) (Item, error) {
	var out Item
	return out, c.base.JSON(ctx, http.MethodGet, indexPath(name)+"/items/"+url.PathEscape(id), nil, &out)
}

// Scroll returns one page of the items of name in id order (see
// ScrollRequest); a walk passes each page's Next as the next After until
// Next is nil.
func (c *Client) Scroll(ctx context.Context, name string, req ScrollRequest) (ScrollResponse, error) {
	q, err := req.query()
	if err != nil {
		return ScrollResponse{}, err
	}
	path := indexPath(name) + "/items"
	if q != "" {
		path += "?" + q
	}
	var out ScrollResponse
	if err := c.base.JSON(ctx, http.MethodGet, path, nil, &out); err != nil {
		return ScrollResponse{}, err
	}
	if out.Items == nil {
		out.Items = []ScrollItem{}
	}
	return out, nil
}

// Recover serves an index vectord holds for a damaged write-ahead log
// record (ADR-116); req.AcceptLoss must be true.
func (c *Client) Recover(ctx context.Context, name string, req RecoverRequest) (RecoverResponse, error) {
	var out RecoverResponse
	return out, c.base.JSON(ctx, http.MethodPost, indexPath(name)+"/recover", req, &out)
}

// ValidateIndexName accepts 1-128 characters of [A-Za-z0-9_.-], not
// starting with '.', so a name is always a safe object-key segment.
func ValidateIndexName(name string) error {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return errs.Errorf("vector", errs.Invalid, "index name %q: want 1-128 characters of [A-Za-z0-9_.-], not starting with '.'", name)
	}
	for _, c := range name { // runes, so the message names "é", not its first byte
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return errs.Errorf("vector", errs.Invalid, "index name %q: character %q not allowed; want [A-Za-z0-9_.-]", name, c)
		}
	}
	return nil
}
