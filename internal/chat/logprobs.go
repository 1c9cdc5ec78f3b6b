package chat

import (
	"encoding/json"
	"fmt"
)

// Token log probabilities (ADR-125): asked for with OpenAI's logprobs /
// top_logprobs (also the names of Ollama's ChatRequest since Ollama
// 0.12.11, and of the native route), passed to every upstream, relayed
// as each route's clients read them.

// MaxTopLogprobs is the most alternatives per token a request may ask
// for: OpenAI's and Ollama's bound (0..20).
const MaxTopLogprobs = 20

// TokenLogprob is one token and its log probability, in Ollama's shape
// (api.TokenLogprob): bytes omitted when the upstream gave none.
type TokenLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes,omitempty"`
}

// Logprob is a generated token's log probability and the most likely
// tokens at its position, in Ollama's shape (api.Logprob): the native and
// Ollama routes' "logprobs" list, one entry per token of the chunk.
type Logprob struct {
	TokenLogprob
	TopLogprobs []TokenLogprob `json:"top_logprobs,omitempty"`
}

// ChoiceLogprobs is OpenAI's choices[].logprobs: {"content":[...],
// "refusal":null}, in an answer and in each chunk of a stream.
type ChoiceLogprobs struct {
	Content []OpenAITokenLogprob `json:"content"`
	Refusal []OpenAITokenLogprob `json:"refusal"`
}

// OpenAITokenLogprob is one entry of ChoiceLogprobs.Content: bytes null
// when unknown, top_logprobs always a list (empty when none were asked).
type OpenAITokenLogprob struct {
	Token       string             `json:"token"`
	Logprob     float64            `json:"logprob"`
	Bytes       []int              `json:"bytes"`
	TopLogprobs []OpenAITopLogprob `json:"top_logprobs"`
}

// OpenAITopLogprob is one alternative of an OpenAITokenLogprob.
type OpenAITopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// OpenAILogprobs is lps in OpenAI's form (json null when there are none:
// not asked for, or the upstream sent none).
func OpenAILogprobs(lps []Logprob) json.RawMessage {
	if len(lps) == 0 {
		return jsonNull
	}
	out := ChoiceLogprobs{Content: make([]OpenAITokenLogprob, 0, len(lps))}
	for _, lp := range lps {
		e := OpenAITokenLogprob{Token: lp.Token, Logprob: lp.Logprob, Bytes: lp.Bytes, TopLogprobs: make([]OpenAITopLogprob, 0, len(lp.TopLogprobs))}
		for _, t := range lp.TopLogprobs {
			e.TopLogprobs = append(e.TopLogprobs, OpenAITopLogprob(t))
		}
		out.Content = append(out.Content, e)
	}
	b, _ := json.Marshal(out)
	return b
}

// ParseOpenAILogprobs reads an upstream's choices[].logprobs (null or
// absent: none). Only content is relayed.
func ParseOpenAILogprobs(raw json.RawMessage) ([]Logprob, error) {
	if !given(raw) {
		return nil, nil
	}
	var cl struct {
		Content []struct {
			Token       string         `json:"token"`
			Logprob     float64        `json:"logprob"`
			Bytes       []int          `json:"bytes"`
			TopLogprobs []TokenLogprob `json:"top_logprobs"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &cl); err != nil {
		return nil, fmt.Errorf("logprobs: %v", err)
	}
	out := make([]Logprob, 0, len(cl.Content))
	for _, c := range cl.Content {
		out = append(out, Logprob{TokenLogprob: TokenLogprob{Token: c.Token, Logprob: c.Logprob, Bytes: c.Bytes}, TopLogprobs: c.TopLogprobs})
	}
	return out, nil
}

// LogprobsSize is what lps adds to an answer's size (chatd's bound on
// what it holds, ADR-094).
func LogprobsSize(lps []Logprob) int {
	n := 0
	for _, lp := range lps {
		n += len(lp.Token) + 16 + len(lp.Bytes)*4
		for _, t := range lp.TopLogprobs {
			n += len(t.Token) + 16 + len(t.Bytes)*4
		}
	}
	return n
}

// validateLogprobs checks top_logprobs (0..20, and only with logprobs, as
// OpenAI answers both).
func validateLogprobs(logprobs bool, top *int, bad func(string, ...any)) {
	if top == nil {
		return
	}
	switch {
	case *top < 0 || *top > MaxTopLogprobs:
		bad("top_logprobs %d: want 0 to %d", *top, MaxTopLogprobs)
	case *top > 0 && !logprobs:
		bad("top_logprobs %d: needs logprobs true", *top)
	}
}
