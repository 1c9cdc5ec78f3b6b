package catalog

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of catalogd; it implements Service. Build
// it with NewClient(env.Client("catalogd")).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "catalogd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

func datasetPath(name string) string { return DatasetsPath + "/" + name }

// List implements Service.List: the readable datasets; ListAll also
// names the unreadable ones (ADR-093).
func (c *Client) List(ctx context.Context) ([]Dataset, error) {
	out, err := c.ListAll(ctx)
	return out.Datasets, err
}

// ListAll is every page of GET /v1/catalog/datasets (ADR-093, ADR-128):
// the readable datasets, and the ones left out because what storage holds
// for them is damaged, each with the error GET of it answers; asked
// MaxDatasetsLimit at a time, so no answer is unbounded.
func (c *Client) ListAll(ctx context.Context) (ListResponse, error) {
	all := ListResponse{Datasets: []Dataset{}, Unreadable: []Unreadable{}}
	q := DatasetsQuery{Limit: MaxDatasetsLimit}
	for {
		p, err := c.ListPage(ctx, q)
		if err != nil {
			return ListResponse{}, err
		}
		all.Datasets = append(all.Datasets, p.Datasets...)
		all.Unreadable = append(all.Unreadable, p.Unreadable...)
		if p.Next <= q.After { // the last page (""), or a server that does not page
			return all, nil
		}
		q.After = p.Next
	}
}

// ListPage is one page of GET /v1/catalog/datasets (ADR-128): names
// starting with q.Prefix after q.After, at most q.Limit (<= 0: the
// server's default, DefaultDatasetsLimit); Next is set when more follow.
func (c *Client) ListPage(ctx context.Context, q DatasetsQuery) (ListResponse, error) {
	v := url.Values{}
	v.Set("limit", strconv.Itoa(min(max(q.Limit, 0), MaxDatasetsLimit)))
	if q.Limit <= 0 {
		v.Set("limit", strconv.Itoa(DefaultDatasetsLimit))
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Prefix != "" {
		v.Set("prefix", q.Prefix)
	}
	var out ListResponse
	if err := c.base.JSON(ctx, http.MethodGet, DatasetsPath+"?"+v.Encode(), nil, &out); err != nil {
		return ListResponse{}, err
	}
	if out.Datasets == nil {
		out.Datasets = []Dataset{}
	}
	if out.Unreadable == nil {
		out.Unreadable = []Unreadable{}
	}
	return out, nil
}

// Get implements Service.Get.
func (c *Client) Get(ctx context.Context, name string, version int64) (Dataset, error) {
	if err := ValidateName(name); err != nil {
		return Dataset{}, err
	}
	p := datasetPath(name)
	if version > 0 {
		p += "?version=" + strconv.FormatInt(version, 10)
	}
	var d Dataset
	err := c.base.JSON(ctx, http.MethodGet, p, nil, &d)
	return d, err
}

// GetIfChanged is a conditional GET of the latest version of name for a
// caller that holds version have (ADR-137): If-None-Match: ETag(name,
// have). changed is false, and d empty, when the latest is still have —
// catalogd answered 304 and sent no manifest; otherwise d is the latest
// (have <= 0: always). Errors are Get's (NotFound once the dataset is
// deleted).
func (c *Client) GetIfChanged(ctx context.Context, name string, have int64) (d Dataset, changed bool, err error) {
	if err := ValidateName(name); err != nil {
		return Dataset{}, false, err
	}
	p := datasetPath(name)
	req, err := c.base.NewRequest(ctx, http.MethodGet, p, nil)
	if err != nil {
		return Dataset{}, false, err
	}
	if have > 0 {
		req.Header.Set("If-None-Match", ETag(name, have))
	}
	resp, err := c.base.DoNoFollow(req)
	if err != nil {
		return Dataset{}, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return Dataset{}, false, nil
	case http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			return Dataset{}, false, errs.E("catalogd GET "+p, errs.Unavailable, errs.StatusBadGateway, "undecodable answer from catalogd", err)
		}
		return d, true, nil
	}
	return Dataset{}, false, errs.E("catalogd GET "+p, errs.Unavailable, errs.StatusBadGateway, "catalogd answered "+resp.Status+" to a conditional GET")
}

// GetAsOf is the version of name that was the latest at t (ADR-092).
func (c *Client) GetAsOf(ctx context.Context, name string, t time.Time) (Dataset, error) {
	if err := ValidateName(name); err != nil {
		return Dataset{}, err
	}
	var d Dataset
	err := c.base.JSON(ctx, http.MethodGet, datasetPath(name)+"?as_of="+url.QueryEscape(t.UTC().Format(time.RFC3339Nano)), nil, &d)
	return d, err
}

// Versions implements Service.Versions: every version, asked a page of
// MaxVersionsLimit at a time.
func (c *Client) Versions(ctx context.Context, name string) ([]VersionInfo, error) {
	return allVersions(ctx, name, c.VersionsPage)
}

// VersionsPage is one page of GET .../{name}/versions (ADR-013).
func (c *Client) VersionsPage(ctx context.Context, name string, q VersionsQuery) (VersionsResponse, error) {
	if err := ValidateName(name); err != nil {
		return VersionsResponse{}, err
	}
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(min(q.Limit, MaxVersionsLimit)))
	}
	if q.Desc {
		v.Set("order", "desc")
	}
	p := datasetPath(name) + "/versions"
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	var out VersionsResponse
	err := c.base.JSON(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// Commit implements Service.Commit.
func (c *Client) Commit(ctx context.Context, name string, req CommitRequest) (Dataset, error) {
	if err := ValidateName(name); err != nil {
		return Dataset{}, err
	}
	var d Dataset
	err := c.base.JSON(ctx, http.MethodPost, datasetPath(name)+"/commit", req, &d)
	return d, err
}

// Delete implements Service.Delete.
func (c *Client) Delete(ctx context.Context, name string, opts DeleteOptions) (DeleteResult, error) {
	if err := ValidateName(name); err != nil {
		return DeleteResult{}, err
	}
	p := datasetPath(name)
	if opts.Purge {
		p += "?purge=true"
	}
	var res DeleteResult
	if opts.IfMatch == "" {
		err := c.base.JSON(ctx, http.MethodDelete, p, nil, &res)
		return res, err
	}
	req, err := c.base.NewRequest(ctx, http.MethodDelete, p, nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("If-Match", opts.IfMatch)
	resp, err := c.base.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, errs.E("catalogd DELETE "+p, errs.Unavailable, errs.StatusBadGateway, "undecodable answer from catalogd", err)
	}
	return res, nil
}
