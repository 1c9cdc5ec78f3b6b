package vector

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
)

// FuzzScrollQuery: GET .../items's query string. Any string parses to a
// request or is errs.Invalid, never a panic; a parsed request is within
// bounds (limit 0..MaxScrollLimit, after valid UTF-8 of at most 1024
// bytes, a filter object), and the typed client's encoding of it parses
// back to the same request.
func FuzzScrollQuery(f *testing.F) {
	for _, s := range []string{
		"", "after=k1&limit=10", "limit=10000&with_vector=true", "with_vector=false",
		"filter=%7B%22n%22%3A%7B%22gte%22%3A1%7D%7D", "filter=%7B%22a%22%3A%5B1%2C%22x%22%5D%7D",
		"after=", "limit=&with_vector=&filter=", "after=%FF", "limit=0", "limit=1&limit=2", "offset=1", "a;b", "filter=null",
		"filter=%7B%22n%22%3A9007199254740993%7D", "after=%C3%A9&filter=%7B%7D",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := parseScrollQuery(raw)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("%q: %v, want invalid", raw, err)
			}
			return
		}
		if req.Limit < 0 || req.Limit > MaxScrollLimit || !utf8.ValidString(req.After) || len(req.After) > maxIDBytes {
			t.Fatalf("%q: out of bounds %+v", raw, req)
		}
		q, err := req.query()
		if err != nil {
			t.Fatalf("%q: encoding %+v: %v", raw, req, err)
		}
		back, err := parseScrollQuery(q)
		if err != nil {
			t.Fatalf("%q -> %q: %v", raw, q, err)
		}
		a, _ := json.Marshal(req.Filter)
		b, _ := json.Marshal(back.Filter)
		req.Filter, back.Filter = nil, nil
		if !reflect.DeepEqual(req, back) || string(a) != string(b) {
			t.Fatalf("%q -> %q: %+v %s, parsed back %+v %s", raw, q, req, a, back, b)
		}
	})
}
