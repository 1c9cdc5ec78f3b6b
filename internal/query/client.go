package query

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of queryd; it implements Service. Build
// it with NewClient(env.Client("queryd")).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "queryd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

// Query implements Service.Query (format json). Numbers in rows decode as
// json.Number, so no precision is lost.
func (c *Client) Query(ctx context.Context, req Request) (*Result, error) {
	req.Format = FormatJSON
	if err := req.Validate(); err != nil {
		return nil, err
	}
	resp, err := c.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	var res Result
	dec := json.NewDecoder(resp)
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return nil, errs.E("queryd client", errs.Unavailable, errs.StatusBadGateway, "undecodable answer from queryd", err)
	}
	return &res, nil
}

// Stream sends req and returns the raw answer body (json, ndjson or csv)
// for the caller to read and close.
func (c *Client) Stream(ctx context.Context, req Request) (io.ReadCloser, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, errs.E("queryd client", errs.Invalid, err)
	}
	hreq, err := c.base.NewRequest(ctx, http.MethodPost, Route, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.base.Do(hreq)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
