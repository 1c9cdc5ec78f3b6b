// Package embed is the contract of embedd, the text -> vector service
// (DESIGN.md "embedd"): the JSON request/response types of
// POST /v1/embed and GET /v1/embed/models, the Provider interface that the
// backends implement (embed/builtin: offline GloVe-based; embed/ollama:
// Ollama /api/embed), and Embedder, the Service that wraps providers with
// input validation, batching, a bounded (model, text) cache and a
// concurrency limit. embedd's HTTP handlers, matrixd and pathwayd call a
// Service: this package's Embedder in process, or the HTTP Client.
//
// Limits and answers for edge cases (Embedder, defaults in Config):
//   - input missing, not a string or array of strings, or an empty array: 400 invalid.
//   - an empty or whitespace-only text: 400 invalid naming its index
//     ("input[3] is empty"), or "input is empty" when input was one string;
//     a zero vector would poison cosine search.
//   - more than MaxBatch (10,000) texts: 413 too_large; exactly 10,000 is fine.
//   - a text longer than MaxTextBytes (512 KiB): 413 too_large. Shorter texts
//     are embedded whole by builtin (linear time) and truncated to the model's
//     context by Ollama (truncate=true).
//   - a model named in the request that its provider does not have: 404
//     not_found (builtin; Ollama's "model not found", with the `ollama pull`
//     to run). The configured default model missing, when the request names
//     none: 502 unavailable (the operator's to fix). Ollama down: 502
//     unavailable naming the provider, URL and model.
//   - GET /v1/embed/models with Ollama down: 200 listing builtin's model and
//     the default model, with "unavailable":[{"provider":"ollama","error"}].
//   - GET /v1/embed/models lists Ollama's embedding models only (its
//     /api/show "capabilities", or "<arch>.pooling_type" in model_info on
//     an Ollama without capabilities; asked once per digest); a model
//     /api/show cannot tell about is listed. ADR-086. Its "dims" come
//     from the same /api/show (model_info "<arch>.embedding_length"),
//     so they are known before the first embedding, and always belong to
//     the digest listed as "revision"; an /api/show is bounded (2 s),
//     and one that failed is asked again after 30 s (ADR-141).
//   - A model pulled again on Ollama with new weights (a new digest in
//     /api/tags) is served from the cache at most ollama.DefaultDigestTTL
//     (5 s) longer: the cache key holds the digest (Revisioner), and a
//     model's cache generation changes with every change of its revision,
//     so a vector cached under one revision is never served under another,
//     even when the first digest comes back (ADR-115).
//   - The answer names the weights it came from: "revision" in
//     POST /v1/embed answers and GET /v1/embed/models entries (Ollama's
//     digest from /api/tags; builtin's fixed builtin.Revision), absent when
//     unknown. Extra fields of DESIGN.md's shapes; matrixd records it in
//     its index state and compares it (ADR-115).
package embed

import (
	"context"
	"fmt"

	"lakehouse-go/internal/errs"
)

// Routes of embedd (DESIGN.md).
const (
	RouteEmbed  = "/v1/embed"
	RouteModels = "/v1/embed/models"
)

// EmbedRequest is the body of POST /v1/embed:
// {"input":"text"|["t1",...],"model":"..."}. Input is a string or a list of
// strings; from JSON a list decodes as []any, which Texts accepts too.
type EmbedRequest struct {
	Input any    `json:"input"`
	Model string `json:"model,omitempty"`
}

// EmbedResponse is the answer of POST /v1/embed: one vector per input, in
// input order, all of Dims floats, all from Model (never mixed).
// Revision names Model's weights as embedd knew them when the request
// began (Ollama's digest, trusted for ollama.DefaultDigestTTL; builtin's
// fixed revision); "" (absent) when the provider cannot say. An extra
// field beside DESIGN.md's three (ADR-115).
type EmbedResponse struct {
	Model      string      `json:"model"`
	Dims       int         `json:"dims"`
	Embeddings [][]float32 `json:"embeddings"`
	Revision   string      `json:"revision,omitempty"`
}

// ModelInfo describes one model a provider serves. Dims is 0 while unknown:
// for an Ollama model it is "<arch>.embedding_length" of its /api/show
// model_info (known before any embedding), else the length of the vectors
// it answered under the digest listed (Revision); 0 when Ollama answered
// neither, and for the default model while Ollama does not list it
// (ADR-034, ADR-141).
type ModelInfo struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Dims     int    `json:"dims"`
	Default  bool   `json:"default"`
	// Revision names the model's weights: Ollama's digest in /api/tags,
	// builtin's fixed revision; absent when unknown (ADR-115).
	Revision string `json:"revision,omitempty"`
}

