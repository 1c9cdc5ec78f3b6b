package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"lakehouse-go/internal/shared"
)

// Tool calling (ADR-062, tools): the native types, shared by every route
// and both adapters. A request offers tools (OpenAI's function schema, the
// one Ollama takes too) and may force a choice; an answer carries
// tool_calls; the history carries earlier calls (assistant messages) and
// their results (tool messages naming the call's id).

// Tool is one tool offered to the model: {"type":"function","function":{...}}.
type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction is a function tool. Parameters is its JSON schema (an
// object), passed upstream byte for byte.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	// Strict is OpenAI's structured-outputs flag (OpenAI-compatible
	// upstreams only; Ollama ignores it).
	Strict *bool `json:"strict,omitempty"`
}

// ToolCall is one call the model made, in the native shape: Ollama's
// api.ToolCall (arguments a JSON object) plus OpenAI's id and type. When a
// model wrote arguments that are not a JSON object, Arguments is that text
// as a JSON string (answers, and requests on the OpenAI route, whose
// arguments are any string; other requests want an object).
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type,omitempty"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function a ToolCall calls.
type FunctionCall struct {
	Index     int             `json:"index"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolChoice is OpenAI's tool_choice: "auto", "none", "required" or
// {"type":"function","function":{"name"}} (Mode "function" with Name).
type ToolChoice struct {
	Mode string // auto | none | required | function
	Name string // the function, with Mode "function"
}

// Tool choice modes.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required"
	ToolChoiceFunction = "function"
)

type namedChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// MarshalJSON writes the string or the object form.
func (c ToolChoice) MarshalJSON() ([]byte, error) {
	if c.Mode != ToolChoiceFunction {
		return json.Marshal(c.Mode)
	}
	var n namedChoice
	n.Type, n.Function.Name = "function", c.Name
	return json.Marshal(n)
}

var errToolChoice error = &ShapeError{Msg: `tool_choice: want "auto", "none", "required" or {"type":"function","function":{"name":...}}`}

// UnmarshalJSON reads the string or the object form, as the native route
// does: a key other than type and function (and name inside function) is
// refused, as unknown fields are everywhere on that route (ADR-107).
func (c *ToolChoice) UnmarshalJSON(b []byte) error { return c.decode(b, true) }

// decode reads the string or the object form; strict refuses unknown
// keys in the object (the OpenAI route ignores them, as it does elsewhere).
func (c *ToolChoice) decode(b []byte, strict bool) error {
	if s, ok := jsonString(b); ok {
		if s == ToolChoiceFunction {
			return errToolChoice
		}
		*c = ToolChoice{Mode: s}
		return nil
	}
	var n namedChoice
	if json.Unmarshal(b, &n) != nil || n.Type != "function" {
		return errToolChoice
	}
	if strict {
		if err := onlyKeys(b, "$.tool_choice", "type", "function"); err != nil {
			return err
		}
		var f struct {
			Function json.RawMessage `json:"function"`
		}
		if json.Unmarshal(b, &f) == nil {
			if err := onlyKeys(f.Function, "$.tool_choice.function", "name"); err != nil {
				return err
			}
		}
	}
	*c = ToolChoice{Mode: ToolChoiceFunction, Name: n.Function.Name}
	return nil
}

// ToolCallDelta is a piece of a tool call as an answer streams it: the
// call's index, its id and name (on its first piece) and the next fragment
// of its arguments (a JSON text, when joined). Ollama's whole calls are one
// delta each.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// NewToolCallID returns a fresh call id ("call_" and 24 hex digits) for
// upstreams whose calls have none (Ollama).
func NewToolCallID() string { return "call_" + shared.NewRequestID()[:24] }

// validTool reports the problems of the tools and tool_choice of a request,
// and of the tool calls in its history.
func validateTools(r *Request, bad func(format string, args ...any)) {
	names := map[string]bool{}
	for i, t := range r.Tools {
		if t.Type != "function" {
			bad("tools[%d].type %q: want \"function\"", i, t.Type)
		}
		name := t.Function.Name
		switch {
		case name == "":
			bad("tools[%d].function.name: required", i)
		case !validToolName(name):
			bad("tools[%d].function.name %q: want 1 to 64 letters, digits, _, - or .", i, name)
		case names[name]:
			bad("tools[%d].function.name %q: named twice", i, name)
		}
		names[name] = true
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && !bytes.Equal(p, []byte("null")) && !isJSONObject(p) {
			bad("tools[%d].function.parameters: want a JSON schema object", i)
		}
	}
	if c := r.ToolChoice; c != nil {
		switch c.Mode {
		case ToolChoiceAuto, ToolChoiceNone, ToolChoiceRequired:
		case ToolChoiceFunction:
			if len(r.Tools) > 0 && !names[c.Name] {
				bad("tool_choice.function.name %q: not one of the tools", c.Name)
			}
		default:
			bad("tool_choice %q: want auto, none, required or a function", c.Mode)
		}
		if len(r.Tools) == 0 {
			bad("tool_choice: only allowed with tools")
		}
	}
	calls := map[string]bool{}
	for i, m := range r.Messages {
		if len(m.ToolCalls) > 0 && m.Role != RoleAssistant {
			bad("messages[%d].tool_calls: only assistant messages carry tool calls", i)
		}
		for j, tc := range m.ToolCalls {
			at := fmt.Sprintf("messages[%d].tool_calls[%d]", i, j)
			switch {
			case tc.ID == "":
				bad("%s.id: required", at)
			case calls[tc.ID]:
				bad("%s.id %q: used twice", at, tc.ID)
			}
			calls[tc.ID] = true
			if tc.Type != "" && tc.Type != "function" {
				bad("%s.type %q: want \"function\"", at, tc.Type)
			}
			if tc.Function.Name == "" {
				bad("%s.function.name: required", at)
			}
			if a := bytes.TrimSpace(tc.Function.Arguments); len(a) > 0 && !bytes.Equal(a, []byte("null")) && !isJSONObject(a) {
				if _, text := jsonString(a); !text || !r.textArguments {
					bad("%s.function.arguments: want a JSON object", at)
				}
			}
		}
		switch {
		case m.Role == RoleTool && m.ToolCallID == "":
			bad("messages[%d].tool_call_id: required on a tool message", i)
		case m.Role == RoleTool && !calls[m.ToolCallID]:
			bad("messages[%d].tool_call_id %q: no earlier assistant message has a tool call with this id", i, m.ToolCallID)
		case m.Role != RoleTool && m.ToolCallID != "":
			bad("messages[%d].tool_call_id: only tool messages answer a tool call", i)
		}
	}
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// ToolName is the function name of the call id in the messages before
// msgs[upTo] ("" if none): Ollama's tool messages name the tool.
func ToolName(msgs []Message, upTo int, id string) string {
	for i := min(upTo, len(msgs)) - 1; i >= 0; i-- {
		for _, tc := range msgs[i].ToolCalls {
			if tc.ID == id {
				return tc.Function.Name
			}
		}
	}
	return ""
}

// ArgumentsObject is the arguments of a call for an upstream that wants an
// object (Ollama): absent or null is {}.
func ArgumentsObject(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		return t
	}
	return json.RawMessage("{}")
}

// ArgumentsText is the arguments of a call as OpenAI's string: the JSON
// object's text, or the text a JSON string holds (arguments a model wrote
// that were no JSON object); absent is "{}".
func ArgumentsText(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if s, ok := jsonString(t); ok {
		return s
	}
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return "{}"
	}
	return string(t)
}

// argumentsRaw is the native form of arguments text: the JSON object, or
// the text as a JSON string when it is not one ("" is {}).
func argumentsRaw(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	if t == "" {
		return json.RawMessage("{}")
	}
	if isJSONObject([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(text)
	return b
}

// ToolCallAssembler joins streamed ToolCallDeltas into whole ToolCalls,
// by index (the order calls started).
type ToolCallAssembler struct {
	calls []*pendingCall
	byIdx map[int]*pendingCall
}

type pendingCall struct {
	index    int
	id, name string
	args     strings.Builder
	emitted  bool
}

// Add takes the next deltas.
func (a *ToolCallAssembler) Add(ds []ToolCallDelta) {
	for _, d := range ds {
		if a.byIdx == nil {
			a.byIdx = map[int]*pendingCall{}
		}
		p := a.byIdx[d.Index]
		if p == nil {
			p = &pendingCall{index: d.Index}
			a.byIdx[d.Index] = p
			a.calls = append(a.calls, p)
		}
		if d.ID != "" {
			p.id = d.ID
		}
		p.name += d.Name
		p.args.WriteString(d.Arguments)
	}
}

// Len is the number of calls seen.
func (a *ToolCallAssembler) Len() int { return len(a.calls) }

// Complete returns the calls not returned before that are finished: all of
// them when done, else those that a later call followed (an upstream
// streams one call after the other).
func (a *ToolCallAssembler) Complete(done bool) []ToolCall {
	var out []ToolCall
	for i, p := range a.calls {
		if p.emitted || !done && i == len(a.calls)-1 {
			continue
		}
		p.emitted = true
		out = append(out, p.call())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Function.Index < out[j].Function.Index })
	return out
}

// Calls returns every call (for a collected answer).
func (a *ToolCallAssembler) Calls() []ToolCall {
	out := make([]ToolCall, 0, len(a.calls))
	for _, p := range a.calls {
		out = append(out, p.call())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Function.Index < out[j].Function.Index })
	return out
}

func (p *pendingCall) call() ToolCall {
	return ToolCall{ID: p.id, Type: "function", Function: FunctionCall{Index: p.index, Name: p.name, Arguments: argumentsRaw(p.args.String())}}
}

// UnsupportedError is a request an adapter cannot carry to its upstream
// (Ollama and a forced tool_choice): Invalid, never retried; auto falls
// back to the next provider, which may carry it.
type UnsupportedError struct{ Message string }

func (e *UnsupportedError) Error() string { return e.Message }
