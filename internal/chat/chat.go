// Package chat is the contract of chatd (:3220): LLM dispatch over five
// providers (ollama, ollama_cloud, openrouter, opencode, kimi) with a
// fallback chain and retries. It holds the native types of DESIGN.md
// (Request, Response, Message, Usage, ProviderInfo; tool calling in
// tools.go, reasoning in reasoning.go), the OpenAI wire types
// of POST /v1/chat/completions (openai.go), the Service interface, the
// Provider interface that adapters implement (chat/ollama, chat/openai), the
// SSE and NDJSON framing both sides share, the HTTP routes (server.go) and
// the typed Client that pathwayd, matrixd and tests use.
//
// The daemon constructor (providers and keys from [chatd], the Dispatcher)
// is chat/chatd.New; it lives in a sub-package because the adapters import
// this one.
package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
)

// Provider names, in DESIGN.md's order.
const (
	Ollama      = "ollama"
	OllamaCloud = "ollama_cloud"
	OpenRouter  = "openrouter"
	OpenCode    = "opencode"
	Kimi        = "kimi"
	// Auto walks [chatd].fallback over the registered providers.
	Auto = "auto"
)

// ProviderNames lists every provider chatd knows, registered or not.
var ProviderNames = []string{Ollama, OllamaCloud, OpenRouter, OpenCode, Kimi}

// KnownProvider reports whether name is one of ProviderNames.
func KnownProvider(name string) bool {
	for _, p := range ProviderNames {
		if p == name {
			return true
		}
	}
	return false
}

// Routes.
const (
	RouteChat      = "/v1/chat"
	RouteProviders = "/v1/chat/providers"
	RouteModels    = "/v1/chat/models"
	// RouteModel is OpenAI's GET /v1/models/{model} (models.retrieve):
	// one entry of RouteModels, whose ids hold a slash
	// ("ollama/llama3.2": openai-python sends it as is, openai-node as
	// ollama%2Fllama3.2), so the id is the rest of the path (ADR-119).
	RouteModel       = "/v1/chat/models/*"
	RouteCompletions = "/v1/chat/completions"
	// RouteBaseCompletions is RouteCompletions as an OpenAI SDK reaches it
	// with base URL http://gateway/v1/chat: the base under which
	// RouteModels is its GET {base}/models too, so one base URL serves
	// both, as the Ollama host http://gateway/v1/chat does (ADR-114).
	RouteBaseCompletions = "/v1/chat/chat/completions"
	// RouteOllamaChat is Ollama's POST /api/chat under /v1/chat, so an Ollama
	// client library with host http://gateway/v1/chat works (ADR-062).
	RouteOllamaChat = "/v1/chat/api/chat"
	// RouteOllamaTags is Ollama's GET /api/tags (ollama.list()): the
	// models of RouteModels in Ollama's list shape (ADR-114).
	RouteOllamaTags = "/v1/chat/api/tags"
	// RouteOllamaAPI is the rest of Ollama's API under the same host,
	// which chatd does not serve: a 404 in Ollama's error body.
	RouteOllamaAPI = "/v1/chat/api/*"
	// RouteOllamaPrefix is the Ollama host's path: errors under it are
	// Ollama's body (ADR-114, ADR-125).
	RouteOllamaPrefix = "/v1/chat/api"
)

// Message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleDeveloper = "developer" // OpenAI's newer name for system; sent upstream as system
)

