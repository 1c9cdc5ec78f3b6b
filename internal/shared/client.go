package shared

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"lakehouse-go/internal/errs"
)

// Client is the base of every daemon's typed client: a base URL, an
// http.Client with timeouts, the service token, request-id forwarding, and
// JSON error bodies decoded back into *errs.Error of the same Kind, with
// the answer's Retry-After (errs.RetryAfter: vectord's 503 while it loads
// its indexes asks to be called again in a second).
type Client struct {
	Service string // the daemon it talks to, for error messages
	Base    string // e.g. http://127.0.0.1:3211
	HTTP    *http.Client
	Token   string
	// Header is set on every request (nil: none).
	Header http.Header
}

// NewHTTPClient returns an http.Client with a keep-alive pool sized for
// daemon-to-daemon traffic and the given overall timeout (0 = none, for
// streaming calls; dial and header timeouts still apply).
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: NewTransport(64)}
}

// NewTransport is the harness's tuned transport.
func NewTransport(maxIdlePerHost int) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // daemons never go through an HTTP proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxIdlePerHost * 4,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
}

// NewRequest builds a request to path, with token and request id set.
func (c *Client) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, errs.E(c.Service+" client", errs.Internal, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if id := RequestID(ctx); id != "" {
		req.Header.Set(errs.RequestIDHeader, id)
	}
	for k, v := range c.Header {
		req.Header[k] = append([]string(nil), v...) // the request's own: callers may change it
	}
	return req, nil
}

// Do sends req. A transport failure is Unavailable naming the daemon; a
// non-2xx answer is decoded into an *errs.Error of the answer's Kind
// (errs.FromResponse: its Retry-After too). On
// success the caller owns resp.Body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	return c.do(req, c.HTTP, false)
}

// DoNoFollow is Do without following a redirect: a 3xx answer is returned
// (the caller closes its body and decides where to go), so nothing of req —
// its token above all — is sent on to the redirect's target.
func (c *Client) DoNoFollow(req *http.Request) (*http.Response, error) {
	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c.do(req, &hc, true)
}

func (c *Client) do(req *http.Request, hc *http.Client, keep3xx bool) (*http.Response, error) {
	op := c.Service + " " + req.Method + " " + req.URL.Path
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			if errors.Is(ctxErr, context.DeadlineExceeded) {
				return nil, errs.E(op, errs.Timeout, fmt.Sprintf("%s did not answer in time", c.Service), err)
			}
			return nil, errs.E(op, errs.Unavailable, "request canceled", err)
		}
		// The client is told which daemon and the system's reason; the
		// address and Go's "Get \"http://...\": dial tcp ..." text go to
		// the log only (DESIGN.md: internal details stay in the log).
		return nil, errs.E(op, errs.Unavailable, fmt.Sprintf("%s is unreachable (%s)", c.Service, errs.OSReason(err, "no connection")),
			errs.E(op, errs.Internal, fmt.Sprintf("at %s", c.Base), err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 && !(keep3xx && resp.StatusCode < 400) {
		defer resp.Body.Close()
		return nil, errs.FromResponse(op, resp)
	}
	return resp, nil
}

// JSON sends in (if non-nil) as a JSON body and decodes a JSON answer into
// out (if non-nil).
func (c *Client) JSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errs.E(c.Service+" client", errs.Invalid, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return errs.E(c.Service+" "+method+" "+path, errs.Unavailable, errs.StatusBadGateway, "undecodable answer from "+c.Service, err)
	}
	return nil
}
