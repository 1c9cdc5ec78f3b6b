package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Structured answers (ADR-114): OpenAI's response_format and Ollama's
// format, which Ollama's own OpenAI API and LiteLLM map into each other.
// chatd refused every form but text (ADR-062), so an SDK's JSON mode or
// structured output (openai-node's zodResponseFormat, ollama-js's
// format: "json") was a 400 against chatd and worked against the real
// services.

// Response format types (OpenAI's names).
const (
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat is a request for a JSON answer: Type json_object (any
// JSON object; Ollama's format "json") or json_schema (an answer of
// JSONSchema.Schema; Ollama's format holding the schema).
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is OpenAI's response_format.json_schema. Schema is passed
// byte for byte.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// defaultSchemaName names a schema that came without a name (Ollama's
// format has none; OpenAI requires one).
const defaultSchemaName = "response"

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

func absent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// parseOllamaFormat reads Ollama's format (field name for messages):
// absent, null or "" is none; "json" is json_object; an object is the
// schema of a json_schema answer.
func parseOllamaFormat(raw json.RawMessage, field string) (*ResponseFormat, error) {
	if absent(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "":
			return nil, nil
		case "json":
			return &ResponseFormat{Type: FormatJSONObject}, nil
		}
	} else if isObject(raw) {
		return &ResponseFormat{Type: FormatJSONSchema, JSONSchema: &JSONSchema{Name: defaultSchemaName, Schema: bytes.TrimSpace(raw)}}, nil
	}
	return nil, fmt.Errorf(`%s: want "json" or a JSON schema object`, field)
}

// parseResponseFormat reads OpenAI's response_format: absent, null or
// {"type":"text"} is none.
func parseResponseFormat(raw json.RawMessage) (*ResponseFormat, []string) {
	if absent(raw) {
		return nil, nil
	}
	var rf ResponseFormat
	if !isObject(raw) || json.Unmarshal(raw, &rf) != nil {
		return nil, []string{`response_format: want {"type":"text"}, {"type":"json_object"} or {"type":"json_schema","json_schema":{"name","schema"}}`}
	}
	switch rf.Type {
	case "text":
		return nil, nil
	case FormatJSONObject:
		return &ResponseFormat{Type: FormatJSONObject}, nil
	case FormatJSONSchema:
		js := rf.JSONSchema
		var problems []string
		switch {
		case js == nil:
			problems = append(problems, "response_format.json_schema: required with type json_schema")
		case !absent(js.Schema) && !isObject(js.Schema):
			problems = append(problems, "response_format.json_schema.schema: want a JSON schema object")
		}
		if len(problems) > 0 {
			return nil, problems
		}
		out := *js
		out.Schema = bytes.TrimSpace(out.Schema)
		if out.Name == "" {
			out.Name = defaultSchemaName
		}
		return &ResponseFormat{Type: FormatJSONSchema, JSONSchema: &out}, nil
	}
	return nil, []string{fmt.Sprintf("response_format.type %q: want text, json_object or json_schema", rf.Type)}
}

// OllamaFormat is rf as Ollama's format: the schema, or "json" for
// json_object (and for a json_schema without a schema). nil for none.
func OllamaFormat(rf *ResponseFormat) json.RawMessage {
	switch {
	case rf == nil:
		return nil
	case rf.Type == FormatJSONSchema && rf.JSONSchema != nil && !absent(rf.JSONSchema.Schema):
		return rf.JSONSchema.Schema
	}
	return json.RawMessage(`"json"`)
}
