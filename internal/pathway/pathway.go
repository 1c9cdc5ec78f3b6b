// Package pathway is the contract and implementation of pathwayd (:3217),
// Mem0-style agent memory plus run traces (DESIGN.md "pathwayd"). It holds
// the wire types (Memory, AddRequest, SearchRequest, HistoryEntry, Step), the
// Service interface, the Store that implements it (deterministic fact
// extraction and ADD/UPDATE/DELETE/NONE decisions by content words, holder
// (the user or a third party), polarity, subject and embedding similarity
// within a scope, brute-force hybrid search per scope (cosine fused with a
// keyword score, ADR-134), state kept in an
// append-only state.jsonl with group-commit fsync, rebuilt by replay), the
// HTTP routes, the daemon constructor New, and the typed Client.
//
// Agents and chatd call it through the gateway (/v1/pathway/...). Embeddings
// come from an embed.Service: the built-in provider in process by default
// (ADR-053). Decisions: docs/DECISIONS.md ADR-053..056.
package pathway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Routes of pathwayd (DESIGN.md).
const (
	MemoriesPath = "/v1/pathway/memories"
	SearchPath   = "/v1/pathway/search"
	TracesPath   = "/v1/pathway/traces"
)

// Limits.
const (
	MaxIDLen        = 256      // user_id, agent_id, run_id, memory ids
	MaxMessages     = 256      // messages in one add
	MaxTextBytes    = 64 << 10 // one message, text, query or memory
	MaxMetadataSize = 16 << 10 // metadata as JSON
	MaxSteps        = 1000     // steps in one trace append
	MaxStepBytes    = 1 << 20  // one step as JSON
	DefaultLimit    = 100
	MaxLimit        = 1000

	// A page of GET /v1/pathway/traces/{run_id} (ADR-054): at most limit
	// steps (default DefaultTraceLimit, at most MaxTraceLimit), and it
	// ends early, after at least one step, once its steps pass
	// MaxTracePageBytes as stored JSON, so one answer stays bounded
	// however long the run grows.
	DefaultTraceLimit = 1000 // one full append; a normal run is one page
	MaxTraceLimit     = 10000
	MaxTracePageBytes = 16 << 20

	// A page of GET /v1/pathway/memories/{id}/history, the same way
	// (ADR-053): a memory updated 300 times with 64 KiB texts answered
	// 31 MB in one piece, and nothing bounded it.
	DefaultHistoryLimit = 1000
	MaxHistoryLimit     = 10000
	MaxHistoryPageBytes = 16 << 20
)

// MaxFacts bounds the facts extracted from one add: each is decided
// against the scope's memories under the store's write lock, so 9,000
// one-word sentences (160 KB) held every other request for seconds, and
// more were refused with the embedder's "batch of N texts".
const MaxFacts = 1000

// Events of an add (Mem0's vocabulary).
const (
	EventAdd    = "ADD"
	EventUpdate = "UPDATE"
	EventDelete = "DELETE"
	EventNone   = "NONE"
)

// Scope is the ids a memory belongs to. A filter Scope matches memories
// whose ids equal every non-empty id of the filter (Mem0's filters).
type Scope struct {
	UserID  string `json:"user_id,omitempty"`
	AgentID string `json:"agent_id,omitempty"`
	RunID   string `json:"run_id,omitempty"`
}

// Empty reports whether no id is set.
func (s Scope) Empty() bool { return s.UserID == "" && s.AgentID == "" && s.RunID == "" }

func (s Scope) matches(m *Memory) bool {
	return (s.UserID == "" || s.UserID == m.UserID) &&
		(s.AgentID == "" || s.AgentID == m.AgentID) &&
		(s.RunID == "" || s.RunID == m.RunID)
}

// validate checks the ids of a read; required means at least one must be
// set. Reads take any id checkID accepts, so memories stored before
// checkNewID existed stay listable, searchable and deletable.
func (s Scope) validate(required bool) []string {
	return s.check(required, checkID)
}

// validateNew checks the ids of a write that stores them (an add): each
// must pass checkNewID.
func (s Scope) validateNew() []string {
	return s.check(true, checkNewID)
}

func (s Scope) check(required bool, check func(string) string) []string {
	var p []string
	if required && s.Empty() {
		p = append(p, "at least one of user_id, agent_id, run_id is required")
	}
	for _, f := range []struct{ name, v string }{{"user_id", s.UserID}, {"agent_id", s.AgentID}, {"run_id", s.RunID}} {
		if msg := check(f.v); msg != "" {
			p = append(p, f.name+": "+msg)
		}
	}
	return p
}

// checkLabel is the check of a step's type and name, labels: UTF-8
// without any control character (C0, DEL, C1; a NUL or a line break in them
// was stored and shown as given, a C1 until ADR-102).
func checkLabel(v string) string {
	if !utf8.ValidString(v) {
		return "not printable UTF-8: invalid UTF-8"
	}
	for i, r := range v {
		if unicode.Is(unicode.Cc, r) {
			return fmt.Sprintf("not printable UTF-8: holds the control character %s at byte %d", runeName(r), i)
		}
	}
	return ""
}

