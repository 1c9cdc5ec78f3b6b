package storage

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed client of storaged. It implements Store; build it
// with NewClient(env.StreamClient("storaged"), WithConfig(env.Config))
// so uploads and downloads are bounded by ctx rather than an overall
// timeout, and go through the short-circuit socket when storaged runs the
// local backend on this host (ADR-015: Get, Put, and Head through the
// socket's direct reads). Delete and List are HTTP.
type Client struct {
	base *shared.Client
	sc   *scPool // nil: HTTP only
	// redirects: this client is on storaged's host, so a presigned URL of
	// the s3 backend reaches the same S3 from here (ADR-015).
	redirects   bool
	redirectOff atomic.Int64 // unix nanos until which redirects are not asked for (S3 unreachable from here)
	// headerTimeout, stallTimeout: WithS3Timeouts (0 = the defaults).
	headerTimeout, stallTimeout time.Duration
}

var _ Store = (*Client)(nil)

// NewClient wraps base (the harness's client for "storaged").
func NewClient(base *shared.Client, opts ...ClientOption) *Client {
	c := &Client{base: base, redirects: directReadsOn() && loopbackURL(base.Base)}
	for _, o := range opts {
		o(c)
	}
	if os.Getenv(ForceHTTPEnv) == "1" {
		c.sc = nil
	}
	return c
}

// loopbackURL reports whether raw's host is a loopback address (storaged
// on this host).
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && ip.IsLoopback()
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
	if err := ValidateContentType(opts.ContentType); err != nil {
		return ObjectInfo{}, err // before any of r is read, on every path
	}
	if r == nil {
		r = http.NoBody
	}
	if c.sc != nil && opts.IfMatch == "" && opts.ContentMD5 == "" { // the socket has no compare-and-swap or digest check: HTTP does them
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
	switch opts.IfMatch {
	case "":
	case "*":
		req.Header.Set("If-Match", "*")
	default:
		req.Header.Set("If-Match", `"`+opts.IfMatch+`"`)
	}
	if opts.ContentType != "" {
		req.Header.Set("Content-Type", opts.ContentType)
	}
	if opts.ContentMD5 != "" {
		req.Header.Set("Content-MD5", opts.ContentMD5)
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
	info.ContentType = ContentTypeOf(opts.ContentType) // the PUT answer has none (DESIGN.md's fields)
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
	if c.redirects && time.Now().UnixNano() >= c.redirectOff.Load() {
		if rc, info, err, ok := c.getRedirected(ctx, key, opts); ok {
			if err != nil {
				return c.atEnd(ctx, key, opts, err)
			}
			return rc, info, nil
		}
	}
	req, err := c.getRequest(ctx, key, opts)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	resp, err := c.base.Do(req)
	if err != nil {
		return c.atEnd(ctx, key, opts, notFound(err, key))
	}
	rc, info := objectOf(key, resp)
	return rc, info, nil
}

// atEnd turns storaged's 416 for a range that starts exactly at the
// object's end (Offset == size; Length > 0 on an empty object) into the
// empty read that Store.Get promises and the backends give in process: HTTP
// has no empty range (RFC 9110 answers bytes=N- of an N-byte object with
// 416), so only then the client asks for the size. Any other error, or an
// Offset beyond the end, is returned as it came.
func (c *Client) atEnd(ctx context.Context, key string, opts GetOptions, err error) (io.ReadCloser, ObjectInfo, error) {
	if errs.StatusOf(err) != http.StatusRequestedRangeNotSatisfiable || (opts.Offset <= 0 && opts.Length <= 0) {
		return nil, ObjectInfo{}, err
	}
	info, herr := c.Head(ctx, key)
	if herr != nil || info.Size != opts.Offset {
		return nil, ObjectInfo{}, err
	}
	return io.NopCloser(strings.NewReader("")), info, nil
}

// getRequest is the GET of key, with a Range header when opts select one.
func (c *Client) getRequest(ctx context.Context, key string, opts GetOptions) (*http.Request, error) {
	req, err := c.base.NewRequest(ctx, http.MethodGet, ObjectURLPath(key), nil)
	if err != nil {
		return nil, err
	}
	if opts.Offset > 0 || opts.Length > 0 {
		req.Header.Set("Range", rangeHeader(opts))
	}
	return req, nil
}

func rangeHeader(opts GetOptions) string {
	if opts.Length > 0 {
		return fmt.Sprintf("bytes=%d-%d", opts.Offset, opts.Offset+opts.Length-1)
	}
	return fmt.Sprintf("bytes=%d-", opts.Offset)
}

// objectOf is the body and info of a 200 or 206 answer to a GET.
func objectOf(key string, resp *http.Response) (io.ReadCloser, ObjectInfo) {
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
	return NamedBody(resp.Body, "storage GET", bodyFrom(resp), key), info
}

// s3Where names the S3 endpoint and bucket of a presigned (path-style) URL
// as bodyFrom does.
func s3Where(u *url.URL) string {
	bucket, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return fmt.Sprintf("S3 endpoint %s://%s bucket %q", u.Scheme, u.Host, bucket)
}

// WithS3Timeouts sets how long a redirected GET waits for S3's headers and
// for each read of the body before it ends unavailable (0 =
// S3HeaderTimeout, S3StallTimeout).
func WithS3Timeouts(header, stall time.Duration) ClientOption {
	return func(c *Client) { c.headerTimeout, c.stallTimeout = header, stall }
}

// WithConfig is what a daemon gives NewClient: WithSocket with cfg's
// short-circuit socket, and WithS3Timeouts with [s3] header_timeout and
// stall_timeout, the bounds of its redirected reads from S3 (ADR-011).
func WithConfig(cfg *shared.Config) ClientOption {
	return func(c *Client) {
		WithSocket(cfg.StoragedSocket())(c)
		WithS3Timeouts(cfg.S3.HeaderTimeout.Duration, cfg.S3.StallTimeout.Duration)(c)
	}
}

func (c *Client) s3HeaderTimeout() time.Duration {
	if c.headerTimeout > 0 {
		return c.headerTimeout
	}
	return S3HeaderTimeout
}

func (c *Client) s3StallTimeout() time.Duration {
	if c.stallTimeout > 0 {
		return c.stallTimeout
	}
	return S3StallTimeout
}

// bodyFrom names the server of a GET's answer for namedBody: storaged, or
// S3 at the presigned URL (path style: the bucket is its first segment).
func bodyFrom(resp *http.Response) string {
	if resp.Request == nil || resp.Request.URL == nil {
		return "storaged"
	}
	u := resp.Request.URL
	if strings.HasPrefix(u.Path, "/v1/storage/") {
		return "storaged at " + u.Scheme + "://" + u.Host
	}
	return s3Where(u)
}

// NamedBody is an object's body rc whose read error — the sender (from:
// storaged, or an S3 endpoint and bucket) went away mid-object — is
// unavailable naming the sender and how far the object came; it was a
// bare "unexpected EOF". op names the operation; errors that already
// have a kind, and cancellations, pass unchanged.
func NamedBody(rc io.ReadCloser, op, from, key string) io.ReadCloser {
	return &namedBody{rc: rc, op: op, from: from, key: key}
}

type namedBody struct {
	rc            io.ReadCloser
	op, from, key string
	n             int64
}

func (b *namedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		var e *errs.Error
		if !errors.As(err, &e) {
			err = errs.E(b.op, errs.Unavailable, fmt.Sprintf("%s stopped sending object %q after %d bytes", b.from, b.key, b.n), err)
		}
	}
	return n, err
}

