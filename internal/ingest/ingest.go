// Package ingest is the contract of ingestd (:3213): POST /v1/ingest turns
// an uploaded CSV, JSONL or Parquet file into a Parquet dataset version.
// It holds the request parameters, the answer type, the Service interface
// and the typed Client (a streaming upload), and the same for compaction
// (POST /v1/ingest/compact: the Compactor interface, Client.Compact). The DuckDB conversion lives in
// ingest/convert, the daemon (upload handling, storaged upload, catalogd
// commit with retry) in ingest/ingestd.
package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Route is ingestd's one route.
const Route = "/v1/ingest"

// Modes and formats.
const (
	ModeAppend  = catalog.ModeAppend
	ModeReplace = catalog.ModeReplace
)

// Params are the query parameters of POST /v1/ingest.
type Params struct {
	Name string // dataset name (required)
	Mode string // append (default) | replace
	// Format: csv | jsonl (one object a line) | json (an array of objects,
	// or objects in any layout) | parquet; "" = from the file name or content.
	Format string
	// IdempotencyKey is the request's Idempotency-Key header ("" = none,
	// ADR-123): a request whose key already committed to the dataset is
	// answered with that commit's result and writes nothing.
	IdempotencyKey string
}

// Idempotency headers (ADR-123). IdempotencyKeyHeader on POST /v1/ingest
// makes a retry safe; ReplayedHeader ("true") marks an answer that is the
// earlier commit's, not a new one.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	ReplayedHeader       = "Idempotent-Replayed"
)

// IdempotencyWindow is how many of a dataset's newest versions are looked
// at for a request's Idempotency-Key (ADR-123): one page of versions. A
// key committed further back is not found, and the request commits again.
const IdempotencyWindow = catalog.MaxVersionsLimit

