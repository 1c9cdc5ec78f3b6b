package storage

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Fast paths of the short-circuit codec (ADR-015). The wire format stays
// the JSON of SCRequest and SCResponse; encoding/json was about a fifth of
// each side's CPU in a short round trip, so the usual messages are written
// and read by hand. A message the fast reader does not take exactly as
// encoding/json would (escapes in strings, unknown or repeated keys, null,
// numbers with a fraction or exponent, ...) goes to encoding/json instead,
// so the result is always what json.Unmarshal gives (FuzzSCCodec checks
// both directions against encoding/json).

// appendSCRequest writes r as JSON; false when a string is not valid
// UTF-8 (encoding/json's replacement rules then apply).
func appendSCRequest(b []byte, r *SCRequest) ([]byte, bool) {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	ok := true
	field := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b, ok = appendJSONString(b, v, ok)
		}
	}
	b = append(b, `,"op":`...)
	b, ok = appendJSONString(b, r.Op, ok)
	field("req_id", r.ReqID)
	field("auth", r.Auth)
	field("key", r.Key)
	field("etag", r.ETag)
	if r.CreateOnly {
		b = append(b, `,"create_only":true`...)
	}
	if r.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, r.Size, 10)
	}
	field("content_type", r.ContentType)
	return append(b, '}'), ok
}

