package chat

import (
	"encoding/json"
	"strings"
)

// Reasoning ("thinking", ADR-067): what a thinking model writes before its
// answer. Upstreams send it apart from the content — Ollama as
// message.thinking, OpenRouter as delta.reasoning (and reasoning_details),
// DeepSeek-style APIs (Kimi, vLLM, LiteLLM) as delta.reasoning_content —
// and chatd relays it apart too: message.thinking on the native and Ollama
// routes (Ollama's field, so api.ChatResponse reads it), reasoning_content
// on the OpenAI route (LiteLLM's standard field). A reasoning chunk is a
// first token: it stops the first-token timer and ends fallback for a
// streamed answer (the client has seen it). Request side: Think, from
// think (native, Ollama), reasoning_effort or reasoning (OpenAI route).

// Think is a request's reasoning switch; nil leaves it to the model.
type Think struct {
	// Enabled is false for think:false, reasoning_effort "none" or
	// reasoning.enabled false.
	Enabled bool
	// Effort is the level ("minimal", "low", "medium", "high", "xhigh"),
	// "" for the model's default one.
	Effort string
	// MaxTokens is OpenRouter's reasoning.max_tokens (0 = unset; sent to
	// OpenRouter only).
	MaxTokens int
}

// Efforts are the reasoning levels chatd takes (OpenAI's and OpenRouter's
// reasoning_effort values; Ollama's think takes low, medium and high).
var Efforts = []string{"minimal", "low", "medium", "high", "xhigh"}

var errThink error = &ShapeError{Msg: `think: want true, false or a level ("low", "medium", "high")`}

// UnmarshalJSON reads Ollama's think: true, false, or a level ("none" is
// false). The level is checked by Request.Validate.
func (t *Think) UnmarshalJSON(b []byte) error {
	var on bool
	if json.Unmarshal(b, &on) == nil {
		*t = Think{Enabled: on}
		return nil
	}
	s, ok := jsonString(b)
	if !ok {
		return errThink
	}
	*t = thinkEffort(s)
	return nil
}

// MarshalJSON writes Ollama's think: a level, or true or false.
func (t Think) MarshalJSON() ([]byte, error) {
	if t.Enabled && t.Effort != "" {
		return json.Marshal(t.Effort)
	}
	return json.Marshal(t.Enabled)
}

// thinkEffort is the switch of a reasoning_effort value.
func thinkEffort(s string) Think {
	if s == "none" {
		return Think{}
	}
	return Think{Enabled: true, Effort: s}
}

// validateThink reports a level chatd does not know.
func validateThink(t *Think, field string, bad func(string, ...any)) {
	if t == nil || !t.Enabled || t.Effort == "" {
		return
	}
	for _, e := range Efforts {
		if t.Effort == e {
			return
		}
	}
	bad("%s %q: want none, %s", field, t.Effort, strings.Join(Efforts, ", "))
}

// OllamaThink is the level Ollama's think takes for t: Ollama knows low,
// medium and high (minimal is low, xhigh is high), true and false.
func OllamaThink(t Think) any {
	if !t.Enabled || t.Effort == "" {
		return t.Enabled
	}
	switch t.Effort {
	case "minimal":
		return "low"
	case "xhigh":
		return "high"
	}
	return t.Effort
}

// ReasoningRequest is OpenRouter's reasoning object, also read on the
// OpenAI route (Ollama's OpenAI API takes {"effort"} too). OpenRouter's
// exclude is not carried: the reasoning is relayed when it comes.
type ReasoningRequest struct {
	Effort    string `json:"effort,omitempty"`
	MaxTokens int    `json:"max_tokens,omitempty"`
	Enabled   *bool  `json:"enabled,omitempty"`
}

// OpenRouterReasoning is the reasoning object sent to OpenRouter for t.
func OpenRouterReasoning(t Think) ReasoningRequest {
	if !t.Enabled {
		return ReasoningRequest{Effort: "none"}
	}
	r := ReasoningRequest{Effort: t.Effort, MaxTokens: t.MaxTokens}
	if r.Effort == "" && r.MaxTokens == 0 {
		on := true
		r.Enabled = &on
	}
	return r
}

// thinkFromCompletion reads the OpenAI route's reasoning_effort and
// reasoning (OpenRouter's object; it wins when both are given, as in
// Ollama's OpenAI API).
func thinkFromCompletion(effort *string, raw json.RawMessage, report func(string, ...any)) *Think {
	ok := true // a bad switch is reported here once, not again by Validate
	bad := func(format string, args ...any) { ok = false; report(format, args...) }
	t := readThink(effort, raw, bad)
	if !ok {
		return nil
	}
	return t
}

func readThink(effort *string, raw json.RawMessage, bad func(string, ...any)) *Think {
	if given(raw) {
		var r ReasoningRequest
		if err := json.Unmarshal(raw, &r); err != nil || !isJSONObject(raw) {
			bad(`reasoning: want an object {"effort","max_tokens","enabled"}`)
			return nil
		}
		if r.MaxTokens < 0 {
			bad("reasoning.max_tokens %d: want at least 1", r.MaxTokens)
		}
		t := thinkEffort(r.Effort)
		if r.Effort == "" {
			t = Think{Enabled: r.Enabled == nil || *r.Enabled}
		}
		if r.Enabled != nil && !*r.Enabled {
			t = Think{}
		}
		if t.Enabled {
			t.MaxTokens = r.MaxTokens
		}
		validateThink(&t, "reasoning.effort", bad)
		return &t
	}
	if effort == nil {
		return nil
	}
	t := thinkEffort(*effort)
	validateThink(&t, "reasoning_effort", bad)
	return &t
}

// ReasoningDetailsText is the text of OpenRouter's reasoning_details
// (reasoning.text and reasoning.summary entries; encrypted ones have none),
// for an upstream that sends the details without delta.reasoning.
func ReasoningDetailsText(raw json.RawMessage) string {
	if !given(raw) {
		return ""
	}
	var ds []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Summary string `json:"summary"`
	}
	if json.Unmarshal(raw, &ds) != nil {
		return ""
	}
	var sb strings.Builder
	for _, d := range ds {
		switch d.Type {
		case "reasoning.text":
			sb.WriteString(d.Text)
		case "reasoning.summary":
			sb.WriteString(d.Summary)
		}
	}
	return sb.String()
}

// PickReasoning is the reasoning text of an OpenAI-style delta or
// message: reasoning_content (DeepSeek, Kimi, vLLM, LiteLLM), else
// reasoning (OpenRouter, Ollama's OpenAI API), else the text of
// reasoning_details. Servers that send two of them send the same text
// twice: it is taken once.
func PickReasoning(content, reasoning string, details json.RawMessage) string {
	switch {
	case content != "":
		return content
	case reasoning != "":
		return reasoning
	}
	return ReasoningDetailsText(details)
}

// DeltaReasoning is PickReasoning of a streamed delta.
func DeltaReasoning(d Delta) string {
	return PickReasoning(derefString(d.ReasoningContent), derefString(d.Reasoning), d.ReasoningDetails)
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
