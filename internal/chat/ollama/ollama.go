// Package ollama is chatd's adapter for Ollama's native chat API (POST
// {base}/api/chat, NDJSON stream), used for the local "ollama" provider and
// for "ollama_cloud" (https://ollama.com with a Bearer API key). Request
// and answer lines are github.com/ollama/ollama/api's own types. chatd.New
// constructs it; nothing else should.
package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ollama/ollama/api"

	"lakehouse-go/internal/chat"
)

// Provider talks to one Ollama endpoint.
type Provider struct {
	Base string // e.g. http://127.0.0.1:11434 (no trailing /)
	Key  string // optional Bearer key (required by ollama.com)
	HTTP *http.Client
}

var _ chat.Provider = (*Provider)(nil)

// New returns the adapter for base.
func New(base, key string, hc *http.Client) *Provider {
	return &Provider{Base: strings.TrimRight(base, "/"), Key: key, HTTP: hc}
}

// chatRequest is api.ChatRequest with the tools as chatd received them:
// the JSON schema goes upstream byte for byte (api.Tool would retype it).
type chatRequest struct {
	api.ChatRequest
	Tools json.RawMessage `json:"tools,omitempty"`
}

// Chat implements chat.Provider: POST /api/chat with stream=true. Tools go
// as they are (Ollama takes OpenAI's function schema); earlier calls as
// api.ToolCall (arguments an object, the id kept), results as tool
// messages with tool_call_id and tool_name. Ollama cannot force a call:
// tool_choice "required" or a named function is an *chat.UnsupportedError
// (auto falls back), "none" sends no tools. History arguments that are text,
// not a JSON object (the OpenAI route takes any string), cannot be sent
// either: also an *chat.UnsupportedError, never rewritten to {}.
func (p *Provider) Chat(ctx context.Context, req chat.ProviderRequest) (chat.ChunkStream, error) {
	stream := true
	areq := chatRequest{ChatRequest: api.ChatRequest{Model: req.Model, Stream: &stream, Options: map[string]any{}}}
	if tc := req.ToolChoice; tc != nil && (tc.Mode == chat.ToolChoiceRequired || tc.Mode == chat.ToolChoiceFunction) {
		return nil, &chat.UnsupportedError{Message: "Ollama cannot force a tool call (tool_choice " + tc.Mode + ")"}
	}
	if len(req.Tools) > 0 && (req.ToolChoice == nil || req.ToolChoice.Mode != chat.ToolChoiceNone) {
		b, err := json.Marshal(req.Tools)
		if err != nil {
			return nil, err
		}
		areq.Tools = b
	}
	names := map[string]string{} // call id -> function name, of the messages so far
	for i, m := range req.Messages {
		role := m.Role
		if role == chat.RoleDeveloper {
			role = chat.RoleSystem
		}
		am := api.Message{Role: role, Content: m.Content, Thinking: m.Thinking, ToolCallID: m.ToolCallID}
		if m.ToolCallID != "" {
			am.ToolName = names[m.ToolCallID] // chat.ToolName, in one pass: it was quadratic
		}
		for j, tc := range m.ToolCalls {
			names[tc.ID] = tc.Function.Name
			call := api.ToolCall{ID: tc.ID, Function: api.ToolCallFunction{Index: j, Name: tc.Function.Name}}
			if err := json.Unmarshal(chat.ArgumentsObject(tc.Function.Arguments), &call.Function.Arguments); err != nil {
				return nil, &chat.UnsupportedError{Message: fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments: Ollama wants a JSON object; these are text that is not one (sent as is to OpenAI-compatible providers only)", i, j)}
			}
			am.ToolCalls = append(am.ToolCalls, call)
		}
		areq.Messages = append(areq.Messages, am)
	}
	if req.Think != nil { // Ollama's think: true, false or low/medium/high (ADR-067)
		areq.Think = &api.ThinkValue{Value: chat.OllamaThink(*req.Think)}
	}
	if req.Temperature != nil {
		areq.Options["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		areq.Options["top_p"] = *req.TopP
	}
	if req.MaxTokens != nil {
		areq.Options["num_predict"] = *req.MaxTokens
	}
	if len(req.Stop) > 0 {
		areq.Options["stop"] = req.Stop
	}
	if f := chat.OllamaFormat(req.ResponseFormat); f != nil { // Ollama's format (ADR-114)
		areq.Format = f
	}
	if req.Seed != nil {
		areq.Options["seed"] = *req.Seed
	}
	if req.FrequencyPenalty != nil {
		areq.Options["frequency_penalty"] = *req.FrequencyPenalty
	}
	if req.PresencePenalty != nil {
		areq.Options["presence_penalty"] = *req.PresencePenalty
	}
	if req.Logprobs { // Ollama 0.12.11 on (ADR-125); user has no Ollama field
		areq.Logprobs = true
		if req.TopLogprobs != nil {
			areq.TopLogprobs = *req.TopLogprobs
		}
	}
	if len(areq.Options) == 0 {
		areq.Options = nil
	}
	body, err := json.Marshal(areq)
	if err != nil {
		return nil, err
	}
	resp, err := chat.PostStream(ctx, p.HTTP, p.Base+"/api/chat", p.Key, "application/x-ndjson", nil, body)
	if err != nil {
		return nil, err
	}
	return &lineStream{body: resp.Body, lr: chat.NewLineReader(resp.Body, chat.MaxLine)}, nil
}

// line is one NDJSON line: a ChatResponse, or Ollama's {"error":"..."}.
type line struct {
	api.ChatResponse
	Error string `json:"error,omitempty"`
}

type lineStream struct {
	body  io.ReadCloser
	lr    *chat.LineReader
	done  bool
	calls int // tool calls so far: the next one's index
}

func (s *lineStream) Next() (chat.Chunk, error) {
	if s.done {
		return chat.Chunk{}, io.EOF
	}
	for {
		b, err := s.lr.Line()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return chat.Chunk{}, io.ErrUnexpectedEOF // ended before done:true
			}
			return chat.Chunk{}, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return chat.Chunk{}, &chat.UpstreamError{Message: fmt.Sprintf("undecodable NDJSON line: %v", err)}
		}
		if l.Error != "" {
			return chat.Chunk{}, &chat.UpstreamError{Message: l.Error}
		}
		c := chat.Chunk{Model: l.Model, Content: l.Message.Content, Thinking: l.Message.Thinking, Done: l.Done, DoneReason: l.DoneReason}
		for _, lp := range l.Logprobs {
			e := chat.Logprob{TokenLogprob: chat.TokenLogprob(lp.TokenLogprob)}
			for _, t := range lp.TopLogprobs {
				e.TopLogprobs = append(e.TopLogprobs, chat.TokenLogprob(t))
			}
			c.Logprobs = append(c.Logprobs, e)
		}
		// Ollama streams whole calls (arguments an object, maybe no id):
		// each is one piece, numbered in the order they came.
		for _, tc := range l.Message.ToolCalls {
			args, err := tc.Function.Arguments.MarshalJSON()
			if err != nil {
				return chat.Chunk{}, &chat.UpstreamError{Message: fmt.Sprintf("tool call arguments: %v", err)}
			}
			c.ToolCalls = append(c.ToolCalls, chat.ToolCallDelta{Index: s.calls, ID: tc.ID, Name: tc.Function.Name, Arguments: string(args)})
			s.calls++
		}
		if l.Done {
			s.done = true
			c.Usage = &chat.Usage{PromptTokens: l.PromptEvalCount, CompletionTokens: l.EvalCount,
				TotalTokens: l.PromptEvalCount + l.EvalCount}
		}
		return c, nil
	}
}

func (s *lineStream) Close() error { return s.body.Close() }
