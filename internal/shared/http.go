package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
)

// HandlerFunc is the shape of every handler: decode -> validate -> call the
// Service -> encode; it returns an error instead of writing one.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h: a returned error becomes the JSON error body (logged
// once, here, when it is a 5xx).
func (e *Env) Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			if s := sw(w); s != nil && s.status != 0 {
				// Headers are out (a stream broke midway): log only.
				e.Log.Warn("request failed after response started", "req_id", RequestID(r.Context()), "err", err.Error())
				return
			}
			errs.WriteHTTP(w, r, e.Log, err)
		}
	}
}

// Validator is implemented by request payloads.
type Validator interface{ Validate() error }

// DecodeJSON reads one JSON value from r's body into v (unknown fields are
// an error) and calls v.Validate when v has it. Errors are Invalid (or
// TooLarge past the body limit). The body must be strict JSON
// (StrictJSONFor): valid UTF-8 without unpaired surrogate escapes, no key
// twice in an object, no key that names a field but for case, no byte
// order mark, nothing but white space after the value.
func DecodeJSON(r *http.Request, v any) error { return decodeJSON(r, v, false) }

// DecodeJSONExact is DecodeJSON with the numbers that land in interface
// values kept as json.Number (queryd's params: 9007199254740993 stays
// exact instead of going through a float64).
func DecodeJSONExact(r *http.Request, v any) error { return decodeJSON(r, v, true) }

func decodeJSON(r *http.Request, v any, numbers bool) error {
	if err := PlainBody(r); err != nil {
		return err
	}
	if err := decodeBody(r.Body, v, numbers); err != nil {
		return err
	}
	if val, ok := v.(Validator); ok {
		if err := val.Validate(); err != nil {
			if errs.KindOf(err) == errs.Internal {
				return errs.E("validate", errs.Invalid, err.Error())
			}
			return err
		}
	}
	return nil
}

// PlainBody is a 415 invalid when r's body is sent with a
// Content-Encoding other than identity: a JSON route reads its body as
// sent, so a gzip body was answered "invalid character '\x1f'" and a plain
// one labelled gzip was read as if unlabelled (RFC 9110 15.5.16: refuse a
// coding the route does not decode). ingestd decodes gzip and zstd itself
// (ADR-156); storaged stores the bytes as given. The 415 carries
// Accept-Encoding: identity (errs.SetAcceptEncoding).
func PlainBody(r *http.Request) error {
	ce := r.Header.Values("Content-Encoding")
	if len(ce) == 0 {
		return nil
	}
	for _, v := range ce {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				// The answer's Accept-Encoding says identity (RFC 9110 15.5.16).
				return &errs.Error{Op: "decode", Kind: errs.Invalid, Status: http.StatusUnsupportedMediaType, AcceptEncoding: "identity",
					Msg: fmt.Sprintf("Content-Encoding %q is not accepted here: send the JSON body uncompressed, without Content-Encoding", cutParamName(strings.TrimSpace(v)))}
			}
		}
	}
	return nil
}

// decodeBody decodes body, one strict JSON text, into v.
func decodeBody(body io.Reader, v any, numbers bool) error {
	dec := json.NewDecoder(StrictJSONFor(body, v))
	dec.DisallowUnknownFields()
	if numbers {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err, reflect.TypeOf(v))
	}
	// Read to the end: the strict reader refuses anything but white space
	// after the value (dec.More let `{...}]` through).
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return trailingError(err)
	}
	return nil
}

// decodeError is the Invalid or TooLarge error for err from a
// json.Decoder reading a request body through StrictJSON.
// t is the type decoded into: a field's path is told in JSON names (an
// embedded struct's Go type name, which encoding/json puts in the path,
// is left out).
func decodeError(err error, t reflect.Type) error {
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return errs.E("decode", errs.TooLarge, fmt.Sprintf("request body over %d bytes", mbe.Limit))
	case errors.Is(err, io.EOF):
		return errs.E("decode", errs.Invalid, "empty request body: want a JSON object")
	case errors.As(err, &te) && te.Field != "" && t != nil:
		c := *te
		c.Field = jsonPath(t, te.Field)
		return errs.E("decode", errs.Invalid, JSONDecodeMessage(&c))
	}
	return errs.E("decode", errs.Invalid, JSONDecodeMessage(err))
}

// jsonPath is encoding/json's field path (UnmarshalTypeError.Field) of a
// value of type t with the names of embedded structs left out:
// "Scope.user_id" is the body's "user_id". Array, slice and map levels
// have no segment of their own in the path.
func jsonPath(t reflect.Type, path string) string {
	var out []string
	for _, seg := range strings.Split(path, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, seg), nil
			continue
		}
		if f, ok := t.FieldByName(seg); ok && f.Anonymous && len(f.Index) == 1 && jsonName(f) == "" {
			t = f.Type // an embedded struct: its fields are the body's own
			continue
		}
		out = append(out, seg)
		t = fieldByJSONName(t, seg)
	}
	return strings.Join(out, ".")
}

