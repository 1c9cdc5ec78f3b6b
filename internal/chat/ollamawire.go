package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
)

// Ollama's /api/chat wire shapes (github.com/ollama/ollama/api ChatRequest
// and ChatResponse, same field names and order), for RouteOllamaChat and
// the chat/ollama adapter. Declared here so the contract package does not
// pull in Ollama's module.

// OllamaChatRequest is Ollama's ChatRequest (the fields chatd uses; tools
// and format are refused, others ignored).
type OllamaChatRequest struct {
	Model    string          `json:"model"`
	Messages []OllamaMessage `json:"messages"`
	Stream   *bool           `json:"stream,omitempty"`
	Format   json.RawMessage `json:"format,omitempty"`
	Tools    json.RawMessage `json:"tools,omitempty"`
	Options  map[string]any  `json:"options"`
}

// OllamaMessage is one message of Ollama's ChatRequest. Images and tool
// calls are refused (ToRequest): dropping them would change the answer.
type OllamaMessage struct {
	Role      string          `json:"role"`
	Content   string          `json:"content"`
	Images    json.RawMessage `json:"images,omitempty"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

// given reports whether a raw JSON field holds something (not absent,
// null or an empty array).
func given(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("[]"))
}

// ToRequest translates to the native Request (stream defaults to true, as
// in Ollama) and validates it. options.temperature, num_predict, top_p and
// stop are mapped; the provider comes from a "provider/model" prefix.
func (o *OllamaChatRequest) ToRequest() (Request, error) {
	var problems []string
	if len(o.Tools) > 0 && !bytes.Equal(o.Tools, []byte("null")) && !bytes.Equal(o.Tools, []byte("[]")) {
		problems = append(problems, "tools: not supported by chatd")
	}
	if len(o.Format) > 0 && !bytes.Equal(o.Format, []byte("null")) && !bytes.Equal(o.Format, []byte(`""`)) {
		problems = append(problems, "format: not supported by chatd")
	}
	req := Request{Model: o.Model, Stream: o.Stream == nil || *o.Stream}
	for i, m := range o.Messages {
		if given(m.Images) {
			problems = append(problems, fmt.Sprintf("messages[%d].images: not supported by chatd", i))
		}
		if given(m.ToolCalls) {
			problems = append(problems, fmt.Sprintf("messages[%d].tool_calls: not supported by chatd", i))
		}
		req.Messages = append(req.Messages, Message{Role: strings.ToLower(m.Role), Content: m.Content})
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
	if f, ok := num("num_predict"); ok && f != nil && *f > 0 {
		n := int(*f)
		req.MaxTokens = &n
	}
	if v, ok := o.Options["stop"].([]any); ok {
		for _, s := range v {
			if str, ok := s.(string); ok {
				req.Stop = append(req.Stop, str)
			}
		}
	}
	if err := req.Validate(); err != nil {
		problems = append(problems, errs.Message(err))
	}
	if len(problems) > 0 {
		return Request{}, errs.E("chat.ollama", errs.Invalid, strings.Join(problems, "; "))
	}
	return req, nil
}

// OllamaChatResponse is Ollama's ChatResponse: one NDJSON line of a stream,
// or the whole answer. The metrics are set on the line with done=true.
type OllamaChatResponse struct {
	Model              string    `json:"model"`
	CreatedAt          time.Time `json:"created_at"`
	Message            Message   `json:"message"`
	Done               bool      `json:"done"`
	DoneReason         string    `json:"done_reason,omitempty"`
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
	o := OllamaChatResponse{Model: r.Model, CreatedAt: r.CreatedAt, Message: r.Message, Done: r.Done, DoneReason: r.DoneReason}
	if o.Message.Role == "" {
		o.Message.Role = RoleAssistant
	}
	if r.Done {
		o.TotalDuration = total.Nanoseconds()
		if o.DoneReason == "" {
			o.DoneReason = "stop"
		}
		if r.Usage != nil {
			o.PromptEvalCount, o.EvalCount = r.Usage.PromptTokens, r.Usage.CompletionTokens
		}
	}
	return o
}

// ollamaEncoder frames a stream as Ollama does: one JSON object per line,
// application/x-ndjson, {"error":"..."} for a failure mid-stream.
type ollamaEncoder struct{ start time.Time }

func (ollamaEncoder) contentType() string { return "application/x-ndjson" }

func (e ollamaEncoder) chunk(dst []byte, r Response) []byte {
	b, _ := json.Marshal(toOllama(r, time.Since(e.start)))
	return append(append(dst, b...), '\n')
}

func (ollamaEncoder) fail(dst []byte, be errs.BodyError) []byte {
	b, _ := json.Marshal(map[string]string{"error": be.Message})
	return append(append(dst, b...), '\n')
}

func (ollamaEncoder) end(dst []byte) []byte { return dst }
