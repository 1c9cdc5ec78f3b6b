package chat

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// sameJSON: a and b are the same JSON value (json.Marshal writes "&" in a
// RawMessage as \u0026: the same string).
func sameJSON(a, b []byte) bool {
	if len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	return da.Decode(&va) == nil && db.Decode(&vb) == nil && reflect.DeepEqual(va, vb)
}

// FuzzResponseFormat: the JSON-answer parsers (ADR-114) never panic, and
// what they accept converts both ways into valid JSON of the same kind:
// OllamaFormat is "json" or the schema object, a ResponseFormat encodes as
// a response_format that parses back to the same type and schema.
func FuzzResponseFormat(f *testing.F) {
	for _, s := range []string{`{"type":"json_object"}`, `{"type":"text"}`, `null`, `"json"`, `""`, `5`, `[]`,
		`{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"object"}}}`,
		`{"type":"json_schema","json_schema":{"schema":"s"}}`, `{"type":"json_schema"}`, `{"type":"object","properties":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // the request decoder hands these parsers valid JSON only
		}
		check := func(rf *ResponseFormat, from string) {
			if rf == nil {
				return
			}
			of := OllamaFormat(rf)
			if !json.Valid(of) || (string(of) != `"json"` && !isObject(of)) {
				t.Fatalf("%s %s: OllamaFormat %q", from, b, of)
			}
			back, err := parseOllamaFormat(of, "format")
			if err != nil || back == nil || (back.Type == FormatJSONSchema) != (rf.Type == FormatJSONSchema && rf.JSONSchema != nil && !absent(rf.JSONSchema.Schema)) {
				t.Fatalf("%s %s: Ollama's form %s parsed back as %+v, %v", from, b, of, back, err)
			}
			enc, err := json.Marshal(rf)
			if err != nil {
				t.Fatalf("%s %s: %v", from, b, err)
			}
			again, problems := parseResponseFormat(enc)
			if len(problems) > 0 || again == nil || again.Type != rf.Type ||
				(rf.JSONSchema != nil && !sameJSON(again.JSONSchema.Schema, rf.JSONSchema.Schema)) {
				t.Fatalf("%s %s: %s parsed back as %+v %v", from, b, enc, again, problems)
			}
		}
		rf, problems := parseResponseFormat(b)
		if rf != nil && len(problems) > 0 {
			t.Fatalf("%s: both a format and problems %v", b, problems)
		}
		check(rf, "response_format")
		of, err := parseOllamaFormat(b, "format")
		if of != nil && err != nil {
			t.Fatalf("%s: both a format and %v", b, err)
		}
		check(of, "format")
	})
}