// Message is one chat message. An assistant message may carry the tool
// calls the model made; a tool message answers one of them (ToolCallID,
// which must name a call of an earlier assistant message).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Thinking is the model's reasoning (Ollama's field; ADR-067): in
	// answers, and in an assistant message of the history (sent on to
	// Ollama, which takes it; not to OpenAI-compatible upstreams).
	Thinking   string     `json:"thinking,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// Request is the body of POST /v1/chat (and what every route is translated to).
type Request struct {
	// Provider is "auto" (or "") to walk the fallback chain, or a provider name.
	Provider string `json:"provider,omitempty"`
	// Model is the upstream model; "" = each provider's default_model. A
	// "provider/model" prefix (LiteLLM style) picks the provider when
	// Provider is auto: "openrouter/anthropic/claude-sonnet-4".
	Model string `json:"model,omitempty"`
	// Messages: at most MaxMessages.
	Messages Messages `json:"messages"`
	// Stream answers NDJSON lines (native) or SSE (OpenAI route) chunk by chunk.
	Stream bool `json:"stream,omitempty"`
	// Temperature in [0, 2]; nil = the provider's default.
	Temperature *float64 `json:"temperature,omitempty"`
	// MaxTokens caps the answer (>= 1); nil = the provider's default.
	MaxTokens *int     `json:"max_tokens,omitempty"`
	TopP      *float64 `json:"top_p,omitempty"`
	Stop      []string `json:"stop,omitempty"`
	// Seed asks for a repeatable answer (OpenAI's seed, Ollama's
	// options.seed); the penalties are OpenAI's, -2..2 (Ollama's options of
	// the same names). nil = the provider's default. ADR-114.
	Seed             *int64   `json:"seed,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`
	// Format asks for a JSON answer, in Ollama's form: "json" or a JSON
	// schema object (ADR-114). The OpenAI route's response_format is read
	// into ResponseFormat instead.
	Format json.RawMessage `json:"format,omitempty"`
	// ResponseFormat is the JSON answer asked for (nil = text); Format
	// when it is nil (JSONAnswer).
	ResponseFormat *ResponseFormat `json:"-"`
	// Tools the model may call (OpenAI's function schema) and whether it
	// must (tool_choice, OpenAI's shape; needs tools). ParallelToolCalls is
	// OpenAI's parallel_tool_calls (OpenAI-compatible upstreams only).
	Tools             ToolList    `json:"tools,omitempty"` // at most MaxTools
	ToolChoice        *ToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool       `json:"parallel_tool_calls,omitempty"`
	// Think switches a thinking model's reasoning (Ollama's think: true,
	// false or a level "low", "medium", "high"; also "minimal", "xhigh",
	// "none"); nil = the model's default. ADR-067.
	Think *Think `json:"think,omitempty"`
	// Logprobs asks for each generated token's log probability and
	// TopLogprobs (0..20, needs Logprobs) for that many alternatives:
	// OpenAI's and Ollama's names, passed to every upstream (ADR-125).
	Logprobs    bool `json:"logprobs,omitempty"`
	TopLogprobs *int `json:"top_logprobs,omitempty"`
	// User is OpenAI's end-user id: sent to the OpenAI-compatible
	// upstreams (OpenRouter, OpenCode, Kimi), not to Ollama, whose API
	// has no such field (ADR-125).
	User string `json:"user,omitempty"`
	// textArguments: history tool calls may carry arguments that are no
	// JSON object as a JSON string holding the text (the OpenAI route,
	// whose arguments are any string); elsewhere they must be an object.
	textArguments bool
	// optionPrefix is "options." on the Ollama route, where the penalties
	// are options (so a problem names the field the client sent).
	optionPrefix string
	// anyStops: the Ollama route takes any number of stop sequences, as
	// Ollama does; elsewhere OpenAI's limit of 4 holds.
	anyStops bool
}

// Validate checks the request on its own (providers are checked by the
// dispatcher). Every problem is reported at once, as Invalid.
func (r *Request) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case r.Provider == "", r.Provider == Auto, KnownProvider(r.Provider):
	default:
		bad("provider %q: want auto or one of %s", r.Provider, strings.Join(ProviderNames, ", "))
	}
	if len(r.Messages) == 0 {
		bad("messages: at least one message is required")
	}
	if len(r.Messages) > MaxMessages {
		bad("messages: %d, at most %d in one request", len(r.Messages), MaxMessages)
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant, RoleTool, RoleDeveloper:
		case "":
			bad("messages[%d].role: required (system, user, assistant or tool)", i)
		default:
			bad("messages[%d].role %q: want system, user, assistant or tool", i, m.Role)
		}
		if len(m.ToolCalls) > MaxToolCalls {
			bad("messages[%d].tool_calls: %d, at most %d in one message", i, len(m.ToolCalls), MaxToolCalls)
		}
	}
	if t := r.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		bad("temperature %v: want a number from 0 to 2", *t)
	}
	if p := r.TopP; p != nil && (math.IsNaN(*p) || *p <= 0 || *p > 1) {
		bad("top_p %v: want a number above 0 and at most 1", *p)
	}
	if m := r.MaxTokens; m != nil && *m < 1 {
		bad("max_tokens %d: want at least 1", *m)
	}
	for _, pen := range []struct {
		name string
		p    *float64
	}{{"frequency_penalty", r.FrequencyPenalty}, {"presence_penalty", r.PresencePenalty}} {
		if p := pen.p; p != nil && (math.IsNaN(*p) || *p < -2 || *p > 2) {
			bad("%s%s %v: want a number from -2 to 2", r.optionPrefix, pen.name, *p)
		}
	}
	if len(r.Stop) > 4 && !r.anyStops {
		bad("stop: at most 4 sequences")
	}
	if len(r.Tools) > MaxTools {
		bad("tools: %d, at most %d in one request", len(r.Tools), MaxTools)
	}
	validateTools(r, bad)
	validateThink(r.Think, "think", bad)
	validateLogprobs(r.Logprobs, r.TopLogprobs, bad)
	if r.ResponseFormat == nil {
		if _, err := parseOllamaFormat(r.Format, "format"); err != nil {
			bad("%s", err.Error())
		}
	}
	if len(problems) > 0 {
		return errs.E("chat.validate", errs.Invalid, strings.Join(problems, "; "))
	}
	return nil
}

