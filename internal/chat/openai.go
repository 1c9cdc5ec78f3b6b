package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
)

// The OpenAI chat.completions wire types: the body and answers of
// POST /v1/chat/completions (what the openai client libraries send and
// parse), and what chat/openai sends to OpenAI-compatible upstreams.

// CompletionRequest is OpenAI's chat.completions request. Tools,
// tool_choice and parallel_tool_calls are carried (ToRequest checks their
// shapes), and so are seed, the penalties and response_format (ADR-114).
// Fields chatd does not support are either refused (the legacy functions
// and function_call, n > 1: silently dropping them would change the
// answer) or ignored (metadata, logit_bias, ...), as OpenAI-compatible
// servers do (ADR-062). user, logprobs and top_logprobs are carried
// (ADR-125).
type CompletionRequest struct {
	Model               string             `json:"model"`
	Messages            CompletionMessages `json:"messages"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *StreamOptions     `json:"stream_options,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	Stop                StopList           `json:"stop,omitempty"`
	N                   *int               `json:"n,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	// Provider is chatd's extension (auto | provider name); a
	// "provider/model" model does the same for clients that cannot add fields.
	Provider string `json:"provider,omitempty"`

	// Tools and ToolChoice are decoded by ToRequest (a bad shape is a 400
	// naming the field, not a JSON error); chat/openai sets them to the
	// native values' JSON when it sends.
	Tools             json.RawMessage `json:"tools,omitempty"`
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	// ReasoningEffort (OpenAI's) and Reasoning (OpenRouter's object
	// {"effort","max_tokens","enabled"}) switch a thinking model's
	// reasoning (ToRequest reads them into Request.Think; chat/openai sends
	// the one its upstream takes). ADR-067.
	ReasoningEffort *string         `json:"reasoning_effort,omitempty"`
	Reasoning       json.RawMessage `json:"reasoning,omitempty"`
	Functions       json.RawMessage `json:"functions,omitempty"`
	FunctionCall    json.RawMessage `json:"function_call,omitempty"`
	ResponseFormat  json.RawMessage `json:"response_format,omitempty"`
	// Logprobs and TopLogprobs ask for token log probabilities, relayed
	// as choices[].logprobs (ADR-125; a 400 since ADR-119 before that).
	Logprobs    *bool `json:"logprobs,omitempty"`
	TopLogprobs *int  `json:"top_logprobs,omitempty"`
	// User is OpenAI's end-user id, sent on to OpenAI-compatible
	// upstreams only (ADR-125).
	User string `json:"user,omitempty"`
}

// StreamOptions is OpenAI's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// CompletionMessage is one OpenAI message. Content decodes from a string,
// null, or an array of text parts; it encodes as a string.
type CompletionMessage struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
	// NullContent encodes content as null (an answer of tool calls only,
	// as OpenAI sends it; decoding reads null as "").
	NullContent bool   `json:"-"`
	Name        string `json:"name,omitempty"`
	// ReasoningContent is the reasoning of an answer (LiteLLM's and
	// DeepSeek's field) and Reasoning the same text under OpenRouter's and
	// Ollama's name: chatd writes both (ADR-086). ReasoningDetails is
	// OpenRouter's (read from upstreams and from a client's history only).
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Reasoning        string          `json:"reasoning,omitempty"`
	ReasoningDetails json.RawMessage `json:"reasoning_details,omitempty"`
	// ToolCalls ([]CompletionToolCall) is decoded by ToRequest, so that a
	// bad call is a 400 naming it; encoders set the marshaled calls.
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// MarshalJSON writes content as null when NullContent is set.
func (m CompletionMessage) MarshalJSON() ([]byte, error) {
	type wire CompletionMessage
	if !m.NullContent {
		return json.Marshal(wire(m))
	}
	return json.Marshal(struct {
		wire
		Content *string `json:"content"` // shadows wire's
	}{wire: wire(m)})
}

// CompletionToolCall is OpenAI's tool call: whole in a message (no
// index), a piece in a stream delta (index always; id, type and name on
// the call's first piece; arguments fragments).
type CompletionToolCall struct {
	Index    *int                   `json:"index,omitempty"`
	ID       string                 `json:"id,omitempty"`
	Type     string                 `json:"type,omitempty"`
	Function CompletionFunctionCall `json:"function"`
}

// CompletionFunctionCall is the function of a CompletionToolCall; its
// arguments are a string holding JSON (a fragment of it in a delta).
type CompletionFunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// UnmarshalJSON reads arguments given as a JSON object (or any value
// other than a string) as that value's compact JSON text: some
// OpenAI-compatible servers and proxies send the object itself, and
// openai-python and LiteLLM users read arguments as a string (ADR-113).
// Only upstream answers are decoded so; a client's history is read by
// decodeCompletionToolCalls, which still wants a string (ADR-066).
func (f *CompletionFunctionCall) UnmarshalJSON(b []byte) error {
	var v struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f.Name = v.Name
	a := bytes.TrimSpace(v.Arguments)
	switch {
	case len(a) == 0 || bytes.Equal(a, []byte("null")):
		f.Arguments = ""
	case a[0] == '"':
		return json.Unmarshal(a, &f.Arguments)
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, a); err != nil {
			return err
		}
		f.Arguments = buf.String()
	}
	return nil
}

// MarshalToolCalls is the OpenAI JSON of native calls (arguments as text).
func MarshalToolCalls(calls []ToolCall) json.RawMessage {
	if len(calls) == 0 {
		return nil
	}
	out := make([]CompletionToolCall, len(calls))
	for i, c := range calls {
		out[i] = CompletionToolCall{ID: c.ID, Type: "function",
			Function: CompletionFunctionCall{Name: c.Function.Name, Arguments: ArgumentsText(c.Function.Arguments)}}
	}
	b, _ := json.Marshal(out)
	return b
}

// Content is a message's text (OpenAI allows a string or content parts).
type Content string

// UnmarshalJSON accepts a string, null, or [{"type":"text","text":"..."}].
func (c *Content) UnmarshalJSON(b []byte) error {
	if s, ok := jsonString(b); ok {
		*c = Content(s)
		return nil
	}
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*c = ""
		return nil
	}
	var parts []contentPart
	if err := json.Unmarshal(b, &parts); err != nil {
		// FieldError: the JSON is valid, its shape is not (this was
		// "request body is not valid JSON: content: ...", naming no message)
		return &FieldError{Path: "content", Msg: "want a string or an array of text parts"}
	}
	texts := make([]string, len(parts))
	for i, p := range parts {
		if p.Type != "text" {
			return &FieldError{Path: fmt.Sprintf("content[%d]", i), Msg: fmt.Sprintf("a part of type %q: only text parts are supported", p.Type)}
		}
		texts[i] = p.Text
	}
	// One part a line, as vLLM and TensorRT-LLM join them (Ollama's OpenAI
	// route makes each part a message of its own): parts are separate
	// blocks to the model, never glued into one word (ADR-065).
	*c = Content(strings.Join(texts, "\n"))
	return nil
}

// contentPart is one of a content's parts.
type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// StrictJSONWireType: a content's parts are checked for field names as
// contentParts (shared.StrictJSONFor: "Text" beside "text" is refused).
func (Content) StrictJSONWireType() reflect.Type { return reflect.TypeFor[[]contentPart]() }

// StopList is OpenAI's stop: a string or an array of strings.
type StopList []string

// UnmarshalJSON accepts a string, null or an array of strings.
func (s *StopList) UnmarshalJSON(b []byte) error {
	if str, ok := jsonString(b); ok {
		*s = StopList{str}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return &ShapeError{Msg: "stop: want a string or an array of strings"}
	}
	*s = list
	return nil
}

// ToRequest translates an OpenAI request to the native Request and
// validates it (Invalid, every problem at once).
func (c *CompletionRequest) ToRequest() (Request, error) {
	var problems []string
	refuse := func(raw json.RawMessage, name string) {
		if len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			problems = append(problems, name+": not supported by chatd")
		}
	}
	refuse(c.Functions, "functions (the legacy form; use tools)")
	refuse(c.FunctionCall, "function_call (the legacy form; use tool_choice)")
	rf, rfProblems := parseResponseFormat(c.ResponseFormat)
	problems = append(problems, rfProblems...)
	if c.N != nil && *c.N != 1 {
		problems = append(problems, fmt.Sprintf("n %d: chatd answers one choice (n = 1)", *c.N))
	}
	req := Request{Provider: c.Provider, Model: c.Model, Stream: c.Stream, Temperature: c.Temperature,
		MaxTokens: c.MaxTokens, TopP: c.TopP, Stop: c.Stop, ParallelToolCalls: c.ParallelToolCalls, textArguments: true,
		Seed: c.Seed, FrequencyPenalty: c.FrequencyPenalty, PresencePenalty: c.PresencePenalty, ResponseFormat: rf,
		Logprobs: c.Logprobs != nil && *c.Logprobs, TopLogprobs: c.TopLogprobs, User: c.User}
	if m := c.MaxCompletionTokens; req.MaxTokens == nil && m != nil {
		if *m < 1 { // named as the client sent it, not as max_tokens
			problems = append(problems, fmt.Sprintf("max_completion_tokens %d: want at least 1", *m))
		} else {
			req.MaxTokens = m
		}
	}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	req.Tools = decodeTools(c.Tools, bad)
	req.Think = thinkFromCompletion(c.ReasoningEffort, c.Reasoning, bad)
	if given(c.ToolChoice) {
		var tc ToolChoice
		if err := tc.decode(c.ToolChoice, false); err != nil {
			bad("%v", err)
		} else {
			req.ToolChoice = &tc
		}
	}
	for i, m := range c.Messages {
		req.Messages = append(req.Messages, Message{Role: m.Role, Content: string(m.Content), ToolCallID: m.ToolCallID,
			Thinking:  PickReasoning(m.ReasoningContent, m.Reasoning, m.ReasoningDetails),
			ToolCalls: decodeCompletionToolCalls(m.ToolCalls, fmt.Sprintf("messages[%d].tool_calls", i), bad)})
	}
	err := req.Validate()
	if err != nil {
		problems = append(problems, errs.Message(err))
	}
	if len(problems) > 0 {
		return Request{}, errs.E("chat.completions", errs.Invalid, strings.Join(problems, "; "))
	}
	return req, nil
}

// decodeTools reads OpenAI's tools array; Request.Validate checks the rest.
func decodeTools(raw json.RawMessage, bad func(string, ...any)) []Tool {
	if !given(raw) {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		bad("tools: want an array of {\"type\":\"function\",\"function\":{\"name\",\"description\",\"parameters\"}}")
		return nil
	}
	tools := make([]Tool, 0, len(items))
	for i, it := range items {
		var t struct {
			Type     string          `json:"type"`
			Function json.RawMessage `json:"function"`
		}
		if !isJSONObject(it) || json.Unmarshal(it, &t) != nil {
			bad("tools[%d]: want an object {\"type\":\"function\",\"function\":{...}}", i)
			continue
		}
		var f struct {
			Name        json.RawMessage `json:"name"`
			Description json.RawMessage `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      *bool           `json:"strict"`
		}
		if !isJSONObject(t.Function) || json.Unmarshal(t.Function, &f) != nil {
			bad("tools[%d].function: want an object with name, description and parameters", i)
			continue
		}
		tool := Tool{Type: t.Type, Function: ToolFunction{Parameters: f.Parameters, Strict: f.Strict}}
		var ok bool
		if tool.Function.Name, ok = optString(f.Name); !ok {
			bad("tools[%d].function.name: want a string", i)
		}
		if tool.Function.Description, ok = optString(f.Description); !ok {
			bad("tools[%d].function.description: want a string", i)
		}
		if !given(f.Parameters) {
			tool.Function.Parameters = nil
		}
		tools = append(tools, tool)
	}
	return tools
}

