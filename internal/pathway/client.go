package pathway

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of pathwayd; it implements Service. Build
// it with NewClient(env.Client("pathwayd")).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "pathwayd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

func memoryPath(id string) string { return MemoriesPath + "/" + url.PathEscape(id) }

func scopeQuery(sc Scope, opts ListOptions) string {
	v := url.Values{}
	if sc.UserID != "" {
		v.Set("user_id", sc.UserID)
	}
	if sc.AgentID != "" {
		v.Set("agent_id", sc.AgentID)
	}
	if sc.RunID != "" {
		v.Set("run_id", sc.RunID)
	}
	if opts.Limit != 0 {
		v.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Order != "" {
		v.Set("order", opts.Order)
	}
	if opts.After != "" {
		v.Set("after", opts.After)
	}
	if len(opts.Filters) != 0 {
		v.Set("filters", string(opts.Filters))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// Add implements Service.Add.
func (c *Client) Add(ctx context.Context, req AddRequest) (AddResponse, error) {
	var out AddResponse
	err := c.base.JSON(ctx, http.MethodPost, MemoriesPath, req, &out)
	return out, err
}

// List implements Service.List: one page; with OrderID follow Next for
// the rest.
func (c *Client) List(ctx context.Context, scope Scope, opts ListOptions) (ListResponse, error) {
	var out ListResponse
	err := c.base.JSON(ctx, http.MethodGet, MemoriesPath+scopeQuery(scope, opts), nil, &out)
	return out, err
}

// Get implements Service.Get.
func (c *Client) Get(ctx context.Context, id string) (Memory, error) {
	var m Memory
	err := c.base.JSON(ctx, http.MethodGet, memoryPath(id), nil, &m)
	return m, err
}

// Update implements Service.Update.
func (c *Client) Update(ctx context.Context, id string, req UpdateRequest) (Memory, error) {
	var m Memory
	err := c.base.JSON(ctx, http.MethodPut, memoryPath(id), req, &m)
	return m, err
}

// Delete implements Service.Delete.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.base.JSON(ctx, http.MethodDelete, memoryPath(id), nil, nil)
}

// DeleteAll implements Service.DeleteAll.
func (c *Client) DeleteAll(ctx context.Context, scope Scope) (int, error) {
	var out DeleteResponse
	err := c.base.JSON(ctx, http.MethodDelete, MemoriesPath+scopeQuery(scope, ListOptions{}), nil, &out)
	return out.Deleted, err
}

// History implements Service.History.
func (c *Client) History(ctx context.Context, id string, opts HistoryOptions) (HistoryResponse, error) {
	v := url.Values{}
	if opts.After != "" {
		v.Set("after", opts.After)
	}
	if opts.Limit != 0 {
		v.Set("limit", strconv.Itoa(opts.Limit))
	}
	path := memoryPath(id) + "/history"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out HistoryResponse
	err := c.base.JSON(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Search implements Service.Search.
func (c *Client) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	var out SearchResponse
	err := c.base.JSON(ctx, http.MethodPost, SearchPath, req, &out)
	return out, err
}

// AppendTrace implements Service.AppendTrace.
func (c *Client) AppendTrace(ctx context.Context, req TraceRequest) (TraceAppendResponse, error) {
	var out TraceAppendResponse
	err := c.base.JSON(ctx, http.MethodPost, TracesPath, req, &out)
	return out, err
}

// Trace implements Service.Trace: one page; follow Next for the rest.
func (c *Client) Trace(ctx context.Context, runID string, opts TraceOptions) (Trace, error) {
	v := url.Values{}
	if opts.After != "" {
		v.Set("after", opts.After)
	}
	if opts.Limit != 0 {
		v.Set("limit", strconv.Itoa(opts.Limit))
	}
	path := TracesPath + "/" + url.PathEscape(runID)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out Trace
	err := c.base.JSON(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
