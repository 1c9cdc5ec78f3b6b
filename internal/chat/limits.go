package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// MaxMessages bounds the messages of one chat request on every route: a
// request with more is 413 too_large (ADR-067, limits). The list is
// counted while it is decoded, one message at a time, so a body of a
// million tiny messages (within [chatd].max_body_bytes) costs the
// decoder's copy of the body and MaxMessages messages before it is
// refused — it cost about 690 MB on its way upstream. A long agent history
// (tens of thousands of tool rounds) stays well inside the limit.
const MaxMessages = 100_000

// ErrTooManyMessages is the decoding error of a list over MaxMessages.
var ErrTooManyMessages = fmt.Errorf("messages: more than %d in one request (chatd's limit)", MaxMessages)

// MaxToolCalls bounds the tool calls of one message on every route: a
// message with more is 413 too_large (ADR-086), found while the message is
// decoded, at call MaxToolCalls+1 — before, one message of 600,000 calls
// (42 MB) cost 2.3 GB on its way upstream. Models make tens of parallel
// calls; a thousand stays well inside.
const MaxToolCalls = 1_000

// ErrTooManyToolCalls is the decoding error of a message with more than
// MaxToolCalls tool calls; decodeBounded puts the message's index before
// it ("messages[3].tool_calls: ...").
var ErrTooManyToolCalls = fmt.Errorf("tool_calls: more than %d in one message (chatd's limit)", MaxToolCalls)

// MaxAnswerBytes bounds what chatd gathers of one upstream answer
// (ADR-094): the content, reasoning and tool-call names and arguments of
// an answer collected for a non-streamed client, and the tool-call names
// and arguments of a streamed one (the NDJSON routes hold a call until it
// is whole). An answer past it fails as its provider's fault: a 502
// unavailable naming the provider and the limit, and auto falls back to
// the next provider. Before, only [chatd].request_timeout stopped an
// upstream that kept sending. Models answer at most a few hundred
// thousand tokens (a few MB); 32 MiB stays far above that.
const MaxAnswerBytes = 32 << 20

// MaxTools bounds the tools of one request on every route: more is 413
// too_large (ADR-086), found on the bytes of the list before any tool is
// built — before, 500,000 tools (a 23 MB body) cost 1.3 GB and went
// upstream. OpenAI takes 128 functions; agents with many MCP servers have
// a few hundred; a thousand stays well inside.
const MaxTools = 1_000

// ErrTooManyTools is the decoding error of a tools list over MaxTools.
var ErrTooManyTools = fmt.Errorf("tools: more than %d in one request (chatd's limit)", MaxTools)

// tooManyTools is the 413 of a raw tools list over MaxTools (OpenAI and
// Ollama routes, which keep the list as JSON until ToRequest), nil when
// it is within the limit.
func tooManyTools(raw json.RawMessage) error {
	if arrayLenOver(raw, MaxTools) {
		return errs.E("decode", errs.TooLarge, ErrTooManyTools.Error())
	}
	return nil
}

// ToolList is the native route's tools, decoded with the MaxTools bound
// (counted on the bytes first) and unknown fields refused.
type ToolList []Tool

// UnmarshalJSON decodes the list, at most MaxTools of it.
func (l *ToolList) UnmarshalJSON(b []byte) error {
	if arrayLenOver(b, MaxTools) {
		return ErrTooManyTools
	}
	return decodeList((*[]Tool)(l), b, "tools", true, MaxTools, ErrTooManyTools)
}

// Messages is a request's message list (native route), decoded with the
// MaxMessages bound; unknown fields in a message are refused, as the
// native route refuses them everywhere.
type Messages []Message

// UnmarshalJSON decodes the list, at most MaxMessages of it, each with at
// most MaxToolCalls tool calls.
func (m *Messages) UnmarshalJSON(b []byte) error {
	var wire []nativeMessage
	if err := decodeBounded(&wire, b, true); err != nil {
		return err
	}
	if wire == nil {
		*m = nil
		return nil
	}
	out := make(Messages, len(wire))
	for i, w := range wire {
		out[i] = w.Message
		out[i].ToolCalls = w.ToolCalls
	}
	*m = out
	return nil
}

// The lists decoded by UnmarshalJSON methods above and below are checked
// by shared.StrictJSONFor as the wire types they decode into, so a field
// name given in another case ("Content" beside "content", which
// encoding/json takes for content) is refused inside them too.

var (
	_ shared.StrictJSONWireTyper = ToolList(nil)
	_ shared.StrictJSONWireTyper = Messages(nil)
	_ shared.StrictJSONWireTyper = boundedToolCalls(nil)
	_ shared.StrictJSONWireTyper = CompletionMessages(nil)
	_ shared.StrictJSONWireTyper = OllamaMessages(nil)
	_ shared.StrictJSONWireTyper = Content("")
)

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (ToolList) StrictJSONWireType() reflect.Type { return reflect.TypeFor[[]Tool]() }

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (Messages) StrictJSONWireType() reflect.Type { return reflect.TypeFor[[]nativeMessage]() }

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (boundedToolCalls) StrictJSONWireType() reflect.Type { return reflect.TypeFor[[]ToolCall]() }

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (CompletionMessages) StrictJSONWireType() reflect.Type {
	return reflect.TypeFor[[]completionWire]()
}

// StrictJSONWireType implements shared.StrictJSONWireTyper.
func (OllamaMessages) StrictJSONWireType() reflect.Type { return reflect.TypeFor[[]ollamaWire]() }

// nativeMessage is a Message as the native route reads it: its tool_calls
// (shadowing Message's) decoded with the MaxToolCalls bound, unknown
// fields refused in them as everywhere on that route.
type nativeMessage struct {
	Message
	ToolCalls boundedToolCalls `json:"tool_calls,omitempty"`
}

