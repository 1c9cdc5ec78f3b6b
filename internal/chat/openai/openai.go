// Package openai is chatd's adapter for OpenAI-compatible chat APIs (POST
// {base}/chat/completions, SSE stream ending "data: [DONE]"), used for
// openrouter, opencode (OpenCode Zen) and kimi (Moonshot). Request and
// chunks are chat's OpenAI wire types; tools, tool_choice and the tool-call
// history go through as OpenAI defines them, and delta.tool_calls pieces
// come back as chat.ToolCallDeltas as they arrive. chatd.New constructs it.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"lakehouse-go/internal/chat"
)

// Provider talks to one OpenAI-compatible endpoint.
type Provider struct {
	Base string // e.g. https://openrouter.ai/api/v1 (no trailing /)
	Key  string // Bearer key
	HTTP *http.Client
	// Header is added to every request (OpenRouter's X-Title, ...).
	Header http.Header
	// ReasoningObject sends the reasoning switch as OpenRouter's reasoning
	// object; otherwise as OpenAI's reasoning_effort (ADR-067).
	ReasoningObject bool
}

var _ chat.Provider = (*Provider)(nil)

// New returns the adapter for base.
func New(base, key string, hc *http.Client) *Provider {
	return &Provider{Base: strings.TrimRight(base, "/"), Key: key, HTTP: hc}
}

// Chat implements chat.Provider: POST /chat/completions with stream=true
// and stream_options.include_usage, so the last chunk carries usage.
func (p *Provider) Chat(ctx context.Context, req chat.ProviderRequest) (chat.ChunkStream, error) {
	creq := chat.CompletionRequest{Model: req.Model, Stream: true, StreamOptions: &chat.StreamOptions{IncludeUsage: true},
		Temperature: req.Temperature, MaxTokens: req.MaxTokens, TopP: req.TopP, Stop: req.Stop, ParallelToolCalls: req.ParallelToolCalls,
		Seed: req.Seed, FrequencyPenalty: req.FrequencyPenalty, PresencePenalty: req.PresencePenalty, User: req.User}
	if req.Logprobs { // ADR-125
		t := true
		creq.Logprobs, creq.TopLogprobs = &t, req.TopLogprobs
	}
	if len(req.Tools) > 0 {
		creq.Tools, _ = json.Marshal(req.Tools)
	}
	if req.ResponseFormat != nil { // OpenAI's response_format as is (ADR-114)
		creq.ResponseFormat, _ = json.Marshal(req.ResponseFormat)
	}
	if req.ToolChoice != nil {
		creq.ToolChoice, _ = json.Marshal(req.ToolChoice)
	}
	if t := req.Think; t != nil {
		switch {
		case p.ReasoningObject:
			creq.Reasoning, _ = json.Marshal(chat.OpenRouterReasoning(*t))
		case !t.Enabled:
			none := "none"
			creq.ReasoningEffort = &none
		case t.Effort != "": // on at the default level: nothing to send
			creq.ReasoningEffort = &t.Effort
		}
	}
	for _, m := range req.Messages {
		creq.Messages = append(creq.Messages, chat.CompletionMessage{Role: m.Role, Content: chat.Content(m.Content),
			ToolCalls: chat.MarshalToolCalls(m.ToolCalls), ToolCallID: m.ToolCallID})
	}
	body, err := json.Marshal(creq)
	if err != nil {
		return nil, err
	}
	resp, err := chat.PostStream(ctx, p.HTTP, p.Base+"/chat/completions", p.Key, "text/event-stream", p.Header, body)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10) // the SSE reader's own size: it reuses br
	return &sseStream{body: resp.Body, br: br, sr: chat.NewSSEReader(br), header: resp.Header}, nil
}

// sseStream turns chat.completion.chunk events into chunks. The chunk with
// finish_reason is held back until the usage chunk or [DONE] (OpenAI sends
// usage in a separate, choice-less chunk after it; Moonshot inside the
// finish_reason chunk's choice, which is read too).
//
// A 200 answer that is one JSON document instead of an event stream is
// read whole (ADR-065): {"error":{...}} is the upstream's error (OpenRouter
// answers so once it picked a model), a chat.completion (a server that
// ignores stream=true) is its content and end as chunks.
type sseStream struct {
	body    io.ReadCloser
	br      *bufio.Reader
	sr      *chat.SSEReader
	header  http.Header
	started bool
	queue   []chat.Chunk // chunks of a whole JSON answer
	pending *chat.Chunk  // final chunk waiting for usage
	done    bool
	events  int // data events read
	// answered: a chunk with content, reasoning or a tool call came.
	answered bool
	usage    *chat.Usage // a choice-less usage chunk's, for the end
}

