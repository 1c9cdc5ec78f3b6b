package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed client of storaged. It implements Store; build it
// with NewClient(env.StreamClient("storaged"), WithSocket(env.Config.StoragedSocket()))
// so uploads and downloads are bounded by ctx rather than an overall
// timeout, and go through the short-circuit socket when storaged runs the
// local backend on this host (ADR-015). Head, Delete and List are HTTP.
type Client struct {
	base *shared.Client
	sc   *scPool // nil: HTTP only
}

var _ Store = (*Client)(nil)

// NewClient wraps base (the harness's client for "storaged").
func NewClient(base *shared.Client, opts ...ClientOption) *Client {
	c := &Client{base: base}
	for _, o := range opts {
		o(c)
	}
	if os.Getenv(ForceHTTPEnv) == "1" {
		c.sc = nil
	}
	return c
}

// ObjectURLPath is the escaped route path of key.
func ObjectURLPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return ObjectsPath + "/" + strings.Join(segs, "/")
}

// Put implements Store.Put by streaming r as the request body.
func (c *Client) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if r == nil {
		r = http.NoBody
	}
	if c.sc != nil {
		if info, err, ok := c.sc.put(ctx, key, r, size, opts); ok {
			return info, err
		}
	}
	body := r
	if size == 0 {
		body = http.NoBody
	}
	req, err := c.base.NewRequest(ctx, http.MethodPut, ObjectURLPath(key), io.NopCloser(body))
	if err != nil {
		return ObjectInfo{}, err
	}
	req.ContentLength = size
	if size < 0 {
		req.ContentLength = -1
	}
	if opts.CreateOnly {
		req.Header.Set("If-None-Match", "*")
	}
	if opts.ContentType != "" {
		req.Header.Set("Content-Type", opts.ContentType)
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer resp.Body.Close()
	var info ObjectInfo
	if err := decodeJSON(resp.Body, &info); err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}

// Get implements Store.Get with a Range request when opts select a range.
func (c *Client) Get(ctx context.Context, key string, opts GetOptions) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	if c.sc != nil {
		if rc, info, err, ok := c.sc.get(ctx, key, opts); ok {
			return rc, info, err
		}
	}
	req, err := c.base.NewRequest(ctx, http.MethodGet, ObjectURLPath(key), nil)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	if opts.Offset > 0 || opts.Length > 0 {
		if opts.Length > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", opts.Offset, opts.Offset+opts.Length-1))
		} else {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", opts.Offset))
		}
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return nil, ObjectInfo{}, notFound(err, key)
	}
	info := infoFromHeaders(key, resp)
	if resp.StatusCode == http.StatusPartialContent {
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			if i := strings.LastIndexByte(cr, '/'); i >= 0 {
				if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
					info.Size = n
				}
			}
		}
	}
	return resp.Body, info, nil
}

// Head implements Store.Head.
func (c *Client) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	req, err := c.base.NewRequest(ctx, http.MethodHead, ObjectURLPath(key), nil)
	if err != nil {
		return ObjectInfo{}, err
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return ObjectInfo{}, notFound(err, key)
	}
	resp.Body.Close()
	return infoFromHeaders(key, resp), nil
}

// Delete implements Store.Delete.
func (c *Client) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	req, err := c.base.NewRequest(ctx, http.MethodDelete, ObjectURLPath(key), nil)
	if err != nil {
		return err
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// List implements Store.List.
func (c *Client) List(ctx context.Context, opts ListOptions) (ListPage, error) {
	q := url.Values{}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	path := ObjectsPath
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := c.base.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return ListPage{}, err
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return ListPage{}, err
	}
	defer resp.Body.Close()
	var page ListPage
	if err := decodeJSON(resp.Body, &page); err != nil {
		return ListPage{}, err
	}
	return page, nil
}

// notFound gives a HEAD's body-less 404 a useful message.
func notFound(err error, key string) error {
	if errs.Is(err, errs.NotFound) {
		return errs.E("storage", errs.NotFound, fmt.Sprintf("object %q not found", key))
	}
	return err
}

func infoFromHeaders(key string, resp *http.Response) ObjectInfo {
	h := resp.Header
	info := ObjectInfo{Key: key, ETag: strings.Trim(h.Get("ETag"), `"`), Size: resp.ContentLength}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderModified)); err == nil {
		info.Modified = t
	} else if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.Modified = t
	}
	if p := h.Get(HeaderPath); p != "" {
		if u, err := url.PathUnescape(p); err == nil {
			info.Path = u
		}
	}
	return info
}