// boundedToolCalls decodes a message's tool_calls, at most MaxToolCalls.
type boundedToolCalls []ToolCall

// UnmarshalJSON counts the calls on the bytes (nothing built for a list
// over the limit), then decodes them one at a time, unknown fields refused.
func (c *boundedToolCalls) UnmarshalJSON(b []byte) error {
	if arrayLenOver(b, MaxToolCalls) {
		return ErrTooManyToolCalls
	}
	return decodeList((*[]ToolCall)(c), b, "tool_calls", true, MaxToolCalls, ErrTooManyToolCalls)
}

// boundedRaw is json.RawMessage whose decoding refuses an array of more
// than MaxToolCalls elements (counted on the bytes, nothing built).
type boundedRaw json.RawMessage

// UnmarshalJSON keeps b after counting its elements.
func (r *boundedRaw) UnmarshalJSON(b []byte) error {
	if arrayLenOver(b, MaxToolCalls) {
		return ErrTooManyToolCalls
	}
	*r = append((*r)[:0], b...)
	return nil
}

// arrayLenOver reports whether b (valid JSON, as encoding/json hands it
// to UnmarshalJSON) is an array of more than limit (>= 1) elements: more
// than limit-1 commas outside strings at its top level. It stops at the
// one that passes the limit.
func arrayLenOver(b []byte, limit int) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' {
		return false
	}
	commas, depth, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 1:
			if commas++; commas >= limit {
				return true
			}
		}
	}
	return false
}

// completionWire is a CompletionMessage as the OpenAI route reads it: its
// tool_calls counted against MaxToolCalls while it is decoded.
type completionWire struct {
	CompletionMessage
	ToolCalls boundedRaw `json:"tool_calls,omitempty"`
}

// ollamaWire is an OllamaMessage as the Ollama route reads it, bounded
// like completionWire.
type ollamaWire struct {
	OllamaMessage
	ToolCalls boundedRaw `json:"tool_calls,omitempty"`
}

// CompletionMessages is the message list of an OpenAI request (unknown
// fields ignored), bounded like Messages.
type CompletionMessages []CompletionMessage

// UnmarshalJSON decodes the list, at most MaxMessages of it.
func (m *CompletionMessages) UnmarshalJSON(b []byte) error {
	var wire []completionWire
	if err := decodeBounded(&wire, b, false); err != nil {
		return err
	}
	if wire == nil {
		*m = nil
		return nil
	}
	out := make(CompletionMessages, len(wire))
	for i, w := range wire {
		out[i] = w.CompletionMessage
		out[i].ToolCalls = json.RawMessage(w.ToolCalls)
	}
	*m = out
	return nil
}

// OllamaMessages is the message list of an Ollama request (unknown fields
// ignored), bounded like Messages.
type OllamaMessages []OllamaMessage

// UnmarshalJSON decodes the list, at most MaxMessages of it.
func (m *OllamaMessages) UnmarshalJSON(b []byte) error {
	var wire []ollamaWire
	if err := decodeBounded(&wire, b, false); err != nil {
		return err
	}
	if wire == nil {
		*m = nil
		return nil
	}
	out := make(OllamaMessages, len(wire))
	for i, w := range wire {
		out[i] = w.OllamaMessage
		out[i].ToolCalls = json.RawMessage(w.ToolCalls)
	}
	*m = out
	return nil
}

// decodeBounded decodes a JSON array (or null) into dst one element at a
// time, refusing more than MaxMessages (ErrTooManyMessages) before the
// rest is decoded. Type errors name the field as encoding/json did
// ("messages.role": it prefixes the path of the list).
func decodeBounded[T any](dst *[]T, b []byte, strict bool) error {
	return decodeList(dst, b, "messages", strict, MaxMessages, ErrTooManyMessages)
}

// decodeList is decodeBounded with limit and its error tooMany. An element's
// ErrTooManyToolCalls gets the element's index ("messages[3].tool_calls"),
// and so does a field of the wrong type or shape in it: a FieldError
// naming name[i] ("messages[1].content", not "messages.content", which
// did not say which message, ADR-114).
func decodeList[T any](dst *[]T, b []byte, name string, strict bool, limit int, tooMany error) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*dst = nil
		return nil
	}
	if len(b) == 0 || b[0] != '[' {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf(*dst)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if _, err := dec.Token(); err != nil { // [
		return err
	}
	out := make([]T, 0, min(bytes.Count(b, []byte("{")), 1024))
	for dec.More() {
		if len(out) == limit {
			return tooMany
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, ErrTooManyToolCalls) && tooMany == ErrTooManyMessages {
				return fmt.Errorf("messages[%d].%w", len(out), err)
			}
			elem := fmt.Sprintf("%s[%d]", name, len(out))
			var te *json.UnmarshalTypeError
			var fe *FieldError
			switch {
			case errors.As(err, &te):
				// the wire types embed the message type: its name is no
				// field of the request ("messages[0].role", not
				// "messages[0].Message.role")
				field := te.Field
				for _, embedded := range []string{"Message.", "CompletionMessage.", "OllamaMessage."} {
					field = strings.TrimPrefix(field, embedded)
				}
				c := *te
				c.Field = "x" // what it wants and got, said as the request body's
				_, want, _ := strings.Cut(shared.JSONDecodeMessage(&c), `"x": `)
				if field != "" {
					elem += "." + field
				}
				return &FieldError{Path: elem, Msg: want}
			case errors.As(err, &fe):
				return &FieldError{Path: elem + "." + fe.Path, Msg: fe.Msg}
			}
			return err
		}
		out = append(out, v)
	}
	*dst = out
	return nil
}

// jsonKind names the kind of a JSON value for a type error.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "value"
	}
	switch b[0] {
	case '{':
		return "object"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}