func (b *namedBody) Close() error { return b.rc.Close() }

// redirectRetry: after S3 could not be reached at a presigned URL (or
// answered it with an error storaged must word), GETs are streamed by
// storaged for this long.
const redirectRetry = 30 * time.Second

// getRedirected asks storaged for a redirect and reads the object from
// where it points (a presigned S3 URL): the bytes do not pass through
// storaged. handled is false when the caller should GET through storaged
// instead: storaged could not be asked, S3 could not be reached from here,
// or S3 answered anything but the object or NoSuchKey — storaged then words
// the answer as it always does.
func (c *Client) getRedirected(ctx context.Context, key string, opts GetOptions) (rc io.ReadCloser, info ObjectInfo, err error, handled bool) {
	req, err := c.getRequest(ctx, key, opts)
	if err != nil {
		return nil, ObjectInfo{}, err, true
	}
	req.Header.Set(HeaderRedirect, "presigned")
	resp, err := c.base.DoNoFollow(req)
	if err != nil {
		return nil, ObjectInfo{}, notFound(err, key), true
	}
	if resp.StatusCode != http.StatusTemporaryRedirect {
		if resp.StatusCode >= 300 { // no other redirect is ours to follow
			resp.Body.Close()
			return nil, ObjectInfo{}, nil, false
		}
		rc, info := objectOf(key, resp) // a backend without redirects streamed it
		return rc, info, nil, true
	}
	resp.Body.Close()
	loc, perr := url.Parse(resp.Header.Get("Location"))
	if perr != nil || (loc.Scheme != "http" && loc.Scheme != "https") || loc.Host == "" {
		return nil, ObjectInfo{}, nil, false
	}
	// A fresh request: no token, no request id — the URL carries its own
	// authorisation, and S3 refuses a request with two.
	// A hung S3 (it accepts and answers nothing) would hold the GET for as
	// long as ctx allows: the answer's headers must come within
	// S3HeaderTimeout, and each read of the body within S3StallTimeout.
	sctx, cancel := context.WithCancel(ctx)
	s3req, err := http.NewRequestWithContext(sctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		cancel()
		return nil, ObjectInfo{}, nil, false
	}
	if opts.Offset > 0 || opts.Length > 0 {
		s3req.Header.Set("Range", rangeHeader(opts))
	}
	var silent atomic.Bool
	headers := time.AfterFunc(c.s3HeaderTimeout(), func() { silent.Store(true); cancel() })
	s3resp, err := c.base.HTTP.Do(s3req)
	if !headers.Stop() && err == nil { // the timer won the race: sctx is cancelled
		s3resp.Body.Close()
		err = context.Canceled
	}
	if err != nil {
		cancel()
		if silent.Load() {
			c.redirectOff.Store(time.Now().Add(redirectRetry).UnixNano())
			return nil, ObjectInfo{}, errs.E("storage GET", errs.Unavailable, fmt.Sprintf("%s did not answer a GET of object %q within %s",
				s3Where(loc), key, c.s3HeaderTimeout())), true
		}
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(cerr, context.DeadlineExceeded) {
				return nil, ObjectInfo{}, errs.E("storage GET", errs.Timeout, "S3 did not answer in time", err), true
			}
			return nil, ObjectInfo{}, errs.E("storage GET", errs.Unavailable, "request canceled", err), true
		}
		c.redirectOff.Store(time.Now().Add(redirectRetry).UnixNano())
		return nil, ObjectInfo{}, nil, false
	}
	switch s3resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		rc, info := objectOf(key, s3resp)
		return StallGuard(rc, c.s3StallTimeout(), cancel, "storage GET", s3Where(loc), key), info, nil, true
	case http.StatusNotFound:
		code := s3ErrorCode(s3resp.Body)
		s3resp.Body.Close()
		if code == "NoSuchKey" {
			cancel()
			return nil, ObjectInfo{}, errs.E("storage", errs.NotFound, fmt.Sprintf("object %q not found", key)), true
		}
	default:
		s3resp.Body.Close()
	}
	cancel()
	if s3resp.StatusCode != http.StatusRequestedRangeNotSatisfiable { // a bad range says nothing about S3
		c.redirectOff.Store(time.Now().Add(redirectRetry).UnixNano())
	}
	return nil, ObjectInfo{}, nil, false
}

