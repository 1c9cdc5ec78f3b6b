// Package openai is chatd's adapter for OpenAI-compatible chat APIs (POST
// {base}/chat/completions, SSE stream ending "data: [DONE]"), used for
// openrouter, opencode (OpenCode Zen) and kimi (Moonshot). Request and
// chunks are chat's OpenAI wire types. chatd.New constructs it.
package openai

import (
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
		Temperature: req.Temperature, MaxTokens: req.MaxTokens, TopP: req.TopP, Stop: req.Stop}
	for _, m := range req.Messages {
		creq.Messages = append(creq.Messages, chat.CompletionMessage{Role: m.Role, Content: chat.Content(m.Content)})
	}
	body, err := json.Marshal(creq)
	if err != nil {
		return nil, err
	}
	rc, err := chat.PostStream(ctx, p.HTTP, p.Base+"/chat/completions", p.Key, "text/event-stream", p.Header, body)
	if err != nil {
		return nil, err
	}
	return &sseStream{body: rc, sr: chat.NewSSEReader(rc)}, nil
}

// sseStream turns chat.completion.chunk events into chunks. The chunk with
// finish_reason is held back until the usage chunk or [DONE] (OpenAI sends
// usage in a separate, choice-less chunk after it).
type sseStream struct {
	body    io.ReadCloser
	sr      *chat.SSEReader
	pending *chat.Chunk // final chunk waiting for usage
	done    bool
}

func (s *sseStream) Next() (chat.Chunk, error) {
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
				return chat.Chunk{}, io.ErrUnexpectedEOF
			}
			return chat.Chunk{}, err
		}
		if bytes.Equal(bytes.TrimSpace(data), chat.SSEDone) {
			if s.pending != nil {
				return s.finish(), nil
			}
			return chat.Chunk{}, &chat.UpstreamError{Message: "stream ended ([DONE]) without a finish_reason"}
		}
		var c chat.CompletionChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return chat.Chunk{}, &chat.UpstreamError{Message: fmt.Sprintf("undecodable SSE chunk: %v", err)}
		}
		if c.Error != nil {
			return chat.Chunk{}, &chat.UpstreamError{Message: c.Error.Message}
		}
		out := chat.Chunk{ID: c.ID, Model: c.Model}
		if c.Usage != nil {
			u := *c.Usage
			if u.TotalTokens == 0 {
				u.TotalTokens = u.PromptTokens + u.CompletionTokens
			}
			if s.pending != nil {
				s.pending.Usage = &u
				return s.finish(), nil
			}
			out.Usage = &u
		}
		if len(c.Choices) == 0 {
			continue
		}
		ch := c.Choices[0]
		if ch.Delta.Content != nil {
			out.Content = *ch.Delta.Content
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			if *ch.FinishReason == "error" { // OpenRouter: the provider failed mid-stream
				return chat.Chunk{}, &chat.UpstreamError{Message: "upstream finished with finish_reason error"}
			}
			out.Done, out.DoneReason = true, *ch.FinishReason
			if out.Content != "" { // deliver the text now, the end after usage
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
		if out.Content == "" {
			continue // role-only or empty delta
		}
		return out, nil
	}
}

func (s *sseStream) finish() chat.Chunk {
	s.done = true
	c := *s.pending
	s.pending = nil
	return c
}

func (s *sseStream) Close() error { return s.body.Close() }
