package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
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

// Messages is a request's message list (native route), decoded with the
// MaxMessages bound; unknown fields in a message are refused, as the
// native route refuses them everywhere.
type Messages []Message

// UnmarshalJSON decodes the list, at most MaxMessages of it.
func (m *Messages) UnmarshalJSON(b []byte) error {
	return decodeBounded((*[]Message)(m), b, true)
}

// CompletionMessages is the message list of an OpenAI request (unknown
// fields ignored), bounded like Messages.
type CompletionMessages []CompletionMessage

// UnmarshalJSON decodes the list, at most MaxMessages of it.
func (m *CompletionMessages) UnmarshalJSON(b []byte) error {
	return decodeBounded((*[]CompletionMessage)(m), b, false)
}

// OllamaMessages is the message list of an Ollama request (unknown fields
// ignored), bounded like Messages.
type OllamaMessages []OllamaMessage

// UnmarshalJSON decodes the list, at most MaxMessages of it.
func (m *OllamaMessages) UnmarshalJSON(b []byte) error {
	return decodeBounded((*[]OllamaMessage)(m), b, false)
}

// decodeBounded decodes a JSON array (or null) into dst one element at a
// time, refusing more than MaxMessages (ErrTooManyMessages) before the
// rest is decoded. Type errors name the field as encoding/json did
// ("messages.role": it prefixes the path of the list).
func decodeBounded[T any](dst *[]T, b []byte, strict bool) error {
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
		if len(out) == MaxMessages {
			return ErrTooManyMessages
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return err // encoding/json puts "messages." before a type error's field
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
