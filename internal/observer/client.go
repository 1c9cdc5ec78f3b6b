package observer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of observerd; it implements Service.
// Build it with NewClient(env.Client("observerd")); Subscribe lifts the
// base client's overall timeout (the stream is bounded by ctx).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "observerd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

func (f Filter) query() url.Values {
	v := url.Values{}
	if f.Service != "" {
		v.Set("service", f.Service)
	}
	if f.Op != "" {
		v.Set("op", f.Op)
	}
	if f.RequestID != "" {
		v.Set("request_id", f.RequestID)
	}
	if !f.Since.IsZero() {
		v.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	return v
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Ingest implements Service.Ingest.
func (c *Client) Ingest(ctx context.Context, events []Event) (IngestResponse, error) {
	var out IngestResponse
	err := c.base.JSON(ctx, http.MethodPost, EventsPath, IngestRequest{Events: events}, &out)
	return out, err
}

// Events implements Service.Events.
func (c *Client) Events(ctx context.Context, f Filter, limit int) ([]Event, error) {
	v := f.query()
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out EventsResponse
	if err := c.base.JSON(ctx, http.MethodGet, withQuery(EventsPath, v), nil, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// Stats implements Service.Stats.
func (c *Client) Stats(ctx context.Context, f Filter) (Stats, error) {
	var out Stats
	err := c.base.JSON(ctx, http.MethodGet, withQuery(StatsPath, f.query()), nil, &out)
	return out, err
}

// Subscribe implements Service.Subscribe over GET /v1/observer/stream.
// The stream ending from the server side is Unavailable.
func (c *Client) Subscribe(ctx context.Context, f Filter, fn func(Event) error) error {
	f.Since = time.Time{}
	base := *c.base
	if base.HTTP != nil && base.HTTP.Timeout != 0 {
		hc := *base.HTTP
		hc.Timeout = 0
		base.HTTP = &hc
	}
	req, err := base.NewRequest(ctx, http.MethodGet, withQuery(StreamPath, f.query()), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := base.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = ReadSSE(resp.Body, func(data []byte) error {
		var e Event
		if err := json.Unmarshal(data, &e); err != nil {
			return errs.E("observer.stream", errs.Unavailable, errs.StatusBadGateway, "undecodable event from observerd", err)
		}
		return fn(e)
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = errs.E("observer.stream", errs.Unavailable, "observerd ended the stream")
	}
	return err
}

// ReadSSE reads a text/event-stream and calls fn with the data of each
// event (multi-line data joined by '\n'); comments and other fields are
// skipped. It returns nil at EOF, or fn's or the reader's error.
func ReadSSE(r io.Reader, fn func(data []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var data []byte
	has := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				if has {
					if ferr := fn(data); ferr != nil {
						return ferr
					}
				}
				data, has = data[:0], false
			case line[0] == ':':
			case bytes.HasPrefix(line, []byte("data:")):
				v := bytes.TrimPrefix(line[5:], []byte(" "))
				if has {
					data = append(data, '\n')
				}
				data, has = append(data, v...), true
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