// Validate checks p, filling in the default mode.
func (p *Params) Validate() error {
	var problems []string
	if err := catalog.ValidateName(p.Name); err != nil {
		problems = append(problems, "name: "+errs.Message(err))
	}
	switch p.Mode {
	case "":
		p.Mode = ModeAppend
	case ModeAppend, ModeReplace:
	default:
		problems = append(problems, fmt.Sprintf("mode %q: want append or replace", p.Mode))
	}
	switch p.Format {
	case "", "csv", "jsonl", "json", "parquet":
	case "ndjson":
		p.Format = "jsonl"
	default:
		problems = append(problems, fmt.Sprintf("format %q: want csv, jsonl, json or parquet", p.Format))
	}
	if p.IdempotencyKey != "" {
		if err := catalog.ValidateIdempotencyKey(p.IdempotencyKey); err != nil {
			problems = append(problems, errs.Message(err))
		}
	}
	if len(problems) > 0 {
		return errs.E("ingest", errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// Result is the answer of POST /v1/ingest.
type Result struct {
	Dataset   string           `json:"dataset"`
	Version   int64            `json:"version"`
	Mode      string           `json:"mode"`
	Format    string           `json:"format"`
	Rows      int64            `json:"rows"`  // rows ingested by this request
	Bytes     int64            `json:"bytes"` // Parquet bytes written by this request
	InBytes   int64            `json:"input_bytes"`
	Schema    []catalog.Column `json:"schema"`
	Files     []catalog.File   `json:"files"` // the files this request added
	Retries   int              `json:"commit_retries"`
	ElapsedMS float64          `json:"elapsed_ms"`
	// IdempotencyKey echoes the request's key; IdempotentReplayed says the
	// answer is that of the earlier request with the same key, whose
	// version already holds these rows: nothing was written (ADR-123).
	IdempotencyKey     string `json:"idempotency_key,omitempty"`
	IdempotentReplayed bool   `json:"idempotent_replayed,omitempty"`
	// ContentEncoding is the coding of a compressed upload that was
	// decoded ("gzip", "zstd"; left out for none), DecodedBytes its decoded
	// size; input_bytes are the bytes received.
	ContentEncoding string `json:"content_encoding,omitempty"`
	DecodedBytes    int64  `json:"decoded_bytes,omitempty"`
}

// Service ingests files.
type Service interface {
	// Ingest reads body (size bytes, -1 if unknown) as one file and commits
	// it as a new version of p.Name.
	// Errors: Invalid (bad parameters or input: the message says where),
	// TooLarge (over [ingestd].max_upload_bytes), Conflict (an append whose
	// dataset changed schema meanwhile; p.IdempotencyKey already committed
	// another request to the dataset, or a request with it is in progress
	// on this ingestd), Unavailable (storaged or catalogd). With
	// p.IdempotencyKey already committed by the same request, the Result
	// is that commit's, with IdempotentReplayed set, and nothing is written.
	Ingest(ctx context.Context, p Params, body io.Reader, size int64) (*Result, error)
}

// Client is the typed HTTP client of ingestd (raw-body uploads, streamed).
// Build it with NewClient(env.StreamClient("ingestd")).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base.
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

// Ingest implements Service.
func (c *Client) Ingest(ctx context.Context, p Params, body io.Reader, size int64) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{"name": {p.Name}, "mode": {p.Mode}}
	if p.Format != "" {
		q.Set("format", p.Format)
	}
	req, err := c.base.NewRequest(ctx, http.MethodPost, Route+"?"+q.Encode(), io.NopCloser(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if p.IdempotencyKey != "" {
		req.Header.Set(IdempotencyKeyHeader, p.IdempotencyKey)
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res Result
	if err := decode(resp.Body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// CompactRoute is ingestd's compaction route (under Route, so the gateway
// forwards it to ingestd like every path under /v1/ingest).
const CompactRoute = Route + "/compact"

// Compaction defaults and bounds.
const (
	// DefaultTargetFileMB is the size compaction aims for per file
	// (Iceberg's rewrite_data_files default; Delta's OPTIMIZE uses 1 GB).
	DefaultTargetFileMB = 512
	MaxTargetFileMB     = 64 << 10 // 64 GiB
	// DefaultMinFiles: a dataset with fewer files is left as it is.
	DefaultMinFiles = 2
)

// CompactParams are the query parameters of POST /v1/ingest/compact.
type CompactParams struct {
	Name string // dataset name (required)
	// TargetFileMB is the size of a rewritten file in MiB (1..MaxTargetFileMB,
	// 0 = DefaultTargetFileMB); a file also ends at [ingestd].file_rows rows,
	// as an ingest's does.
	TargetFileMB int
	// MinFiles: a dataset with fewer files is not compacted (>= 2,
	// 0 = DefaultMinFiles).
	MinFiles int
}

// Validate checks p, filling in the defaults.
func (p *CompactParams) Validate() error {
	var problems []string
	if err := catalog.ValidateName(p.Name); err != nil {
		problems = append(problems, "name: "+errs.Message(err))
	}
	switch {
	case p.TargetFileMB == 0:
		p.TargetFileMB = DefaultTargetFileMB
	case p.TargetFileMB < 0 || p.TargetFileMB > MaxTargetFileMB:
		problems = append(problems, fmt.Sprintf("target_file_mb %d: want 1 to %d", p.TargetFileMB, MaxTargetFileMB))
	}
	switch {
	case p.MinFiles == 0:
		p.MinFiles = DefaultMinFiles
	case p.MinFiles < 2:
		problems = append(problems, fmt.Sprintf("min_files %d: want at least 2 (one file is already compact)", p.MinFiles))
	}
	if len(problems) > 0 {
		return errs.E("ingest.compact", errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// CompactResult is the answer of POST /v1/ingest/compact.
type CompactResult struct {
	Dataset string `json:"dataset"`
	// Version is the version committed by the compaction, or the current
	// one when Compacted is false (nothing was committed).
	Version   int64 `json:"version"`
	Compacted bool  `json:"compacted"`
	// Reason says why nothing was compacted ("" when Compacted).
	Reason string `json:"reason,omitempty"`
	// BaseVersion is the version that was read and compacted (= Version
	// when not compacted).
	BaseVersion int64          `json:"base_version"`
	Rows        int64          `json:"rows"`         // rows of Version (base's plus any appended since)
	Bytes       int64          `json:"bytes"`        // Parquet bytes of Version's files
	Files       []catalog.File `json:"files"`        // Version's files (the compacted ones, then the appended ones)
	FilesBefore int            `json:"files_before"` // files of BaseVersion
	BytesBefore int64          `json:"bytes_before"` // bytes of BaseVersion's files
	ElapsedMS   float64        `json:"elapsed_ms"`
	// When compacted: CommitBaseVersion is the latest version the commit
	// was laid over (Version-1; > BaseVersion when appends landed during
	// the compaction), AppendedFiles and AppendedRows what those appends
	// added after the compacted files (ADR-013 "Compact commits"),
	// CompactedFiles and CompactedBytes the files that replace
	// BaseVersion's, CommitAttempts the commits made (a lost race with an
	// append is retried).
	CommitBaseVersion int64 `json:"commit_base_version,omitempty"`
	AppendedFiles     int   `json:"appended_files"`
	AppendedRows      int64 `json:"appended_rows"`
	CompactedFiles    int   `json:"compacted_files,omitempty"`
	CompactedBytes    int64 `json:"compacted_bytes,omitempty"`
	CommitAttempts    int   `json:"commit_attempts,omitempty"`
}

// Compactor rewrites a dataset's files into fewer, larger ones.
type Compactor interface {
	// Compact reads the latest version of p.Name, rewrites its files in
	// order into as few files as p.TargetFileMB allows (same rows, order,
	// schema and values) and commits them as a compact (catalog.ModeCompact)
	// on that version; the older versions keep their files. A dataset with fewer than p.MinFiles
	// files, or already as compact as the target allows, is answered with
	// Compacted false and nothing committed.
	// Errors: Invalid (bad parameters), NotFound (no such dataset, or it
	// is deleted), Conflict (the dataset changed meanwhile: nothing was
	// committed; compact again), Unavailable (storaged or catalogd),
	// Internal (the files do not agree with the manifest).
	Compact(ctx context.Context, p CompactParams) (*CompactResult, error)
}

var _ Compactor = (*Client)(nil)

// Compact implements Compactor.
func (c *Client) Compact(ctx context.Context, p CompactParams) (*CompactResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{"name": {p.Name}, "target_file_mb": {strconv.Itoa(p.TargetFileMB)}, "min_files": {strconv.Itoa(p.MinFiles)}}
	req, err := c.base.NewRequest(ctx, http.MethodPost, CompactRoute+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res CompactResult
	if err := decode(resp.Body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