// s3ErrorCode is the <Code> of an S3 error body ("" if there is none).
func s3ErrorCode(r io.Reader) string {
	var e struct {
		Code string `xml:"Code"`
	}
	if xml.NewDecoder(io.LimitReader(r, 16<<10)).Decode(&e) != nil {
		return ""
	}
	return e.Code
}

// Head implements Store.Head.
func (c *Client) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if c.sc != nil && c.sc.direct {
		if f, info, err, ok := c.sc.openDirect(ctx, key); ok {
			c.sc.ops.Add(1)
			c.sc.directOps.Add(1)
			f.Close()
			return info, err
		}
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
	return c.DeleteWith(ctx, key, DeleteOptions{})
}

var _ ConditionalDeleter = (*Client)(nil)

// DeleteWith implements ConditionalDeleter: opts.IfMatch goes as the
// DELETE's If-Match (ADR-154). storaged evaluates it on the local
// backend; on the s3 backend it answers Invalid (400) and deletes nothing.
func (c *Client) DeleteWith(ctx context.Context, key string, opts DeleteOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	req, err := c.base.NewRequest(ctx, http.MethodDelete, ObjectURLPath(key), nil)
	if err != nil {
		return err
	}
	switch opts.IfMatch {
	case "":
	case "*":
		req.Header.Set("If-Match", "*")
	default:
		req.Header.Set("If-Match", `"`+opts.IfMatch+`"`)
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
	info := ObjectInfo{Key: key, ETag: strings.Trim(h.Get("ETag"), `"`), Size: resp.ContentLength, ContentType: h.Get("Content-Type")}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderModified)); err == nil {
		info.Modified = t
	} else if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.Modified = t
	}
	return info
}