// checkID is the check of an id that is read (a path, a query parameter,
// a cursor): the rule before the twelfth session's audit, so ids already
// stored in state.jsonl stay reachable. New ids pass checkNewID too.
func checkID(v string) string {
	switch {
	case len(v) > MaxIDLen:
		return fmt.Sprintf("%d bytes, at most %d", len(v), MaxIDLen)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' }):
		return "must be printable UTF-8 without '/'"
	}
	return ""
}

// checkNewID is the check of an id that a write stores (the ids of an
// add, a trace's run_id): checkID, and no character that displays as
// nothing or reorders what follows, so a stored id cannot display as
// another one (ADR-088): no control (C0, DEL, C1), format (bidi overrides
// and isolates, zero-width characters, the BOM, the soft hyphen),
// private-use or separator character other than an ASCII space inside
// the id, and no U+FFFD (what invalid UTF-8 became in the request).
func checkNewID(v string) string {
	if msg := checkID(v); msg != "" {
		return msg
	}
	if v != "" && (v[0] == ' ' || v[len(v)-1] == ' ') {
		return "begins or ends with a space"
	}
	if i, r := shared.Hidden(v); i >= 0 {
		return fmt.Sprintf("holds %s at byte %d; an id may not hold control, format (bidi, zero-width), private-use or space characters other than an inner ASCII space", runeName(r), i)
	}
	return ""
}

// runeName is "U+202E" or "U+0000" for messages.
func runeName(r rune) string { return shared.RuneName(r) }

// checkText is the check of text that becomes a memory (an add's mined
// messages, a PUT's text): no control character (C0, DEL, C1) other than
// tab, line feed and carriage return. A NUL was stored and answered as
// given; Mem0's SQL stores refuse it (PostgreSQL text cannot hold NUL).
func checkText(v string) string { return checkFree(v, "text") }

// checkFree is checkText for the free text named what (a query, a
// metadata string): tab, line feed and carriage return, no other control
// character. Bidi marks and other format characters stay allowed in free
// text (right-to-left languages use them); only ids refuse them (ADR-088).
func checkFree(v, what string) string {
	for i, r := range v {
		if r != '\t' && r != '\n' && r != '\r' && unicode.Is(unicode.Cc, r) {
			return fmt.Sprintf("holds the control character %s at byte %d; %s may hold tab, line feed and carriage return, no other control character", runeName(r), i, what)
		}
	}
	return ""
}

// Metadata is the free-form JSON object of a memory or a step. It decodes
// its numbers as json.Number, so an integer beyond 2^53 or a long decimal
// keeps its exact text through the request, state.jsonl, replay and every
// answer (a float64 would round 9007199254740993 to ...992).
type Metadata map[string]any

// UnmarshalJSON decodes an object (or null) keeping numbers exact.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Unwrapped, so that encoding/json adds the field's path
			// ("metadata", "steps.metadata") to the 400's message; wrapped,
			// it read "the request body: want an object" (ADR-111).
			return te
		}
		return fmt.Errorf("metadata: want a JSON object: %w", err)
	}
	*m = v
	return nil
}

