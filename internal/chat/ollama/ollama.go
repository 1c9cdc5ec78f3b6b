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

// Chat implements chat.Provider: POST /api/chat with stream=true.
func (p *Provider) Chat(ctx context.Context, req chat.ProviderRequest) (chat.ChunkStream, error) {
	stream := true
	areq := api.ChatRequest{Model: req.Model, Stream: &stream, Options: map[string]any{}}
	for _, m := range req.Messages {
		role := m.Role
		if role == chat.RoleDeveloper {
			role = chat.RoleSystem
		}
		areq.Messages = append(areq.Messages, api.Message{Role: role, Content: m.Content})
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
	body io.ReadCloser
	lr   *chat.LineReader
	done bool
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
		c := chat.Chunk{Model: l.Model, Content: l.Message.Content, Done: l.Done, DoneReason: l.DoneReason}
		if l.Done {
			s.done = true
			c.Usage = &chat.Usage{PromptTokens: l.PromptEvalCount, CompletionTokens: l.EvalCount,
				TotalTokens: l.PromptEvalCount + l.EvalCount}
		}
		return c, nil
	}
}

func (s *lineStream) Close() error { return s.body.Close() }