// Usage counts tokens as the upstream reported them (0 when it did not).
// CompletionTokens include the reasoning tokens (as OpenAI counts them and
// Ollama's eval_count does); CompletionTokensDetails says how many of them
// were reasoning when the upstream said so (OpenAI, OpenRouter).
type Usage struct {
	PromptTokens            int           `json:"prompt_tokens"`
	CompletionTokens        int           `json:"completion_tokens"`
	TotalTokens             int           `json:"total_tokens"`
	CompletionTokensDetails *TokenDetails `json:"completion_tokens_details,omitempty"`
}

// TokenDetails is OpenAI's completion_tokens_details.
type TokenDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Response is the answer of POST /v1/chat, and also each NDJSON line of a
// streamed answer (ADR-061): lines carry the next piece of the message with
// done=false; the last line has done=true, done_reason and usage (and an
// empty content). A stream that breaks after its first line ends with a line
// carrying error (and done=true). The shape is Ollama's /api/chat answer
// plus provider, id and usage, so Ollama's api.ChatResponse decodes it too.
//
// A tool call is on the line where it is complete (native streams, like
// Ollama's, carry whole calls); the answer's done_reason is then
// "tool_calls". A thinking model's reasoning is message.thinking (Ollama's
// field), on lines of its own as it streams, before the content (ADR-067).
type Response struct {
	ID         string           `json:"id"`
	Provider   string           `json:"provider"`
	Model      string           `json:"model"`
	CreatedAt  time.Time        `json:"created_at"`
	Message    Message          `json:"message"`
	Done       bool             `json:"done"`
	DoneReason string           `json:"done_reason,omitempty"`
	Usage      *Usage           `json:"usage,omitempty"`
	Error      *errs.BodyError  `json:"error,omitempty"`
	Attempts   []AttemptFailure `json:"attempts,omitempty"`
	// ToolCallDeltas are the tool-call pieces of this chunk as the upstream
	// streamed them (inside chatd only: the dispatcher's stream sets them,
	// the route encoders relay them; OpenAI's SSE piece by piece, the
	// NDJSON routes as whole calls in Message.ToolCalls).
	ToolCallDeltas []ToolCallDelta `json:"-"`
	// Logprobs are the log probabilities of this chunk's tokens (of the
	// whole answer when not streamed), when asked for and the upstream
	// sent them (ADR-125): Ollama's field and shape.
	Logprobs []Logprob `json:"logprobs,omitempty"`
}

// AttemptFailure names one failed attempt before the answer came (only in
// non-streamed answers, for operators; the log has the same).
type AttemptFailure struct {
	Provider string `json:"provider"`
	Error    string `json:"error"`
}

