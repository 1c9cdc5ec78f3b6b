package embed

import (
	"context"
	"net/http"
	"strconv"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Client is the typed HTTP client of embedd; it implements Service, so
// matrixd and pathwayd use it exactly like an in-process Embedder. Build it
// with NewClient(env.Client("embedd")). Errors keep their kind across the
// hop (a provider outage stays unavailable/502 naming the provider).
type Client struct {
	base *shared.Client
}

var _ Service = (*Client)(nil)

// NewClient wraps base (the harness's client for "embedd").
func NewClient(base *shared.Client) *Client { return &Client{base: base} }

// Embed implements Service.Embed.
func (c *Client) Embed(ctx context.Context, req EmbedRequest) (EmbedResponse, error) {
	var out EmbedResponse
	if err := c.base.JSON(ctx, http.MethodPost, RouteEmbed, req, &out); err != nil {
		return EmbedResponse{}, err
	}
	return out, nil
}

// Models implements Service.Models.
func (c *Client) Models(ctx context.Context) (ModelsResponse, error) {
	var out ModelsResponse
	if err := c.base.JSON(ctx, http.MethodGet, RouteModels, nil, &out); err != nil {
		return ModelsResponse{}, err
	}
	return out, nil
}

// ConfiguredModel turns embedd's not_found for a model a daemon embeds with
// by configuration (matrixd's, pathwayd's) into 502 unavailable: the model
// is not pulled, which is the operator's to fix, not the caller's request
// (a search was a 404 naming a model the caller never named).
func ConfiguredModel(op, model string, err error) error {
	if err == nil || !errs.Is(err, errs.NotFound) {
		return err
	}
	return errs.E(op, errs.Unavailable, errs.StatusBadGateway, "embedd cannot embed with the configured model "+strconv.Quote(model)+": "+errs.Message(err))
}
