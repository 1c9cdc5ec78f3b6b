package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// proxy forwards requests unchanged to one daemon and streams both bodies.
// It is written for the hot path: one pooled buffer per copy, no
// X-Forwarded-* rewriting beyond X-Forwarded-For, a keep-alive pool sized
// for many concurrent clients (the stock httputil.ReverseProxy with a
// default Transport keeps 2 idle connections per host and churns sockets).
type proxy struct {
	name      string
	host      string // host:port of the daemon
	transport http.RoundTripper
	log       *slog.Logger
}

func newProxy(name, base string, transport http.RoundTripper, log *slog.Logger) (*proxy, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, errs.Errorf("gateway", errs.Invalid, "daemon %s: bad url %q", name, base)
	}
	return &proxy{name: name, host: u.Host, transport: transport, log: log}, nil
}

// hopHeaders are removed in both directions (RFC 9110 7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	if c := h["Connection"]; len(c) > 0 {
		for _, v := range c {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					h.Del(f)
				}
			}
		}
	}
	for _, k := range hopHeaders {
		if _, ok := h[k]; ok {
			delete(h, k)
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	out := (&http.Request{
		Method:        r.Method,
		URL:           &url.URL{Scheme: "http", Host: p.host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.Header.Clone(),
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Host:          p.host,
	}).WithContext(ctx)
	if r.ContentLength == 0 {
		out.Body = nil
	}
	removeHopHeaders(out.Header)
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := out.Header["X-Forwarded-For"]; len(prior) > 0 {
			host = strings.Join(prior, ", ") + ", " + host
		}
		out.Header["X-Forwarded-For"] = []string{host}
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		if ctx.Err() != nil {
			return // the client went away; nothing to answer
		}
		p.log.Warn("upstream failed", "op", "proxy", "daemon", p.name, "req_id", shared.RequestID(ctx), "err", err.Error())
		errs.WriteHTTP(w, r, nil, errs.E("gateway", errs.Unavailable, errs.StatusBadGateway, "daemon "+p.name+" is unreachable at "+p.host))
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	reqID := h.Get(errs.RequestIDHeader)
	for k, v := range resp.Header {
		h[k] = v
	}
	removeHopHeaders(h)
	if reqID != "" {
		h.Set(errs.RequestIDHeader, reqID)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	stream := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if err := copyBody(w, resp.Body, *bp, stream); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn("response copy broke", "op", "proxy", "daemon", p.name, "req_id", shared.RequestID(ctx), "err", err.Error())
	}
}

// copyBody copies src to w; when stream is set it flushes after every read
// so SSE events and chunked answers reach the client as they are produced.
func copyBody(w http.ResponseWriter, src io.Reader, buf []byte, stream bool) error {
	var flusher http.Flusher
	if stream {
		flusher, _ = w.(http.Flusher)
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
