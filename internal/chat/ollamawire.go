package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
)

// Ollama's /api/chat wire shapes (github.com/ollama/ollama/api ChatRequest
// and ChatResponse, same field names and order), for RouteOllamaChat and
// the chat/ollama adapter. Declared here so the contract package does not
// pull in Ollama's module.

// OllamaChatRequest is Ollama's ChatRequest (the fields chatd uses; format
// is carried as the request's response format, ADR-114; others ignored). Tools are OpenAI's function schema, as in
// Ollama.
type OllamaChatRequest struct {
	Model    string          `json:"model"`
	Messages OllamaMessages  `json:"messages"`
	Stream   *bool           `json:"stream,omitempty"`
	Format   json.RawMessage `json:"format,omitempty"`
	Tools    json.RawMessage `json:"tools,omitempty"`
	Options  map[string]any  `json:"options"`
	// Think is Ollama's think (true, false, "low", "medium", "high").
	Think *Think `json:"think,omitempty"`
	// Logprobs and TopLogprobs are Ollama's (api.ChatRequest, Ollama
	// 0.12.11 on): relayed as the answer's logprobs (ADR-125).
	Logprobs    bool `json:"logprobs,omitempty"`
	TopLogprobs *int `json:"top_logprobs,omitempty"`
}

// OllamaMessage is one message of Ollama's ChatRequest. Images are refused
// (ToRequest): dropping them would change the answer. Tool calls are
// Ollama's (arguments an object, the id optional); a tool message names
// its call by tool_call_id, else by tool_name, else it answers the oldest
// call not answered yet (Ollama's own order).
type OllamaMessage struct {
	Role       string          `json:"role"`
	Content    string          `json:"content"`
	Thinking   string          `json:"thinking,omitempty"`
	Images     json.RawMessage `json:"images,omitempty"`
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolName   string          `json:"tool_name,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// given reports whether a raw JSON field holds something (not absent,
// null or an empty array).
func given(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("[]"))
}

// ToRequest translates to the native Request (stream defaults to true, as
// in Ollama) and validates it. options.temperature, num_predict, top_p,
// stop, seed, frequency_penalty and presence_penalty are mapped; the provider comes from a "provider/model" prefix.
func (o *OllamaChatRequest) ToRequest() (Request, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	rf, err := parseOllamaFormat(o.Format, "format")
	if err != nil {
		problems = append(problems, err.Error())
	}
	req := Request{Model: o.Model, Stream: o.Stream == nil || *o.Stream, Think: o.Think, anyStops: true, ResponseFormat: rf}
	req.Logprobs, req.TopLogprobs = o.Logprobs, o.TopLogprobs
	req.Tools = decodeTools(o.Tools, bad)
	var open openCalls // calls not answered yet, oldest first
	for i, m := range o.Messages {
		if given(m.Images) {
			problems = append(problems, fmt.Sprintf("messages[%d].images: not supported by chatd", i))
		}
		msg := Message{Role: strings.ToLower(m.Role), Content: m.Content, Thinking: m.Thinking, ToolCallID: m.ToolCallID,
			ToolCalls: decodeOllamaToolCalls(m.ToolCalls, fmt.Sprintf("messages[%d].tool_calls", i), bad)}
		open.add(msg.ToolCalls)
		if msg.ToolCallID != "" {
			open.answer(msg.ToolCallID)
		}
		if msg.Role == RoleTool && msg.ToolCallID == "" {
			msg.ToolCallID = open.oldest(m.ToolName)
		}
		req.Messages = append(req.Messages, msg)
	}
	num := func(key string) (*float64, bool) {
		v, ok := o.Options[key]
		if !ok || v == nil {
			return nil, true
		}
		f, ok := v.(float64)
		if !ok {
			problems = append(problems, fmt.Sprintf("options.%s: want a number", key))
			return nil, false
		}
		return &f, true
	}
	req.Temperature, _ = num("temperature")
	req.TopP, _ = num("top_p")
	req.FrequencyPenalty, _ = num("frequency_penalty")
	req.PresencePenalty, _ = num("presence_penalty")
	req.optionPrefix = "options."
	// seed: an integer, as Ollama's options.seed (an int) takes it.
	if f, ok := num("seed"); ok && f != nil {
		if *f != math.Trunc(*f) || math.Abs(*f) > 1<<53 {
			bad("options.seed %v: want an integer", *f)
		} else {
			s := int64(*f)
			req.Seed = &s
		}
	}
	if f, ok := num("num_predict"); ok && f != nil && *f > 0 {
		if *f > math.MaxInt32 {
			bad("options.num_predict %v: want at most %d (or -1 for no limit)", *f, math.MaxInt32)
		} else {
			n := int(*f)
			req.MaxTokens = &n
		}
	}
	// stop is an array of strings, as Ollama itself wants ("option stop
	// must be of type array"): anything else is refused, never dropped —
	// a lost stop sequence changes the answer.
	switch v := o.Options["stop"].(type) {
	case nil:
	case []any:
		for k, s := range v {
			str, ok := s.(string)
			if !ok {
				bad("options.stop[%d]: want a string", k)
				continue
			}
			req.Stop = append(req.Stop, str)
		}
	default:
		bad("options.stop: want an array of strings")
	}
	if err := req.Validate(); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if len(problems) > 0 {
		return Request{}, errs.E("chat.ollama", errs.Invalid, strings.Join(problems, "; "))
	}
	return req, nil
}

// openCalls are the tool calls of an Ollama history not answered yet, in
// the order they came, with the lookups ToRequest needs in constant time
// (amortised): a history of 20,000 calls took a minute of CPU when each
// result scanned and copied the open list.
type openCalls struct {
	calls    []ToolCall
	answered []bool
	byID     map[string][]int // indexes of the calls with an id, oldest first
	byName   map[string][]int // the same by function name
	next     int              // no call before it is open
}

func (o *openCalls) add(calls []ToolCall) {
	if len(calls) > 0 && o.byID == nil {
		o.byID, o.byName = map[string][]int{}, map[string][]int{}
	}
	for _, c := range calls {
		k := len(o.calls)
		o.calls, o.answered = append(o.calls, c), append(o.answered, false)
		o.byID[c.ID] = append(o.byID[c.ID], k)
		o.byName[c.Function.Name] = append(o.byName[c.Function.Name], k)
	}
}

// first is the oldest open call of q, which it trims of answered ones.
func (o *openCalls) first(q []int) ([]int, int) {
	for len(q) > 0 && o.answered[q[0]] {
		q = q[1:]
	}
	if len(q) == 0 {
		return q, -1
	}
	return q, q[0]
}

// answer marks the oldest open call with id answered.
func (o *openCalls) answer(id string) {
	q, k := o.first(o.byID[id])
	if k >= 0 {
		o.answered[k] = true
		o.byID[id] = q[1:]
	}
}

// oldest answers the oldest open call named name (any, when name is "")
// and returns its id ("" when none is open).
func (o *openCalls) oldest(name string) string {
	k := -1
	if name == "" {
		for o.next < len(o.calls) && o.answered[o.next] {
			o.next++
		}
		if o.next < len(o.calls) {
			k = o.next
		}
	} else {
		var q []int
		q, k = o.first(o.byName[name])
		if o.byName != nil { // nil until a call was added
			o.byName[name] = q
		}
	}
	if k < 0 {
		return ""
	}
	o.answered[k] = true
	return o.calls[k].ID
}

// decodeOllamaToolCalls reads an assistant message's Ollama tool_calls:
// [{"id"?,"function":{"name","arguments":{...}}}]; a call without an id
// gets one. Request.Validate checks names and arguments.
func decodeOllamaToolCalls(raw json.RawMessage, at string, bad func(string, ...any)) []ToolCall {
	if !given(raw) {
		return nil
	}
	var items []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		bad("%s: want an array of {\"function\":{\"name\",\"arguments\":{...}}}", at)
		return nil
	}
	calls := make([]ToolCall, len(items))
	for j, it := range items {
		id := it.ID
		if id == "" {
			id = NewToolCallID()
		}
		calls[j] = ToolCall{ID: id, Type: "function", Function: FunctionCall{Index: j, Name: it.Function.Name, Arguments: it.Function.Arguments}}
	}
	return calls
}

// OllamaChatResponse is Ollama's ChatResponse: one NDJSON line of a stream,
// or the whole answer. The metrics are set on the line with done=true.
type OllamaChatResponse struct {
	Model              string    `json:"model"`
	CreatedAt          time.Time `json:"created_at"`
	Message            Message   `json:"message"`
	Done               bool      `json:"done"`
	DoneReason         string    `json:"done_reason,omitempty"`
	Logprobs           []Logprob `json:"logprobs,omitempty"` // ADR-125
	TotalDuration      int64     `json:"total_duration,omitempty"`
	LoadDuration       int64     `json:"load_duration,omitempty"`
	PromptEvalCount    int       `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64     `json:"prompt_eval_duration,omitempty"`
	EvalCount          int       `json:"eval_count,omitempty"`
	EvalDuration       int64     `json:"eval_duration,omitempty"`
	// Error is Ollama's in-stream (or error body) {"error":"..."}.
	Error string `json:"error,omitempty"`
}