// ProviderInfo is one entry of GET /v1/chat/providers.
type ProviderInfo struct {
	Name         string `json:"name"`
	Registered   bool   `json:"registered"`
	DefaultModel string `json:"default_model"`
	// URL is the upstream base URL; Reason says why it is unregistered.
	URL    string `json:"url,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ProvidersResponse is GET /v1/chat/providers.
type ProvidersResponse struct {
	Providers []ProviderInfo `json:"providers"`
}

// Stream is a streamed answer. Next returns the next chunk (a Response
// with done=false, or the final one with done=true) and io.EOF after the
// final chunk. An error from Next after the first chunk means the upstream
// broke mid-answer; nothing falls back any more. Close releases the
// upstream connection and may be called at any time.
type Stream interface {
	Next() (Response, error)
	Close() error
}

// Service is chatd's interface; chatd.Dispatcher implements it over the
// providers and Client over HTTP.
type Service interface {
	// Providers lists every known provider, registered or not.
	Providers(ctx context.Context) ([]ProviderInfo, error)

	// Models lists the default model of every registered provider, OpenAI
	// /v1/models style ("provider/model" ids).
	Models(ctx context.Context) (ModelList, error)

	// Chat answers req in one piece (req.Stream is ignored).
	// Errors: Invalid (bad request; the upstream rejected it), NotFound (the
	// provider is not registered; the model does not exist there),
	// Unavailable 502 (every provider failed; the message names each
	// failure), Timeout (the upstream did not answer in time).
	Chat(ctx context.Context, req Request) (Response, error)

	// ChatStream starts a streamed answer. Fallback and retries happen
	// before it returns: its error kinds are Chat's; once it returns a
	// Stream, the first chunk is there.
	ChatStream(ctx context.Context, req Request) (Stream, error)
}

// ProviderRequest is what the dispatcher hands an adapter: one provider,
// one concrete model. Adapters always stream from the upstream (ADR-063).
type ProviderRequest struct {
	Model       string
	Messages    []Message
	Temperature *float64
	MaxTokens   *int
	TopP        *float64
	Stop        []string
	// Seed, FrequencyPenalty, PresencePenalty: nil = unset (ADR-114).
	Seed             *int64
	FrequencyPenalty *float64
	PresencePenalty  *float64
	// ResponseFormat asks for a JSON answer (nil = text), ADR-114.
	ResponseFormat *ResponseFormat
	Tools          []Tool
	ToolChoice     *ToolChoice
	// ParallelToolCalls is OpenAI's parallel_tool_calls (nil = unset).
	ParallelToolCalls *bool
	// Think is the reasoning switch (nil = unset), in the upstream's form:
	// Ollama's think, OpenRouter's reasoning, others' reasoning_effort.
	Think *Think
	// Logprobs, TopLogprobs and User as in Request (ADR-125).
	Logprobs    bool
	TopLogprobs *int
	User        string
}

// Chunk is one piece of an upstream answer as an adapter reports it.
type Chunk struct {
	ID         string // upstream id, if any
	Model      string // the model as the upstream names it
	Content    string
	Thinking   string          // reasoning text (a first token too)
	ToolCalls  []ToolCallDelta // tool-call pieces (ids may be missing: the dispatcher adds them)
	Done       bool
	DoneReason string // stop | length | tool_calls | ...
	Usage      *Usage
	Logprobs   []Logprob // the log probabilities of this chunk's tokens
}

// ChunkStream is an adapter's stream: Next returns io.EOF after the chunk
// with Done.
type ChunkStream interface {
	Next() (Chunk, error)
	Close() error
}

// Provider is one upstream adapter (chat/ollama, chat/openai).
type Provider interface {
	// Chat sends req upstream (streaming) and returns once the upstream
	// answered with a success status. Errors are *UpstreamError for an
	// upstream's error answer, or the transport's error; ctx bounds the
	// whole stream.
	Chat(ctx context.Context, req ProviderRequest) (ChunkStream, error)
}

// UpstreamError is an upstream's error answer (HTTP status, its message),
// or a protocol error inside a 200 stream (Status 0).
type UpstreamError struct {
	Status     int
	Message    string
	RetryAfter time.Duration // from Retry-After, 0 if none
	// InBand says the error came with HTTP 200, as a JSON error body or an
	// error event inside the stream (OpenRouter's way once a model was
	// picked); Status is then the status the error object names (its code,
	// or one read from its type), and the dispatcher treats it as that
	// status (ADR-065).
	InBand bool
}

func (e *UpstreamError) Error() string {
	switch {
	case e.Status == 0:
		return e.Message
	case e.InBand:
		return fmt.Sprintf("HTTP 200 carrying error %d: %s", e.Status, e.Message)
	case e.Message == "":
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// Transient reports whether retrying the same provider may help: 408, 425,
// 429 and 5xx answers. Transport failures are judged by the dispatcher.
func (e *UpstreamError) Transient() bool {
	return e.Status == 408 || e.Status == 425 || e.Status == 429 || e.Status >= 500
}

// ModelList is GET /v1/chat/models (OpenAI's GET /v1/models shape).
type ModelList struct {
	Object string  `json:"object"` // "list"
	Data   []Model `json:"data"`
}

// Model is one entry of ModelList.
type Model struct {
	ID      string `json:"id"` // provider/model
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"` // the provider
}