// ModelsResponse is the answer of GET /v1/embed/models: the models of
// every provider that answered, and (only when some did not) the
// providers that could not be asked, so Ollama down still lists the
// builtin model with a 200 (ADR-034).
type ModelsResponse struct {
	Models      []ModelInfo           `json:"models"`
	Unavailable []UnavailableProvider `json:"unavailable,omitempty"`
}

// UnavailableProvider names a provider whose models could not be listed
// and why ("ollama at http://127.0.0.1:11434: unreachable: connection
// refused"); its models are missing from ModelsResponse.Models, except
// the default model, which is always listed.
type UnavailableProvider struct {
	Provider string `json:"provider"`
	Error    string `json:"error"`
}

// Service is embedd's API, implemented by Embedder (in process) and by the
// HTTP client.
type Service interface {
	// Embed returns one vector per input text. Errors: invalid (bad or empty
	// input), too_large (batch or text over the limits), not_found (the
	// model named is unknown to its provider), unavailable/502 (provider
	// down or answering wrong, or the default model missing there),
	// timeout (ctx deadline).
	Embed(ctx context.Context, req EmbedRequest) (EmbedResponse, error)
	// Models lists the models of every provider. A provider that cannot be
	// asked (Ollama down) is named in Unavailable, not an error. Errors:
	// the first provider's error when none can be asked (unavailable/502,
	// timeout); the request's end (ctx).
	Models(ctx context.Context) (ModelsResponse, error)
}

// Provider is one embedding backend.
type Provider interface {
	// Name is the provider's name as in [embedd].provider ("builtin", "ollama").
	Name() string
	// Embed returns len(texts) vectors of equal length for model. Texts are
	// non-empty (Embedder validates). Errors: not_found for a model the
	// provider does not have, unavailable/502 when the backend is down or
	// answers wrong, timeout, invalid when the backend rejects a text.
	Embed(ctx context.Context, model string, texts []string) ([][]float32, error)
	// Models lists the provider's models. Errors: unavailable/502.
	Models(ctx context.Context) ([]ModelInfo, error)
}

// Revisioner is implemented by providers that can name a model's weights
// (Ollama: its digest, which changes when the model is pulled again with
// new weights; builtin: a fixed revision). Revision names the model's
// current weights, "" when unknown; Embedder keys its cache by it, so
// vectors of old weights are not served once the provider reports new
// ones, and puts it in its answers. It must not cost a round trip per call
// (Ollama's refreshes its digests at most every DigestTTL).
type Revisioner interface {
	Revision(ctx context.Context, model string) string
}

// ModelNamer is implemented by providers that accept one model under
// several names (Ollama: "m", "m:latest", "library/m",
// "registry.ollama.ai/library/m:latest", in any case). SameModel reports
// whether a and b name the same model there; Embedder marks the provider's
// listed entry of [embedd].default_model as the default by it (ADR-147).
type ModelNamer interface {
	SameModel(a, b string) bool
}

// ModelCanonicalizer is implemented by providers that accept a model under
// other spellings than the one they list (builtin: any case, as Ollama
// compares names, ADR-149). Canonical returns the listed name of model
// (model itself when it is not theirs); Embedder embeds, caches and
// answers under it.
type ModelCanonicalizer interface {
	Canonical(model string) string
}

// ModelOwner is implemented by providers that serve a fixed set of models
// (builtin). Embedder routes a model to the first provider that owns it,
// else to its primary (first) provider.
type ModelOwner interface {
	Owns(model string) bool
}

// Texts returns the request's input as a list of strings. It accepts a
// string, []string and []any of strings (JSON). It checks the shape only;
// Embedder checks emptiness and sizes.
func (r EmbedRequest) Texts() ([]string, error) {
	const op = "embed.Embed"
	switch v := r.Input.(type) {
	case nil:
		return nil, errs.Errorf(op, errs.Invalid, `"input" is required: a string or an array of strings`)
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, errs.Errorf(op, errs.Invalid, "input[%d] is %s, want a string", i, jsonType(x))
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, errs.Errorf(op, errs.Invalid, `"input" is %s, want a string or an array of strings`, jsonType(v))
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, int, int64, float32:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