func toOllama(r Response, total time.Duration) OllamaChatResponse {
	o := OllamaChatResponse{Model: QualifiedModel(r), CreatedAt: r.CreatedAt, Message: r.Message, Done: r.Done, DoneReason: r.DoneReason, Logprobs: r.Logprobs}
	if o.Message.Role == "" {
		o.Message.Role = RoleAssistant
	}
	if r.Done {
		o.TotalDuration = total.Nanoseconds()
		if o.DoneReason == "" || o.DoneReason == "tool_calls" { // Ollama ends a tool-call answer with stop
			o.DoneReason = "stop"
		}
		if r.Usage != nil {
			o.PromptEvalCount, o.EvalCount = r.Usage.PromptTokens, r.Usage.CompletionTokens
		}
	}
	return o
}

// ollamaEncoder frames a stream as Ollama does: one JSON object per line,
// application/x-ndjson, whole tool calls, {"error":"..."} for a failure
// mid-stream.
type ollamaEncoder struct {
	start time.Time
	calls wholeCalls
}

func (*ollamaEncoder) contentType() string { return "application/x-ndjson" }

func (e *ollamaEncoder) chunk(dst []byte, r Response) []byte {
	for _, l := range e.calls.lines(r) {
		b, _ := json.Marshal(toOllama(l, time.Since(e.start)))
		dst = append(append(dst, b...), '\n')
	}
	return dst
}

func (*ollamaEncoder) fail(dst []byte, be errs.BodyError) []byte {
	b, _ := json.Marshal(map[string]string{"error": be.Message})
	return append(append(dst, b...), '\n')
}

func (*ollamaEncoder) end(dst []byte) []byte { return dst }