// jsonName is f's name in its json tag ("" when the tag gives none).
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// fieldByJSONName is the type of t's field (promoted ones included) that
// encoding/json fills from key name, nil if none.
func fieldByJSONName(t reflect.Type, name string) reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n := jsonName(f)
		switch {
		case n == "-":
		case n == name || (n == "" && f.Name == name):
			return f.Type
		case f.Anonymous && n == "":
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if ft := fieldByJSONName(et, name); ft != nil {
					return ft
				}
			}
		}
	}
	return nil
}

// trailingError is the error for what a json.Decoder's Token answered
// (err, not io.EOF) after the value of a request body read through
// StrictJSON: TooLarge past the body limit, else Invalid.
func trailingError(err error) error {
	var mbe *http.MaxBytesError
	var se *StrictJSONError
	switch {
	case errors.As(err, &mbe):
		return errs.E("decode", errs.TooLarge, fmt.Sprintf("request body over %d bytes", mbe.Limit))
	case errors.As(err, &se):
		return errs.E("decode", errs.Invalid, se.Message())
	}
	return errs.E("decode", errs.Invalid, "request body has data after the JSON value")
}

// PathParam is the route parameter name, unescaped: chi matches against
// the URL's RawPath when it has one (an id escaped beyond the default,
// such as "a%2Cb" or "p%2Fq" from url.PathEscape in a typed client), and
// then the parameter is still escaped; otherwise it was decoded with the
// path. An invalid escape is Invalid, named by op.
func PathParam(r *http.Request, op, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", errs.Errorf(op, errs.Invalid, "%s %q in the path: invalid %%-escape", name, v)
	}
	return u, nil
}

// QueryOnce returns the values of the named query parameters of q ("" =
// absent), or one Invalid error naming every one of them given more than
// once: url.Values.Get takes the first value silently, which answers a
// question the caller did not ask (?purge=false&purge=true kept a deleted
// dataset's files; service=a&service=b answered a's events only).
func QueryOnce(op string, q url.Values, names ...string) ([]string, error) {
	out := make([]string, len(names))
	var p []string
	for i, name := range names {
		switch vs := q[name]; len(vs) {
		case 0:
		case 1:
			out[i] = vs[0]
		default:
			p = append(p, fmt.Sprintf("query parameter %q given %d times; give it once", name, len(vs)))
		}
	}
	if len(p) > 0 {
		return out, errs.E(op, errs.Invalid, strings.Join(p, "; "))
	}
	return out, nil
}

// JSONDecodeMessage words an encoding/json decode error for the caller of
// an HTTP API: a wrong type names the field and what it wants in JSON
// terms (json's own text names Go types: "Go struct field
// CompletionRequest.temperature of type float64"); anything else is
// "request body is not valid JSON: ..." with json's reason (or
// StrictJSON's).
func JSONDecodeMessage(err error) string {
	var se *StrictJSONError
	if errors.As(err, &se) {
		return se.Message()
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the request body"
		} else {
			field = fmt.Sprintf("field %q", field)
		}
		return fmt.Sprintf("%s: want %s, got a JSON %s", field, jsonWant(te.Type), JSONValueEcho(te.Value))
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		// A time field's own decoding: the JSON is valid, the time is not
		// (encoding/json does not say which field).
		return fmt.Sprintf("a time is not an RFC 3339 time like \"2006-01-02T15:04:05Z\": %q", CutEcho(pe.Value))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return "request body has an " + msg
	}
	if msg == "Time.UnmarshalJSON: input is not a JSON string" {
		return "a time must be a JSON string holding an RFC 3339 time like \"2006-01-02T15:04:05Z\""
	}
	return "request body is not valid JSON: " + msg
}

// JSONValueEcho is an UnmarshalTypeError's Value ("number 1e999",
// "string") for an error message: a number's text is cut to 64 bytes and
// marked with its length — a field's million-digit number made a 1 MB
// error body.
func JSONValueEcho(v string) string {
	if num, ok := strings.CutPrefix(v, "number "); ok {
		return "number " + CutEcho(num)
	}
	return v
}

// CutEcho is s, a piece of a request echoed in an error message, cut to
// 64 bytes on a character boundary and marked with its whole length.
func CutEcho(s string) string { return cutLogValue(s, 64) }

// jsonWant names what a Go type takes in JSON.
func jsonWant(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}
