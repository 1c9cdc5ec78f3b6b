package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"lakehouse-go/internal/shared"
)

// What shared.StrictJSONFor checks inside the parts of a request body
// that decode themselves (ADR-107). Its case check follows the Go type a
// JSON object fills; a type with its own UnmarshalJSON, or a field kept
// as json.RawMessage until ToRequest reads it, hid its objects from the
// check, so {"tool_choice":{"Type":"function","FUNCTION":{"name":"x"}}}
// was read as {"type":"function","function":{"name":"x"}} on the native
// and OpenAI routes, and the OpenAI route's tools, tool_calls, reasoning
// and response_format took "Function", "Effort", "TYPE" for their fields.
// Each such part now names the type its JSON is checked as.

var (
	_ shared.StrictJSONWireTyper = ToolChoice{}
	_ shared.StrictJSONWireTyper = CompletionRequest{}
	_ shared.StrictJSONWireTyper = OllamaChatRequest{}
	_ shared.StrictJSONWireTyper = boundedRaw(nil)
)

// StrictJSONWireType: an object tool_choice is checked as namedChoice.
func (ToolChoice) StrictJSONWireType() reflect.Type { return reflect.TypeFor[namedChoice]() }

// completionFields is CompletionRequest without its methods (so the wire
// type below, which embeds it, is not a wire typer itself).
type completionFields CompletionRequest

// completionRequestWire is how the OpenAI route's body is checked: the
// request's own fields, with the raw ones as the types ToRequest reads
// them as.
type completionRequestWire struct {
	completionFields
	Tools          []Tool            `json:"tools"`
	ToolChoice     *ToolChoice       `json:"tool_choice"`
	Reasoning      *ReasoningRequest `json:"reasoning"`
	ResponseFormat *ResponseFormat   `json:"response_format"`
}

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (CompletionRequest) StrictJSONWireType() reflect.Type {
	return reflect.TypeFor[completionRequestWire]()
}

type ollamaFields OllamaChatRequest

// ollamaRequestWire is how the Ollama route's body is checked.
type ollamaRequestWire struct {
	ollamaFields
	Tools []Tool `json:"tools"`
}

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (OllamaChatRequest) StrictJSONWireType() reflect.Type {
	return reflect.TypeFor[ollamaRequestWire]()
}

// toolCallWire is a history tool call as the OpenAI and Ollama routes
// read it (OpenAI's index, id, type and function; Ollama's function.index).
type toolCallWire struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Index     int             `json:"index"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// StrictJSONWireType: the tool calls of an OpenAI or Ollama message.
func (boundedRaw) StrictJSONWireType() reflect.Type { return reflect.TypeFor[[]toolCallWire]() }

// ShapeError is a request body that is valid JSON but not what a field
// takes (a tool_choice of another shape, a think that is no switch, an
// unknown field inside a self-decoding field of the native route): its
// message is the 400's, without encoding/json's "not valid JSON".
type ShapeError struct{ Msg string }

func (e *ShapeError) Error() string { return e.Msg }

// FieldError is a field of a request whose value has the wrong type or
// shape, at Path ("messages[1].content"; a list decoded one element at a
// time puts the element's index before the path its element gave).
type FieldError struct{ Path, Msg string }

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Path, e.Msg) }

// onlyKeys refuses, in the JSON object b at path, a key that is not one
// of keys (the native route refuses unknown fields everywhere). b that is
// no object is left to the caller's shape check.
func onlyKeys(b []byte, path string, keys ...string) error {
	var m map[string]json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) || json.Unmarshal(b, &m) != nil {
		return nil
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return &ShapeError{Msg: fmt.Sprintf("request body has an unknown field %s at %s (want %s)", strconv.Quote(unknown[0]), path, quoteAll(keys))}
}

func quoteAll(keys []string) string {
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, k)
	}
	return string(b)
}