// Next implements chat.ChunkStream. An error ends the stream (io.EOF
// after it): a finish_reason chunk held back for its usage is never
// delivered after an error.
func (s *sseStream) Next() (chat.Chunk, error) {
	c, err := s.next()
	if err != nil {
		s.done, s.pending, s.queue = true, nil, nil
	}
	return c, err
}

func (s *sseStream) next() (chat.Chunk, error) {
	if !s.started {
		s.started = true
		if isJSON(s.br) {
			if err := s.whole(); err != nil {
				s.done = true
				return chat.Chunk{}, err
			}
		}
	}
	if len(s.queue) > 0 {
		c := s.queue[0]
		s.queue = s.queue[1:]
		s.done = c.Done
		return c, nil
	}
	if s.done {
		return chat.Chunk{}, io.EOF
	}
	for {
		data, err := s.sr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if s.pending != nil { // no [DONE] but the answer finished: accept it
					return s.finish(), nil
				}
				if s.events == 0 {
					// An empty body or a page that is no event stream (a
					// proxy's or portal's HTML): say what came. Still an
					// early end (io.ErrUnexpectedEOF), so still retried.
					return chat.Chunk{}, fmt.Errorf("%w: HTTP 200 with Content-Type %q and no event", io.ErrUnexpectedEOF, s.header.Get("Content-Type"))
				}
				return chat.Chunk{}, io.ErrUnexpectedEOF
			}
			return chat.Chunk{}, err
		}
		s.events++
		if bytes.Equal(bytes.TrimSpace(data), chat.SSEDone) {
			if s.pending != nil {
				return s.finish(), nil
			}
			if s.answered {
				// [DONE] is the stream's explicit end: an answer without a
				// finish_reason is still whole (the openai libraries stop
				// at [DONE]; LiteLLM takes "stop" for a missing reason).
				// ADR-107.
				s.done = true
				return chat.Chunk{Done: true, DoneReason: "stop", Usage: s.usage}, nil
			}
			return chat.Chunk{}, &chat.UpstreamError{Message: "stream ended ([DONE]) without a finish_reason"}
		}
		var c chat.CompletionChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return chat.Chunk{}, &chat.UpstreamError{Message: fmt.Sprintf("undecodable SSE chunk: %v", err)}
		}
		if c.Error != nil {
			return chat.Chunk{}, c.Error.Upstream(chat.RetryAfter(s.header))
		}
		out := chat.Chunk{ID: c.ID, Model: c.Model}
		if c.Usage == nil && len(c.Choices) > 0 {
			c.Usage = c.Choices[0].Usage // Moonshot's (Kimi's) place for it
		}
		if c.Usage != nil {
			u := mergeUsage(s.usage, *c.Usage)
			if s.pending != nil {
				s.pending.Usage = &u
				return s.finish(), nil
			}
			out.Usage = &u
			s.usage = &u // the latest, for an end that carries none
		}
		if len(c.Choices) == 0 {
			continue
		}
		ch := c.Choices[0]
		if out.Logprobs, err = chat.ParseOpenAILogprobs(ch.Logprobs); err != nil {
			return chat.Chunk{}, &chat.UpstreamError{Message: "undecodable SSE chunk: " + err.Error()}
		}
		if ch.Delta.Content != nil {
			out.Content = *ch.Delta.Content
		}
		out.Thinking = chat.DeltaReasoning(ch.Delta)
		out.ToolCalls = deltas(ch.Delta.ToolCalls)
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			if *ch.FinishReason == "error" { // OpenRouter: the provider failed mid-stream
				return chat.Chunk{}, &chat.UpstreamError{Message: "upstream finished with finish_reason error"}
			}
			out.Done, out.DoneReason = true, *ch.FinishReason
			if out.Content != "" || out.Thinking != "" || len(out.ToolCalls) > 0 || len(out.Logprobs) > 0 { // deliver the text now, the end after usage
				fin := chat.Chunk{ID: out.ID, Model: out.Model, Done: true, DoneReason: out.DoneReason, Usage: out.Usage}
				s.pending = &fin
				out.Done, out.DoneReason, out.Usage = false, "", nil
				return out, nil
			}
			if out.Usage != nil {
				s.done = true
				return out, nil
			}
			s.pending = &out
			continue
		}
		if out.Content == "" && out.Thinking == "" && len(out.ToolCalls) == 0 && len(out.Logprobs) == 0 {
			continue // role-only or empty delta
		}
		s.answered = true
		return out, nil
	}
}

// deltas are the tool-call pieces of a delta. A piece without an index
// (not OpenAI's form, but seen from compatible servers) is taken by its
// position in the delta.
func deltas(tcs []chat.CompletionToolCall) []chat.ToolCallDelta {
	if len(tcs) == 0 {
		return nil
	}
	out := make([]chat.ToolCallDelta, 0, len(tcs))
	for i, tc := range tcs {
		d := chat.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments}
		if tc.Index != nil {
			d.Index = *tc.Index
		}
		out = append(out, d)
	}
	return out
}

