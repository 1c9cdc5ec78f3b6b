package matrix

import (
	"context"
	"net/http"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of matrixd; it implements Service. Build
// it with NewClient(env.Client("matrixd")).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "matrixd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

// Index implements Service.Index.
func (c *Client) Index(ctx context.Context, req IndexRequest) (IndexStatus, error) {
	var out IndexStatus
	err := c.base.JSON(ctx, http.MethodPost, IndexesPath, req, &out)
	return out, err
}

// Status implements Service.Status.
func (c *Client) Status(ctx context.Context, dataset string) (IndexStatus, error) {
	if err := catalog.ValidateName(dataset); err != nil {
		return IndexStatus{}, err
	}
	var out IndexStatus
	err := c.base.JSON(ctx, http.MethodGet, IndexesPath+"/"+dataset, nil, &out)
	return out, err
}

// List implements Service.List.
func (c *Client) List(ctx context.Context) ([]IndexStatus, error) {
	var out ListResponse
	err := c.base.JSON(ctx, http.MethodGet, IndexesPath, nil, &out)
	return out.Indexes, err
}

// Drop implements Service.Drop.
func (c *Client) Drop(ctx context.Context, dataset string) error {
	if err := catalog.ValidateName(dataset); err != nil {
		return err
	}
	return c.base.JSON(ctx, http.MethodDelete, IndexesPath+"/"+dataset, nil, nil)
}

// Search implements Service.Search.
func (c *Client) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	var out SearchResponse
	err := c.base.JSON(ctx, http.MethodPost, SearchPath, req, &out)
	return out, err
}