// appendSCResponse writes r as JSON; false when encoding/json must do it
// (a string that is not valid UTF-8, a time json.Marshal refuses).
func appendSCResponse(b []byte, r *SCResponse) ([]byte, bool) {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	ok := true
	if i := r.Info; i != nil {
		if y := i.Modified.Year(); y < 0 || y > 9999 {
			return b, false
		}
		b = append(b, `,"info":{"key":`...)
		b, ok = appendJSONString(b, i.Key, ok)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, i.Size, 10)
		b = append(b, `,"etag":`...)
		b, ok = appendJSONString(b, i.ETag, ok)
		b = append(b, `,"modified":"`...)
		b = i.Modified.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		if i.Path != "" {
			b = append(b, `,"path":`...)
			b, ok = appendJSONString(b, i.Path, ok)
		}
		if i.ContentType != "" {
			b = append(b, `,"content_type":`...)
			b, ok = appendJSONString(b, i.ContentType, ok)
		}
		b = append(b, '}')
	}
	if e := r.Error; e != nil {
		b = append(b, `,"error":{"kind":`...)
		b, ok = appendJSONString(b, string(e.Kind), ok)
		b = append(b, `,"message":`...)
		b, ok = appendJSONString(b, e.Message, ok)
		if e.RequestID != "" {
			b = append(b, `,"request_id":`...)
			b, ok = appendJSONString(b, e.RequestID, ok)
		}
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
		b = append(b, '}')
	}
	if r.Progress != 0 {
		b = append(b, `,"progress":`...)
		b = strconv.AppendInt(b, r.Progress, 10)
	}
	if r.Root != "" {
		b = append(b, `,"root":`...)
		b, ok = appendJSONString(b, r.Root, ok)
	}
	if r.SpareFor != 0 {
		b = append(b, `,"spare_ms":`...)
		b = strconv.AppendInt(b, r.SpareFor, 10)
	}
	return append(b, '}'), ok
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (escaping '"', '\\' and
// control characters); ok becomes false when s is not valid UTF-8.
func appendJSONString(b []byte, s string, ok bool) ([]byte, bool) {
	if !utf8.ValidString(s) {
		ok = false
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), ok
}

// scScan reads the flat JSON objects of the protocol.
type scScan struct {
	p []byte
	i int
}

func (s *scScan) ws() {
	for s.i < len(s.p) {
		switch s.p[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit consumes c after white space.
func (s *scScan) lit(c byte) bool {
	s.ws()
	if s.i < len(s.p) && s.p[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, valid UTF-8.
func (s *scScan) str() (string, bool) {
	if !s.lit('"') {
		return "", false
	}
	start := s.i
	for ; s.i < len(s.p); s.i++ {
		c := s.p[s.i]
		if c == '"' {
			v := s.p[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		}
		if c < 0x20 || c == '\\' {
			return "", false
		}
	}
	return "", false
}

// int reads an integer without fraction or exponent that fits an int64.
func (s *scScan) int() (int64, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.p) && s.p[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.p) && s.p[s.i] >= '0' && s.p[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.p[digits] == '0') {
		return 0, false
	}
	if s.i < len(s.p) {
		switch s.p[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(s.p[start:s.i]), 10, 64)
	return v, err == nil
}

func (s *scScan) boolean() (bool, bool) {
	s.ws()
	switch {
	case len(s.p)-s.i >= 4 && string(s.p[s.i:s.i+4]) == "true":
		s.i += 4
		return true, true
	case len(s.p)-s.i >= 5 && string(s.p[s.i:s.i+5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}

// object reads {"k": value, ...}: field is called with each key, once
// each (a repeated key fails), and reads the value.
func (s *scScan) object(field func(k string) bool) bool {
	if !s.lit('{') {
		return false
	}
	if s.lit('}') {
		return true
	}
	var seen []string
	for {
		k, ok := s.str()
		if !ok || !s.lit(':') {
			return false
		}
		for _, o := range seen {
			if o == k {
				return false
			}
		}
		seen = append(seen, k)
		if !field(k) {
			return false
		}
		if s.lit('}') {
			return true
		}
		if !s.lit(',') {
			return false
		}
	}
}

// end reports whether only white space is left.
func (s *scScan) end() bool {
	s.ws()
	return s.i == len(s.p)
}

func (s *scScan) intField(dst *int) bool {
	v, ok := s.int()
	if ok && v == int64(int(v)) {
		*dst = int(v)
		return true
	}
	return false
}

func (s *scScan) int64Field(dst *int64) (ok bool) {
	*dst, ok = s.int()
	return ok
}

func (s *scScan) boolField(dst *bool) (ok bool) {
	*dst, ok = s.boolean()
	return ok
}

func (s *scScan) strField(dst *string) (ok bool) {
	*dst, ok = s.str()
	return ok
}

// decodeSCRequestFast is json.Unmarshal of p into an SCRequest, or false.
func decodeSCRequestFast(p []byte) (SCRequest, bool) {
	var r SCRequest
	s := &scScan{p: p}
	ok := s.object(func(k string) bool {
		switch k {
		case "v":
			return s.intField(&r.V)
		case "op":
			return s.strField(&r.Op)
		case "req_id":
			return s.strField(&r.ReqID)
		case "auth":
			return s.strField(&r.Auth)
		case "key":
			return s.strField(&r.Key)
		case "etag":
			return s.strField(&r.ETag)
		case "create_only":
			return s.boolField(&r.CreateOnly)
		case "size":
			return s.int64Field(&r.Size)
		case "content_type":
			return s.strField(&r.ContentType)
		}
		return false
	})
	return r, ok && s.end()
}

// decodeSCResponseFast is json.Unmarshal of p into an SCResponse, or false.
func decodeSCResponseFast(p []byte) (SCResponse, bool) {
	var r SCResponse
	s := &scScan{p: p}
	ok := s.object(func(k string) bool {
		switch k {
		case "v":
			return s.intField(&r.V)
		case "info":
			i := &ObjectInfo{}
			r.Info = i
			return s.object(func(k string) bool {
				switch k {
				case "key":
					return s.strField(&i.Key)
				case "size":
					return s.int64Field(&i.Size)
				case "etag":
					return s.strField(&i.ETag)
				case "modified":
					t, ok := s.str()
					return ok && i.Modified.UnmarshalText([]byte(t)) == nil
				case "path":
					return s.strField(&i.Path)
				case "content_type":
					return s.strField(&i.ContentType)
				}
				return false
			})
		case "error":
			e := &SCError{}
			r.Error = e
			return s.object(func(k string) bool {
				switch k {
				case "kind":
					return s.strField((*string)(&e.Kind))
				case "message":
					return s.strField(&e.Message)
				case "request_id":
					return s.strField(&e.RequestID)
				case "status":
					return s.intField(&e.Status)
				}
				return false
			})
		case "progress":
			return s.int64Field(&r.Progress)
		case "root":
			return s.strField(&r.Root)
		case "spare_ms":
			return s.int64Field(&r.SpareFor)
		}
		return false
	})
	return r, ok && s.end()
}

// marshalSC is json.Marshal of an SCRequest or SCResponse, through the
// fast writers when they can.
func marshalSC(b []byte, v any) ([]byte, error) {
	n := len(b)
	switch m := v.(type) {
	case SCRequest:
		if out, ok := appendSCRequest(b, &m); ok {
			return out, nil
		}
	case SCResponse:
		if out, ok := appendSCResponse(b, &m); ok {
			return out, nil
		}
	}
	p, err := json.Marshal(v)
	if err != nil {
		return b[:n], err
	}
	return append(b[:n], p...), nil
}