// Memory is one stored fact.
type Memory struct {
	ID     string `json:"id"`
	Memory string `json:"memory"`
	Hash   string `json:"hash"`
	Scope
	Metadata  Metadata  `json:"metadata,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Message is one chat message of an add. Role is user, assistant, system
// or tool (Mem0's roles plus tool); missing or "" means user. Only user
// messages are mined for facts. Over JSON a message may also carry
// OpenAI's tool fields (messageFields): an assistant's tool_calls, with a
// null or absent content, and a tool's tool_call_id; they are checked and
// never stored (ADR-153).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// AddRequest is the body of POST /v1/pathway/memories. Messages is a list of
// {role, content} or a plain string; Text is an alternative to Messages.
// Infer (default true) extracts facts and deduplicates; false stores each
// non-system message verbatim as a new memory (Mem0's infer=False).
type AddRequest struct {
	Messages any      `json:"messages,omitempty"`
	Text     string   `json:"text,omitempty"`
	Infer    *bool    `json:"infer,omitempty"`
	Metadata Metadata `json:"metadata,omitempty"`
	Scope
}

// messageContent reads a message's content: a string, or OpenAI's list of
// content parts, whose text parts are joined by line breaks (ADR-148: the
// messages an agent sent to /v1/chat/completions were a 400 here). A part
// of another type (an image) is refused: nothing here can read it.
func messageContent(op string, i int, v any) (string, error) {
	switch c := v.(type) {
	case string:
		return c, nil
	case []any:
		texts := make([]string, 0, len(c))
		for j, x := range c {
			part, ok := x.(map[string]any)
			if !ok {
				return "", errs.Errorf(op, errs.Invalid, "messages[%d].content[%d]: want a content part {\"type\":\"text\",\"text\":...}", i, j)
			}
			typ, _ := part["type"].(string)
			if typ != "text" {
				return "", errs.Errorf(op, errs.Invalid, "messages[%d].content[%d]: a part of type %q: pathwayd reads text parts only", i, j, truncate(typ))
			}
			text, ok := part["text"].(string)
			if !ok {
				return "", errs.Errorf(op, errs.Invalid, "messages[%d].content[%d].text: want a string", i, j)
			}
			if k, ok := firstUnknown(part, func(k string) bool { return k == "type" || k == "text" }); ok {
				return "", errs.Errorf(op, errs.Invalid, "messages[%d].content[%d]: unknown field %q", i, j, truncate(k))
			}
			texts = append(texts, text)
		}
		return strings.Join(texts, "\n"), nil
	}
	return "", errs.Errorf(op, errs.Invalid, "messages[%d].content: want a string or a list of text parts", i)
}

// messageFields are the fields of a message: Mem0's role and content,
// OpenAI's name, and what an agent's OpenAI-format history holds besides
// (ADR-153): an assistant's tool_calls (and the refusal, annotations, audio
// and function_call its SDK writes beside them), a tool result's
// tool_call_id. Only role, content and name are read.
var messageFields = map[string]bool{
	"role": true, "content": true, "name": true, "tool_calls": true, "tool_call_id": true,
	"refusal": true, "annotations": true, "audio": true, "function_call": true,
}

// toolFields checks the OpenAI fields of message i beside role and
// content: they must have the shape OpenAI gives them and belong to the
// role that carries them. Nothing is extracted from them: a tool call's
// arguments and a tool's result are what the agent did, not what the user
// said (ADR-153).
func toolFields(op string, i int, role string, m map[string]any) error {
	at := fmt.Sprintf("messages[%d]", i)
	only := func(k, r string) error {
		if _, present := m[k]; present && role != r {
			return errs.Errorf(op, errs.Invalid, "%s.%s: only an %s message carries it, this one's role is %q", at, k, r, role)
		}
		return nil
	}
	for _, k := range []string{"tool_calls", "refusal", "annotations", "audio", "function_call"} {
		if err := only(k, "assistant"); err != nil {
			return err
		}
	}
	if _, present := m["tool_call_id"]; present && role != "tool" {
		return errs.Errorf(op, errs.Invalid, "%s.tool_call_id: only a tool message carries it, this one's role is %q", at, role)
	}
	if v, present := m["tool_call_id"]; present {
		if _, ok := v.(string); !ok {
			return errs.Errorf(op, errs.Invalid, "%s.tool_call_id: want a string", at)
		}
	}
	if v, present := m["refusal"]; present && v != nil {
		if _, ok := v.(string); !ok {
			return errs.Errorf(op, errs.Invalid, "%s.refusal: want a string or null", at)
		}
	}
	if v, present := m["annotations"]; present && v != nil {
		if _, ok := v.([]any); !ok {
			return errs.Errorf(op, errs.Invalid, "%s.annotations: want a list or null", at)
		}
	}
	for _, k := range []string{"audio", "function_call"} {
		if v, present := m[k]; present && v != nil {
			if _, ok := v.(map[string]any); !ok {
				return errs.Errorf(op, errs.Invalid, "%s.%s: want an object or null", at, k)
			}
		}
	}
	v, present := m["tool_calls"]
	if !present || v == nil {
		return nil
	}
	calls, ok := v.([]any)
	if !ok {
		return errs.Errorf(op, errs.Invalid, "%s.tool_calls: want a list of tool calls {\"id\",\"type\":\"function\",\"function\":{\"name\",\"arguments\"}}", at)
	}
	for j, x := range calls {
		call, ok := x.(map[string]any)
		if !ok {
			return errs.Errorf(op, errs.Invalid, "%s.tool_calls[%d]: want an object {\"id\",\"type\",\"function\"}", at, j)
		}
		for _, k := range []string{"id", "type"} {
			if v, present := call[k]; present {
				if _, ok := v.(string); !ok {
					return errs.Errorf(op, errs.Invalid, "%s.tool_calls[%d].%s: want a string", at, j, k)
				}
			}
		}
		fn, ok := call["function"].(map[string]any)
		if !ok {
			return errs.Errorf(op, errs.Invalid, "%s.tool_calls[%d].function: want an object {\"name\",\"arguments\"}", at, j)
		}
		if name, ok := fn["name"].(string); !ok || name == "" {
			return errs.Errorf(op, errs.Invalid, "%s.tool_calls[%d].function.name: want a non-empty string", at, j)
		}
		if v, present := fn["arguments"]; present {
			if _, ok := v.(string); !ok {
				return errs.Errorf(op, errs.Invalid, "%s.tool_calls[%d].function.arguments: want a string (JSON text, as OpenAI sends it)", at, j)
			}
		}
	}
	return nil
}

// firstUnknown is the first field of m in name order that known refuses.
// In map order, an object with several unknown fields was refused naming
// a different one from call to call.
func firstUnknown(m map[string]any, known func(string) bool) (string, bool) {
	first, found := "", false
	for k := range m {
		if !known(k) && (!found || k < first) {
			first, found = k, true
		}
	}
	return first, found
}

// messages returns the request's messages after validation.
func (r *AddRequest) messages() ([]Message, error) {
	const op = "pathway.add"
	var msgs []Message
	switch v := r.Messages.(type) {
	case nil:
	case string:
		msgs = []Message{{Role: "user", Content: v}}
	case []Message:
		msgs = v
	case []any:
		for i, x := range v {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, errs.Errorf(op, errs.Invalid, "messages[%d]: want an object {role, content}", i)
			}
			// A missing (or "") role is a user message; a role that is
			// given must be one of the strings Validate accepts.
			var role string
			if v, present := m["role"]; present {
				if role, ok = v.(string); !ok {
					return nil, errs.Errorf(op, errs.Invalid, "messages[%d].role: want a string: user, assistant, system or tool", i)
				}
			}
			if err := toolFields(op, i, role, m); err != nil {
				return nil, err
			}
			var content string
			var err error
			if c := m["content"]; c == nil { // absent or null
				// OpenAI's assistant message that only calls tools has
				// a null (or no) content; any other needs one.
				if _, calls := m["tool_calls"]; !calls || role != "assistant" {
					return nil, errs.Errorf(op, errs.Invalid, "messages[%d].content: want a string or a list of text parts (null only beside an assistant's tool_calls)", i)
				}
			} else if content, err = messageContent(op, i, c); err != nil {
				return nil, err
			}
			if k, ok := firstUnknown(m, func(k string) bool { return messageFields[k] }); ok {
				return nil, errs.Errorf(op, errs.Invalid, "messages[%d]: unknown field %q", i, truncate(k))
			}
			// name (OpenAI's participant name) is not used, but it must
			// be what it claims: a number or an object was ignored.
			if v, present := m["name"]; present {
				if _, ok := v.(string); !ok {
					return nil, errs.Errorf(op, errs.Invalid, "messages[%d].name: want a string", i)
				}
			}
			msgs = append(msgs, Message{Role: role, Content: content})
		}
	default:
		return nil, errs.Errorf(op, errs.Invalid, `"messages": want a list of {role, content} or a string`)
	}
	if r.Text != "" {
		if len(msgs) > 0 {
			return nil, errs.Errorf(op, errs.Invalid, `give "messages" or "text", not both`)
		}
		msgs = []Message{{Role: "user", Content: r.Text}}
	}
	return msgs, nil
}

// Validate checks the request on its own.
func (r *AddRequest) Validate() error {
	p := r.Scope.validateNew()
	msgs, err := r.messages()
	if err != nil {
		return err
	}
	switch {
	case len(msgs) == 0:
		p = append(p, `"messages" (or "text") is required`)
	case len(msgs) > MaxMessages:
		return errs.Errorf("pathway.add", errs.TooLarge, "%d messages, at most %d", len(msgs), MaxMessages)
	}
	for i, m := range msgs {
		switch m.Role {
		case "user", "assistant", "system", "tool", "":
		default:
			p = append(p, fmt.Sprintf("messages[%d].role %q: want user, assistant, system or tool", i, m.Role))
		}
		if len(m.Content) > MaxTextBytes {
			return errs.Errorf("pathway.add", errs.TooLarge, "%s: %d bytes, at most %d", r.field(i), len(m.Content), MaxTextBytes)
		}
		// Only what can become a memory is checked: a tool's or the
		// assistant's output (ANSI colours, say) passes when infer mines
		// the user's messages only.
		if r.stores(m.Role) {
			if msg := checkText(m.Content); msg != "" {
				p = append(p, r.field(i)+": "+msg)
			}
		}
	}
	if msg := checkMetadata(r.Metadata); msg != "" {
		p = append(p, msg)
	}
	return problems("pathway.add", p)
}

// stores reports whether a message of role can become a memory: with
// infer the user's messages are mined, without it every non-system one is
// stored verbatim.
func (r *AddRequest) stores(role string) bool {
	if r.Infer == nil || *r.Infer {
		return role == "user" || role == ""
	}
	return role != "system"
}

// field names message i as the client sent it.
func (r *AddRequest) field(i int) string {
	switch {
	case r.Text != "":
		return "text"
	case isString(r.Messages):
		return "messages"
	}
	return fmt.Sprintf("messages[%d].content", i)
}

func isString(v any) bool { _, ok := v.(string); return ok }

func checkMetadata(m Metadata) string {
	if len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "metadata: not encodable"
	}
	if len(b) > MaxMetadataSize {
		return fmt.Sprintf("metadata: %d bytes as JSON, at most %d", len(b), MaxMetadataSize)
	}
	// The walk is over the JSON form, so a Metadata built in process
	// ([]string, map[string]string, a struct) is checked as it will be
	// stored.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "metadata: not encodable"
	}
	return metadataControl("metadata", v)
}

// metadataControl is the first key or string value under path, in key
// order, that holds a control character other than tab, line feed and
// carriage return (ADR-102): "metadata.a.b: holds the control character
// U+0000 at byte 3; ...". A NUL or an escape sequence in metadata was
// stored and answered as given.
func metadataControl(path string, v any) string {
	switch x := v.(type) {
	case string:
		if msg := checkFree(x, "a metadata string"); msg != "" {
			return path + ": " + msg
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + metadataKey(k)
			if msg := checkFree(k, "a metadata key"); msg != "" {
				return p + ": the key " + msg
			}
			if msg := metadataControl(p, x[k]); msg != "" {
				return msg
			}
		}
	case []any:
		for i, e := range x {
			if msg := metadataControl(fmt.Sprintf("%s[%d]", path, i), e); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// metadataKey is k as a step of a field path: ".k" for a plain key,
// `["k"]` (quoted, cut to 64 bytes) for any other.
func metadataKey(k string) string {
	plain := k != "" && len(k) <= 64
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return "." + k
	}
	if len(k) > 64 {
		return "[" + strconv.Quote(k[:64]) + "...]"
	}
	return "[" + strconv.Quote(k) + "]"
}

func problems(op string, p []string) error {
	if len(p) == 0 {
		return nil
	}
	return errs.E(op, errs.Invalid, strings.Join(p, "; "))
}

// AddResult is one outcome of an add. For UPDATE PreviousMemory is the
// replaced text; for DELETE Memory is the deleted text; for NONE the
// existing memory that already says it.
type AddResult struct {
	ID             string `json:"id"`
	Memory         string `json:"memory"`
	Event          string `json:"event"`
	PreviousMemory string `json:"previous_memory,omitempty"`
}

// AddResponse answers POST /v1/pathway/memories.
type AddResponse struct {
	Results []AddResult `json:"results"`
}

// UpdateRequest is the body of PUT /v1/pathway/memories/{id}. Text replaces
// the memory's text; Metadata, when present, replaces its metadata. At
// least one is given: metadata alone keeps the text (Mem0's
// update(memory_id, metadata=...); ADR-148).
type UpdateRequest struct {
	Text     string   `json:"text,omitempty"`
	Metadata Metadata `json:"metadata,omitempty"`
}

// Validate checks the request.
func (r *UpdateRequest) Validate() error {
	var p []string
	if strings.TrimSpace(r.Text) == "" && r.Metadata == nil {
		p = append(p, `"text": required (or "metadata" alone, to change only the metadata)`)
	}
	if len(r.Text) > MaxTextBytes {
		return errs.Errorf("pathway.update", errs.TooLarge, "text: %d bytes, at most %d", len(r.Text), MaxTextBytes)
	}
	if msg := checkText(r.Text); msg != "" {
		p = append(p, "text: "+msg)
	}
	if msg := checkMetadata(r.Metadata); msg != "" {
		p = append(p, msg)
	}
	return problems("pathway.update", p)
}

// Orders of GET /v1/pathway/memories (ADR-053).
const (
	// OrderRecent (the default): most recently updated first (ties by
	// id). Next is "<updated_at>/<id>" of the page's last memory; after it
	// comes every memory updated earlier (or at the same time with a
	// greater id), so one neither updated nor deleted while paging is
	// listed exactly once, and one updated meanwhile moves to the front
	// (ADR-088).
	OrderRecent = "recent"
	// OrderID: ascending memory id, the order to page through a scope with
	// after/next: a memory's id never changes, so every memory that lives
	// through the paging is listed exactly once.
	OrderID = "id"
)

// ListOptions selects what List returns.
type ListOptions struct {
	Limit int    // at most this many: <= 0 means DefaultLimit; at most MaxLimit
	Order string // OrderRecent ("" too) or OrderID
	// After is the previous page's Next: with OrderID the last id it held
	// (only memories with a greater id), with OrderRecent "<updated_at>/<id>"
	// of its last memory. "" = from the first.
	After string
	// Filters restricts the list to the memories whose metadata passes it
	// (ADR-140); the query parameter filters= (JSON) over HTTP.
	Filters json.RawMessage
}

// mergeFilterScope parses raw and merges the scope ids it gives into sc:
// an id given both as a field and in the filters must be the same.
// The branches of an OR of scope ids (nil: none) come back with sc's ids
// merged into each: a branch naming another value of an id sc has is a
// 400, as the field and the filters are.
func mergeFilterScope(op string, raw json.RawMessage, sc *Scope) (*filter, []scopeAlt, error) {
	f, fs, alts, err := parseFilterScopes(raw)
	if err != nil {
		return nil, nil, errs.E(op, errs.Invalid, err.Error())
	}
	for _, id := range []struct {
		name      string
		field, in *string
	}{{"user_id", &sc.UserID, &fs.UserID}, {"agent_id", &sc.AgentID, &fs.AgentID}, {"run_id", &sc.RunID, &fs.RunID}} {
		switch {
		case *id.in == "":
		case *id.field == "":
			*id.field = *id.in
		case *id.field != *id.in:
			return nil, nil, errs.Errorf(op, errs.Invalid, "filters.%s %q differs from %s %q: give the scope id once", id.name, *id.in, id.name, *id.field)
		}
	}
	for i := range alts {
		a := &alts[i]
		for _, id := range []struct {
			name      string
			base, alt *string
		}{{"user_id", &sc.UserID, &a.sc.UserID}, {"agent_id", &sc.AgentID, &a.sc.AgentID}, {"run_id", &sc.RunID, &a.sc.RunID}} {
			switch {
			case *id.base == "":
			case *id.alt == "":
				*id.alt = *id.base
			case *id.alt != *id.base:
				return nil, nil, errs.Errorf(op, errs.Invalid, "%s.%s %q differs from the %s %q the whole request is in: that branch could match nothing; leave the id out of the OR's objects, or out of the rest of the request", a.path, id.name, truncate(*id.alt), id.name, truncate(*id.base))
			}
		}
	}
	return f, alts, nil
}

// scopeProblems checks the scope of a read: sc, required unless an OR of
// scope ids gives the scopes, and each branch's scope.
func scopeProblems(sc Scope, alts []scopeAlt) []string {
	if alts == nil {
		return sc.validate(true)
	}
	p := sc.validate(false)
	for _, a := range alts {
		for _, msg := range a.sc.validate(true) {
			p = append(p, a.path+": "+msg)
		}
	}
	return p
}

// MaxListPageBytes bounds a page of GET /v1/pathway/memories and of
// POST /v1/pathway/search as JSON: a page ends once its memories pass it,
// after at least one, with Next set (1000 memories of 64 KiB text and
// 16 KiB metadata were one 80 MB answer). The bound of trace and history
// pages.
const MaxListPageBytes = 16 << 20

// recentCursor is a decoded ListOptions.After of OrderRecent: the
// updated_at and id of the last memory of the previous page.
type recentCursor struct {
	t  time.Time
	id string
}

func (c recentCursor) String() string { return c.t.UTC().Format(time.RFC3339Nano) + "/" + c.id }

// parseRecentCursor decodes "<RFC 3339 time>/<id>" (ids never hold '/').
func parseRecentCursor(s string) (recentCursor, bool) {
	ts, id, ok := strings.Cut(s, "/")
	if !ok || id == "" || checkID(id) != "" {
		return recentCursor{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || t.UTC().Year() < 0 || t.UTC().Year() > 9999 { // String could not give it back
		return recentCursor{}, false
	}
	return recentCursor{t: t, id: id}, true
}

// before reports whether a memory (updated, id) lists after the cursor.
func (c recentCursor) before(updated time.Time, id string) bool {
	return updated.Before(c.t) || updated.Equal(c.t) && id > c.id
}

// ListResponse answers GET /v1/pathway/memories. Next is the value to pass
// as after for the next page; "" (absent from the JSON) when no more
// memories follow.
type ListResponse struct {
	Results []Memory `json:"results"`
	Next    string   `json:"next,omitempty"`
}

// DeleteResponse answers DELETE /v1/pathway/memories/{id} and
// DELETE /v1/pathway/memories?user_id=... (Deleted = how many).
type DeleteResponse struct {
	Message string `json:"message"`
	Deleted int    `json:"deleted"`
}

// HistoryEntry is one change of a memory (Mem0's history rows).
type HistoryEntry struct {
	MemoryID  string    `json:"memory_id"`
	OldMemory *string   `json:"old_memory"`
	NewMemory *string   `json:"new_memory"`
	Event     string    `json:"event"` // ADD | UPDATE | DELETE
	CreatedAt time.Time `json:"created_at"`
	IsDeleted bool      `json:"is_deleted"`
}

// HistoryOptions selects one page of a memory's history (ADR-053).
type HistoryOptions struct {
	// After is the previous page's Next (the index of the last row it
	// held, from 0): only later rows. "" = from the first (the ADD).
	After string
	// Limit is the most rows in the page: <= 0 means DefaultHistoryLimit;
	// at most MaxHistoryLimit. A page also ends at MaxHistoryPageBytes of
	// texts, after at least one row.
	Limit int
}

// HistoryResponse answers GET /v1/pathway/memories/{id}/history: one page,
// oldest first. Next (absent on the last page) is the value to pass as
// after for the rows that follow.
type HistoryResponse struct {
	Results []HistoryEntry `json:"results"`
	Next    string         `json:"next,omitempty"`
}

// SearchRequest is the body of POST /v1/pathway/search.
type SearchRequest struct {
	Query string `json:"query"`
	Limit int    `json:"limit,omitempty"` // per page: default 100, at most 1000
	// TopK is Mem0 platform v2's name for Limit (ADR-153): either may be
	// given, both only with the same value.
	TopK int `json:"top_k,omitempty"`
	// Rerank is Mem0 platform v2's switch for a reranking model. There is
	// none here: true is a 400 saying so, false (or absent) is accepted.
	Rerank *bool `json:"rerank,omitempty"`
	// Fields, when given, are the only fields of each result in the HTTP
	// answer (Mem0 platform v2's fields; ADR-153): names of SearchResult's
	// JSON fields (searchFields). Ranking and paging are unchanged.
	Fields []string `json:"fields,omitempty"`
	// Threshold, when given (0 included), drops results scoring below it,
	// on the scale of SearchResult.Score: 0.5·cosine + 0.5·keyword share
	// (ADR-134), so -0.5..1 in practice, -1..1 accepted (Mem0's threshold,
	// a minimum similarity, is the same idea; ADR-153);
	// absent (or null) means none. It was a float64 where 0 meant none, so
	// score >= 0 could not be asked for (ADR-088).
	Threshold *float64 `json:"threshold,omitempty"`
	// After is the previous page's Next: only the results ranked after
	// it (ADR-053). "" = from the best.
	After string `json:"after,omitempty"`
	// Filters restricts the search to the memories whose metadata passes
	// it (Mem0's filters, ADR-140), before ranking and paging; give the
	// same filters with every page's after.
	Filters json.RawMessage `json:"filters,omitempty"`
	Scope
}

// searchCursor is a decoded SearchRequest.After: the score and id of the
// last result of the previous page. Results are ranked by score, then id,
// so "after" is every result with a lower score, or the same score and a
// greater id.
type searchCursor struct {
	score float64
	id    string
}

func (c searchCursor) String() string {
	return strconv.FormatFloat(c.score, 'g', -1, 64) + "/" + c.id
}

// parseSearchCursor decodes "<score>/<id>" (ids never hold '/').
func parseSearchCursor(s string) (searchCursor, bool) {
	sc, id, ok := strings.Cut(s, "/")
	if !ok || id == "" || checkID(id) != "" {
		return searchCursor{}, false
	}
	f, err := strconv.ParseFloat(sc, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return searchCursor{}, false
	}
	return searchCursor{score: f, id: id}, true
}

// before reports whether a result (score, id) ranks after the cursor.
func (c searchCursor) before(score float64, id string) bool {
	return score < c.score || score == c.score && id > c.id
}

// Validate checks the request.
func (r *SearchRequest) Validate() error {
	_, _, err := r.filter()
	return err
}

// filter checks the request and returns its parsed filters (nil: none)
// and the branches of an OR of scope ids (nil: none). The scope ids given
// in the filters are merged into r.Scope.
func (r *SearchRequest) filter() (*filter, []scopeAlt, error) {
	f, alts, err := mergeFilterScope("pathway.search", r.Filters, &r.Scope)
	if err != nil {
		return nil, nil, err
	}
	return f, alts, r.validate(alts)
}

func (r *SearchRequest) validate(alts []scopeAlt) error {
	p := scopeProblems(r.Scope, alts)
	switch {
	case strings.TrimSpace(r.Query) == "":
		p = append(p, `"query": required`)
	case len(r.Query) > MaxTextBytes:
		return errs.Errorf("pathway.search", errs.TooLarge, "query: %d bytes, at most %d", len(r.Query), MaxTextBytes)
	default:
		if msg := checkFree(r.Query, "a query"); msg != "" {
			p = append(p, "query: "+msg)
		}
	}
	if r.Limit < 0 || r.Limit > MaxLimit {
		p = append(p, fmt.Sprintf("limit %d: want 1..%d (0 = %d)", r.Limit, MaxLimit, DefaultLimit))
	}
	if r.TopK < 0 || r.TopK > MaxLimit {
		p = append(p, fmt.Sprintf("top_k %d: want 1..%d (0 = %d)", r.TopK, MaxLimit, DefaultLimit))
	}
	if r.TopK != 0 && r.Limit != 0 && r.TopK != r.Limit {
		p = append(p, fmt.Sprintf("limit %d and top_k %d differ: top_k is Mem0 v2's name for limit; give one of them", r.Limit, r.TopK))
	}
	for i, f := range r.Fields {
		if !searchFields[f] {
			p = append(p, fmt.Sprintf("fields[%d] %q: want one of %s", i, truncate(f), searchFieldList))
		}
	}
	if r.Rerank != nil && *r.Rerank {
		p = append(p, "rerank: true: pathwayd has no reranking model; its score already fuses cosine and keyword matching (ADR-134); leave rerank out or false")
	}
	if t := r.Threshold; t != nil && !(*t >= -1 && *t <= 1) {
		p = append(p, fmt.Sprintf("threshold %v: want -1..1 (a score: cosine and keyword share, ADR-134), or leave it out for none", *t))
	}
	if _, ok := parseSearchCursor(r.After); r.After != "" && !ok {
		p = append(p, fmt.Sprintf("after %q: want the previous page's next", r.After))
	}
	return problems("pathway.search", p)
}

// searchFields are the fields of a SearchResult a search's fields may name.
var searchFields = map[string]bool{
	"id": true, "memory": true, "hash": true, "user_id": true, "agent_id": true, "run_id": true,
	"metadata": true, "created_at": true, "updated_at": true, "score": true,
}

const searchFieldList = "id, memory, hash, user_id, agent_id, run_id, metadata, created_at, updated_at, score"

// SearchResult is a memory with its score for the query: its cosine
// similarity fused with its keyword score (ADR-134).
type SearchResult struct {
	Memory
	Score float64 `json:"score"`
}

// SearchResponse answers POST /v1/pathway/search: one page, best first.
// Next (absent on the last page) is the value to pass as after for the
// results that follow (ADR-053).
type SearchResponse struct {
	Results []SearchResult `json:"results"`
	Next    string         `json:"next,omitempty"`
}

// Step is one step of an agent run (a Langfuse observation, roughly).
type Step struct {
	Index      int             `json:"index"` // position in the run, from 0; set by pathwayd
	Type       string          `json:"type"`  // e.g. llm, tool, retrieval, span, event
	Name       string          `json:"name,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	TS         time.Time       `json:"ts"` // default: the receive time
	DurationMS float64         `json:"duration_ms,omitempty"`
	Metadata   Metadata        `json:"metadata,omitempty"`

	size int // bytes of its state.jsonl line: what it costs an answer's page budget
}