// optString reads an optional JSON string (absent or null is "").
func optString(raw json.RawMessage) (string, bool) {
	if !given(raw) {
		return "", true
	}
	return jsonString(raw)
}

// decodeCompletionToolCalls reads an assistant message's OpenAI tool_calls
// into native calls: arguments must be a string; a JSON object is kept as
// the object ("" is {}), any other text as a JSON string holding it, passed
// unchanged to OpenAI-compatible upstreams (Ollama's adapter refuses it).
// Missing ids, names and types are left for Request.Validate.
func decodeCompletionToolCalls(raw json.RawMessage, at string, bad func(string, ...any)) []ToolCall {
	if !given(raw) {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		bad("%s: want an array of {\"id\",\"type\":\"function\",\"function\":{\"name\",\"arguments\"}}", at)
		return nil
	}
	calls := make([]ToolCall, 0, len(items))
	for j, it := range items {
		var tc struct {
			ID       json.RawMessage `json:"id"`
			Type     json.RawMessage `json:"type"`
			Function json.RawMessage `json:"function"`
		}
		var f struct {
			Name      json.RawMessage `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if !isJSONObject(it) || json.Unmarshal(it, &tc) != nil || !isJSONObject(tc.Function) || json.Unmarshal(tc.Function, &f) != nil {
			bad("%s[%d]: want {\"id\",\"type\":\"function\",\"function\":{\"name\",\"arguments\"}}", at, j)
			continue
		}
		call := ToolCall{Function: FunctionCall{Index: j}}
		var ok bool
		if call.ID, ok = optString(tc.ID); !ok {
			bad("%s[%d].id: want a string", at, j)
		}
		if call.Type, ok = optString(tc.Type); !ok || call.Type == "" {
			bad("%s[%d].type: want \"function\"", at, j)
		}
		if call.Function.Name, ok = optString(f.Name); !ok {
			bad("%s[%d].function.name: want a string", at, j)
		}
		args, ok := jsonString(f.Arguments)
		switch {
		case !ok:
			bad("%s[%d].function.arguments: want a string", at, j)
		case strings.TrimSpace(args) == "":
			call.Function.Arguments = json.RawMessage("{}")
		case !isJSONObject([]byte(args)):
			// Text a model wrote that is no JSON object (truncated, invalid):
			// OpenAI takes any string, so it is kept as is, as a JSON
			// string, the way answers carry it (ADR-066).
			call.Function.Arguments, _ = json.Marshal(args)
		default:
			call.Function.Arguments = json.RawMessage(strings.TrimSpace(args))
		}
		calls = append(calls, call)
	}
	return calls
}

// Completion is OpenAI's chat.completion answer.
type Completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"` // chat.completion
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
}

// CompletionChoice is one choice of a Completion.
type CompletionChoice struct {
	Index        int               `json:"index"`
	Message      CompletionMessage `json:"message"`
	Logprobs     json.RawMessage   `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

// CompletionChunk is one chat.completion.chunk of a streamed answer. Error
// is set by upstreams (OpenRouter) that report a failure inside the stream,
// and by chatd when the stream breaks after the first token (ADR-064).
type CompletionChunk struct {
	ID      string        `json:"id,omitempty"`
	Object  string        `json:"object,omitempty"` // chat.completion.chunk
	Created int64         `json:"created,omitempty"`
	Model   string        `json:"model,omitempty"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage,omitempty"`
	Error   *WireError    `json:"error,omitempty"`
}

// ChunkChoice is one choice of a chunk. Usage is Moonshot's (Kimi's)
// place for a stream's usage: inside the finish_reason chunk's choice
// (read from upstreams; chatd writes usage at the top level, OpenAI's).
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
	Usage        *Usage          `json:"usage,omitempty"`
}

// Delta is the new part of the message in a chunk. Content is omitted
// when nil, or written as null with NullContent (the first delta of an
// answer that starts with a tool call, as OpenAI streams it).
type Delta struct {
	Role        string  `json:"role,omitempty"`
	Content     *string `json:"content,omitempty"`
	NullContent bool    `json:"-"`
	// ReasoningContent (LiteLLM's field) and Reasoning (OpenRouter's,
	// Ollama's) are the next piece of reasoning: chatd writes both with
	// the same text (ADR-086); from upstreams the first one set is read
	// (PickReasoning), as is ReasoningDetails, OpenRouter's.
	ReasoningContent *string              `json:"reasoning_content,omitempty"`
	Reasoning        *string              `json:"reasoning,omitempty"`
	ReasoningDetails json.RawMessage      `json:"reasoning_details,omitempty"`
	ToolCalls        []CompletionToolCall `json:"tool_calls,omitempty"`
}

// MarshalJSON writes "content":null when NullContent is set and Content is nil.
func (d Delta) MarshalJSON() ([]byte, error) {
	type wire Delta
	if !d.NullContent || d.Content != nil {
		return json.Marshal(wire(d))
	}
	return json.Marshal(struct {
		wire
		Content *string `json:"content"` // shadows wire's
	}{wire: wire(d)})
}

// WireError is an error object inside an SSE stream: OpenAI's
// message/type/code, plus DESIGN.md's kind and request_id when chatd sent it.
type WireError struct {
	Message   string          `json:"message"`
	Type      string          `json:"type,omitempty"`
	Code      json.RawMessage `json:"code,omitempty"`
	Kind      errs.Kind       `json:"kind,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
}

// UnmarshalJSON reads OpenAI's error object, or an error given as a string
// ({"error":"Model is overloaded"}: Hugging Face TGI's events and Ollama's
// bodies), which is its message (ADR-107): such an event was undecodable,
// and the upstream's message was lost.
func (e *WireError) UnmarshalJSON(b []byte) error {
	if s, ok := jsonString(b); ok {
		*e = WireError{Message: s}
		return nil
	}
	type wire WireError
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = WireError(w)
	return nil
}

// Upstream is the *UpstreamError of an error object that an upstream sent
// with HTTP 200 — as the whole JSON body or as an SSE event — so that the
// dispatcher treats it like the same error on the status line (retry on
// 429/5xx with retryAfter, 400 stays invalid, ...). The status is the
// object's code when that is an HTTP status (OpenRouter's
// {"error":{"code":429,"message"}}), else the one its code or type names
// (OpenAI's "rate_limit_exceeded", "invalid_request_error", ...), else 502:
// the upstream failed without saying how.
func (e *WireError) Upstream(retryAfter time.Duration) *UpstreamError {
	msg := e.Message
	if msg == "" {
		msg = "an error without a message"
	}
	return &UpstreamError{Status: e.status(), Message: msg, RetryAfter: retryAfter, InBand: true}
}

// wireErrorStatus maps OpenAI-style error types and codes (OpenAI,
// Anthropic-style, Moonshot, OpenAI-compatible servers) to HTTP statuses.
var wireErrorStatus = map[string]int{
	"invalid_request_error": 400, "bad_request": 400, "invalid_request": 400, "context_length_exceeded": 400,
	"authentication_error": 401, "invalid_api_key": 401, "unauthorized": 401,
	"permission_error": 403, "permission_denied": 403, "forbidden": 403,
	"not_found_error": 404, "not_found": 404, "model_not_found": 404,
	"rate_limit_exceeded": 429, "rate_limit_error": 429, "rate_limit_reached_error": 429, "insufficient_quota": 429, "too_many_requests": 429,
	"server_error": 500, "api_error": 500, "internal_error": 500, "internal_server_error": 500,
	"overloaded_error": 503, "service_unavailable": 503, "engine_overloaded_error": 503,
}

func (e *WireError) status() int {
	var n float64
	if json.Unmarshal(e.Code, &n) == nil && n >= 400 && n <= 599 && n == math.Trunc(n) {
		return int(n)
	}
	var code string
	if json.Unmarshal(e.Code, &code) == nil {
		if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
			return n
		}
		if st, ok := wireErrorStatus[code]; ok {
			return st
		}
	}
	if st, ok := wireErrorStatus[e.Type]; ok {
		return st
	}
	return http.StatusBadGateway
}

// FromCompletion builds the native answer from an OpenAI one (used by
// tests and callers that hold a Completion).
func FromCompletion(provider string, c Completion) Response {
	r := Response{ID: c.ID, Provider: provider, Model: c.Model, CreatedAt: time.Unix(c.Created, 0).UTC(),
		Done: true, Usage: c.Usage, Message: Message{Role: RoleAssistant}}
	if len(c.Choices) > 0 {
		m := c.Choices[0].Message
		r.Message.Content = string(m.Content)
		r.Message.Thinking = PickReasoning(m.ReasoningContent, m.Reasoning, m.ReasoningDetails)
		r.DoneReason = c.Choices[0].FinishReason
		var calls []CompletionToolCall
		if json.Unmarshal(c.Choices[0].Message.ToolCalls, &calls) == nil {
			for i, tc := range calls {
				r.Message.ToolCalls = append(r.Message.ToolCalls, ToolCall{ID: tc.ID, Type: "function",
					Function: FunctionCall{Index: i, Name: tc.Function.Name, Arguments: argumentsRaw(tc.Function.Arguments)}})
			}
		}
	}
	return r
}

// UpstreamMessage extracts the human message of an upstream error body:
// OpenAI's {"error":{"message"}}, Ollama's {"error":"..."}, {"message"}, or
// the (truncated) text itself.
func UpstreamMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		if s, ok := jsonString(v.Error); ok && s != "" {
			return s
		}
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(v.Error, &e) == nil && e.Message != "" {
			return e.Message
		}
		if v.Message != "" {
			return v.Message
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