// mergeUsage is the answer's usage after the report u: a count u gives
// (not 0) replaces the earlier one, a count it leaves out keeps the
// earlier report's. An upstream that reports the prompt's tokens before
// its first token and only the completion's at the end (Anthropic's
// message_start/message_delta split, passed on chunk by chunk) gets both,
// as the AI SDK's and LiteLLM's stream readers count it (ADR-113). A total
// left out, or given for a report that kept an earlier count, is at least
// prompt + completion; otherwise the upstream's total stands.
func mergeUsage(prev *chat.Usage, u chat.Usage) chat.Usage {
	kept := false // a count came from prev
	if prev != nil {
		if u.PromptTokens == 0 && prev.PromptTokens != 0 {
			u.PromptTokens, kept = prev.PromptTokens, true
		}
		if u.CompletionTokens == 0 && prev.CompletionTokens != 0 {
			u.CompletionTokens, kept = prev.CompletionTokens, true
		}
		if u.CompletionTokensDetails == nil {
			u.CompletionTokensDetails = prev.CompletionTokensDetails
		}
	}
	if u.TotalTokens == 0 || kept {
		u.TotalTokens = max(u.TotalTokens, u.PromptTokens+u.CompletionTokens)
	}
	return u
}

func (s *sseStream) finish() chat.Chunk {
	s.done = true
	c := *s.pending
	s.pending = nil
	if c.Usage == nil {
		c.Usage = s.usage
	}
	return c
}

func (s *sseStream) Close() error { return s.body.Close() }

// isJSON reports whether the answer is a JSON document, not an event
// stream: its first byte after white space is '{' (an event stream starts
// with a field name or ':'). Blocks until the first byte, as the stream's
// first Next would; leading white space is consumed (blank lines mean
// nothing in an event stream either).
func isJSON(br *bufio.Reader) bool {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return false // the SSE reader reports it
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			br.Discard(1)
		default:
			return b[0] == '{'
		}
	}
}

// whole reads a JSON answer: an error object becomes the upstream's error,
// a chat.completion the chunks it holds.
func (s *sseStream) whole() error {
	b, err := io.ReadAll(io.LimitReader(s.br, chat.MaxLine+1))
	if err != nil {
		return err
	}
	if len(b) > chat.MaxLine {
		return &chat.UpstreamError{Message: fmt.Sprintf("JSON answer longer than %d bytes", chat.MaxLine)}
	}
	var v struct {
		Error json.RawMessage `json:"error"`
		chat.Completion
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return &chat.UpstreamError{Message: fmt.Sprintf("undecodable JSON answer: %v", err)}
	}
	if len(v.Error) > 0 && !bytes.Equal(v.Error, []byte("null")) {
		var we chat.WireError
		if json.Unmarshal(v.Error, &we) != nil { // {"error":"text"}
			we = chat.WireError{Message: chat.UpstreamMessage(b)}
		}
		return we.Upstream(chat.RetryAfter(s.header))
	}
	if len(v.Choices) == 0 {
		return &chat.UpstreamError{Message: "a JSON answer with neither choices nor an error: " + chat.UpstreamMessage(b)}
	}
	ch := v.Choices[0]
	if ch.FinishReason == "error" {
		return &chat.UpstreamError{Message: "upstream finished with finish_reason error"}
	}
	reason := ch.FinishReason
	if reason == "" {
		reason = "stop"
	}
	fin := chat.Chunk{ID: v.ID, Model: v.Model, Done: true, DoneReason: reason}
	if v.Usage != nil {
		u := *v.Usage
		if u.TotalTokens == 0 {
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		fin.Usage = &u
	}
	var calls []chat.CompletionToolCall
	if len(ch.Message.ToolCalls) > 0 && json.Unmarshal(ch.Message.ToolCalls, &calls) != nil {
		return &chat.UpstreamError{Message: "undecodable tool_calls in the JSON answer"}
	}
	lps, err := chat.ParseOpenAILogprobs(ch.Logprobs)
	if err != nil {
		return &chat.UpstreamError{Message: "undecodable JSON answer: " + err.Error()}
	}
	m := ch.Message
	thinking := chat.PickReasoning(m.ReasoningContent, m.Reasoning, m.ReasoningDetails)
	if content := string(m.Content); content != "" || thinking != "" || len(calls) > 0 || len(lps) > 0 {
		s.queue = append(s.queue, chat.Chunk{ID: v.ID, Model: v.Model, Content: content, Thinking: thinking, ToolCalls: deltas(calls), Logprobs: lps})
	}
	s.queue = append(s.queue, fin)
	return nil
}
