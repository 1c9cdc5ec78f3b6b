package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of chatd (native routes); it implements
// Service. Build it with NewClient(env.StreamClient("chatd")): answers
// take as long as the model needs, so ctx bounds them, not the client.
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "chatd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

// Providers implements Service.Providers.
func (c *Client) Providers(ctx context.Context) ([]ProviderInfo, error) {
	var out ProvidersResponse
	if err := c.base.JSON(ctx, http.MethodGet, RouteProviders, nil, &out); err != nil {
		return nil, err
	}
	return out.Providers, nil
}

// Models implements Service.Models.
func (c *Client) Models(ctx context.Context) (ModelList, error) {
	var out ModelList
	err := c.base.JSON(ctx, http.MethodGet, RouteModels, nil, &out)
	return out, err
}

// Chat implements Service.Chat.
func (c *Client) Chat(ctx context.Context, req Request) (Response, error) {
	req.Stream = false
	var out Response
	err := c.base.JSON(ctx, http.MethodPost, RouteChat, req, &out)
	return out, err
}

// ChatStream implements Service.ChatStream over the NDJSON stream. An error
// line becomes an *errs.Error of its kind from Next.
func (c *Client) ChatStream(ctx context.Context, req Request) (Stream, error) {
	req.Stream = true
	b, err := json.Marshal(req)
	if err != nil {
		return nil, errs.E("chat client", errs.Invalid, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	hreq, err := c.base.NewRequest(ctx, http.MethodPost, RouteChat, bytes.NewReader(b))
	if err != nil {
		cancel()
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.base.Do(hreq)
	if err != nil {
		cancel()
		return nil, err
	}
	return &clientStream{body: resp.Body, lr: NewLineReader(resp.Body, MaxLine), cancel: cancel}, nil
}

type clientStream struct {
	body   io.ReadCloser
	lr     *LineReader
	cancel context.CancelFunc
	done   bool
}

func (s *clientStream) Next() (Response, error) {
	if s.done {
		return Response{}, io.EOF
	}
	for {
		line, err := s.lr.Line()
		if err != nil {
			s.done = true
			if errors.Is(err, io.EOF) {
				return Response{}, errs.E("chat client", errs.Unavailable, errs.StatusBadGateway, "chatd stream ended before done")
			}
			return Response{}, errs.E("chat client", errs.Unavailable, errs.StatusBadGateway, "chatd stream broke", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Response
		if err := json.Unmarshal(line, &r); err != nil {
			s.done = true
			return Response{}, errs.E("chat client", errs.Unavailable, errs.StatusBadGateway, "undecodable line from chatd", err)
		}
		if r.Error != nil {
			s.done = true
			return Response{}, &errs.Error{Op: "chat stream", Kind: r.Error.Kind, Msg: r.Error.Message}
		}
		s.done = r.Done
		return r, nil
	}
}

func (s *clientStream) Close() error {
	s.cancel()
	return s.body.Close()
}