// TraceRequest is the body of POST /v1/pathway/traces.
type TraceRequest struct {
	RunID string `json:"run_id"`
	Steps []Step `json:"steps"`
}

// Validate checks the request.
func (r *TraceRequest) Validate() error {
	const op = "pathway.traces"
	var p []string
	if r.RunID == "" {
		p = append(p, `"run_id": required`)
	} else if msg := checkNewID(r.RunID); msg != "" {
		p = append(p, "run_id: "+msg)
	}
	switch {
	case len(r.Steps) == 0:
		p = append(p, `"steps": at least one step is required`)
	case len(r.Steps) > MaxSteps:
		return errs.Errorf(op, errs.TooLarge, "%d steps, at most %d", len(r.Steps), MaxSteps)
	}
	for i, s := range r.Steps {
		if s.Type == "" || len(s.Type) > 64 {
			p = append(p, fmt.Sprintf("steps[%d].type: required, at most 64 bytes", i))
		} else if msg := checkLabel(s.Type); msg != "" {
			p = append(p, fmt.Sprintf("steps[%d].type: %s", i, msg))
		}
		if len(s.Name) > 256 {
			p = append(p, fmt.Sprintf("steps[%d].name: at most 256 bytes", i))
		} else if msg := checkLabel(s.Name); msg != "" {
			p = append(p, fmt.Sprintf("steps[%d].name: %s", i, msg))
		}
		if s.DurationMS < 0 {
			p = append(p, fmt.Sprintf("steps[%d].duration_ms: negative", i))
		}
		if n := len(s.Input) + len(s.Output); n > MaxStepBytes {
			return errs.Errorf(op, errs.TooLarge, "steps[%d]: input+output %d bytes, at most %d", i, n, MaxStepBytes)
		}
		if msg := checkMetadata(s.Metadata); msg != "" {
			p = append(p, fmt.Sprintf("steps[%d].%s", i, msg))
		}
	}
	return problems(op, p)
}

