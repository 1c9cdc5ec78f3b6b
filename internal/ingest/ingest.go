// Package ingest is the contract of ingestd (:3213): POST /v1/ingest turns
// an uploaded CSV, JSONL or Parquet file into a Parquet dataset version.
// It holds the request parameters, the answer type, the Service interface
// and the typed Client (a streaming upload). The DuckDB conversion lives in
// ingest/convert, the daemon (upload handling, storaged upload, catalogd
// commit with retry) in ingest/ingestd.
package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
}

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
}

// Service ingests files.
type Service interface {
	// Ingest reads body (size bytes, -1 if unknown) as one file and commits
	// it as a new version of p.Name.
	// Errors: Invalid (bad parameters or input: the message says where),
	// TooLarge (over [ingestd].max_upload_bytes), Conflict (an append whose
	// dataset changed schema meanwhile), Unavailable (storaged or catalogd).
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