// NonEmptyStops is stop without its empty sequences, which an upstream
// would match before the first token (Ollama's runner: strings.Contains),
// answering nothing: a client's empty stop field means no stop sequence
// (ADR-086). stop itself is returned when it has none.
func NonEmptyStops(stop []string) []string {
	for i, s := range stop {
		if s == "" {
			out := append([]string(nil), stop[:i]...)
			for _, s := range stop[i+1:] {
				if s != "" {
					out = append(out, s)
				}
			}
			if len(out) == 0 {
				return nil
			}
			return out
		}
	}
	return stop
}

// SplitModel splits a LiteLLM-style "provider/model" when the prefix is a
// known provider; otherwise it returns ("", model).
func SplitModel(model string) (provider, rest string) {
	if i := strings.IndexByte(model, '/'); i > 0 && KnownProvider(model[:i]) {
		return model[:i], model[i+1:]
	}
	return "", model
}

// jsonString is used by Content decoding in openai.go.
func jsonString(b []byte) (string, bool) {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s, true
	}
	return "", false
}

// JSONAnswer is the JSON answer r asks for (nil = text): ResponseFormat,
// else its Format (Validate has refused a bad one).
func (r Request) JSONAnswer() *ResponseFormat {
	if r.ResponseFormat != nil {
		return r.ResponseFormat
	}
	rf, _ := parseOllamaFormat(r.Format, "format")
	return rf
}

// RetryAfterError is chatd's answer when every provider asked to be
// called later (ADR-114): Err is the error answered, After (0 if none
// said) goes out as the answer's Retry-After header (SetRetryAfter).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// maxRetryAfterHeader bounds the Retry-After chatd passes on: an upstream's
// absurd wait (ADR-107) is not a client's.
const maxRetryAfterHeader = 24 * time.Hour

// SetRetryAfter sets Retry-After (whole seconds, rounded up, at most a
// day) when err is a RetryAfterError with a wait.
func SetRetryAfter(h http.Header, err error) {
	var ra *RetryAfterError
	if !errors.As(err, &ra) || ra.After <= 0 {
		return
	}
	after := min(ra.After, maxRetryAfterHeader)
	h.Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
}

// RetryAfter reads an upstream answer's Retry-After as every client of
// an HTTP service in the tree does (errs.RetryAfterHeader, ADR-167):
// seconds, or an HTTP date counted from the answer's own Date; at most
// errs.MaxRetryAfter (a day: a wait longer than [chatd].max_retry_wait
// is never retried, ADR-107); 0 when absent, past or malformed. What
// chatd does with it — wait and retry, or give up on the provider and
// pass it on (SetRetryAfter) — is the dispatcher's policy.
func RetryAfter(h http.Header) time.Duration {
	d, _ := errs.RetryAfterHeader(h)
	return d
}

// PostStream sends body (JSON) to url with a bearer key (when set), the
// given Accept and extra headers, and returns the 2xx answer, its body
// unread (the caller closes it). A non-2xx answer is an *UpstreamError
// carrying its status, message and Retry-After. Both adapters (Ollama
// NDJSON, OpenAI SSE) use it.
func PostStream(ctx context.Context, hc *http.Client, url, key, accept string, extra http.Header, body []byte) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", accept)
	if key != "" {
		hreq.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := UpstreamMessage(b)
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode <= 399 && loc != "" {
			msg = "redirected to " + loc + " (not followed: set the provider's URL to where it points)"
		}
		return nil, &UpstreamError{Status: resp.StatusCode, Message: msg, RetryAfter: RetryAfter(resp.Header)}
	}
	return resp, nil
}