// TraceAppendResponse answers POST /v1/pathway/traces.
type TraceAppendResponse struct {
	RunID    string `json:"run_id"`
	Appended int    `json:"appended"`
	Total    int    `json:"total"` // steps in the run now
}

// TraceOptions selects one page of a run's steps (ADR-054).
type TraceOptions struct {
	// After is the previous page's Next (the index of the last step it
	// held): only later steps. "" = from the first step.
	After string
	// Limit is the most steps in the page: <= 0 means DefaultTraceLimit;
	// at most MaxTraceLimit. A page also ends at MaxTracePageBytes.
	Limit int
}

// Trace answers GET /v1/pathway/traces/{run_id}[?after=&limit=]: one page
// of the steps in append order. Next is "" (and absent from the JSON) on
// the last page, else the value to pass as after for the next page (the
// storaged convention). Total is the number of steps in the run.
type Trace struct {
	RunID string `json:"run_id"`
	Steps []Step `json:"steps"`
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// Service is pathwayd's API; Store implements it in process and Client over
// HTTP. Every write is durable (fsynced) before it returns, and visible to
// reads only from then on; a write that fails (Unavailable) is never visible.
type Service interface {
	// Add extracts facts from req and records each as ADD, UPDATE, DELETE
	// or NONE against the memories of req's scope (ADR-053).
	// Errors: Invalid (no id, no messages, bad fields), TooLarge,
	// Unavailable (state.jsonl cannot be written).
	Add(ctx context.Context, req AddRequest) (AddResponse, error)
	// List returns a page of the memories matching scope (at least one
	// id), at most opts.Limit (0 = 100, max 1000) and MaxListPageBytes:
	// most recently updated first, or with OrderID by ascending id, after
	// opts.After, with Next set when more follow; with opts.Filters only
	// the memories whose metadata passes them (ADR-140).
	// Errors: Invalid (ids, limit, order, after, filters).
	List(ctx context.Context, scope Scope, opts ListOptions) (ListResponse, error)
	// Get returns one memory. Errors: NotFound (never existed or deleted).
	Get(ctx context.Context, id string) (Memory, error)
	// Update replaces a memory's text (and metadata when given).
	// Errors: Invalid, NotFound, Unavailable.
	Update(ctx context.Context, id string, req UpdateRequest) (Memory, error)
	// Delete deletes one memory (its history stays). Errors: NotFound, Unavailable.
	Delete(ctx context.Context, id string) error
	// DeleteAll deletes every memory matching scope (at least one id) and
	// returns how many. Errors: Invalid, Unavailable.
	DeleteAll(ctx context.Context, scope Scope) (int, error)
	// History returns a page of the ADD/UPDATE/DELETE rows of a memory,
	// oldest first, also after it was deleted: from the row after
	// opts.After, at most opts.Limit rows and MaxHistoryPageBytes of texts;
	// Next is set when more rows follow. Errors: Invalid (id, after,
	// limit), NotFound (never existed).
	History(ctx context.Context, id string, opts HistoryOptions) (HistoryResponse, error)
	// Search ranks the scope's memories by their score for the query
	// (cosine fused with a keyword score, ADR-134; ties by id) and returns one page: at most req.Limit results ranked
	// after req.After, with Next set when more follow; req.Filters keep
	// only the memories whose metadata passes them, before ranking and
	// paging (ADR-140).
	// Errors: Invalid (ids, query, limit, threshold, after, filters),
	// TooLarge, Unavailable (embedder).
	Search(ctx context.Context, req SearchRequest) (SearchResponse, error)
	// AppendTrace appends steps to a run. Errors: Invalid, TooLarge, Unavailable.
	AppendTrace(ctx context.Context, req TraceRequest) (TraceAppendResponse, error)
	// Trace returns a page of a run's steps in append order, from the step
	// after opts.After, at most opts.Limit of them and MaxTracePageBytes;
	// Next is set when more steps follow. Errors: Invalid (run id, after,
	// limit), NotFound (no such run).
	Trace(ctx context.Context, runID string, opts TraceOptions) (Trace, error)
}
