package catalog

import (
	"net/url"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// FuzzDatasetsQuery (ADR-128): any query string parses or is refused as
// invalid, never panics; what parses is in range, and the listing key a
// page starts after ("_catalog/{after}0") sorts after every key of after
// and of names before it, and before every key of a name after it — with
// prefix as the other name, so the key order is the name order.
func FuzzDatasetsQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10&after=sales&prefix=s", "limit=1001", "after=BAD", "prefix=9",
		"after=a&after=b", "limit=%zz", "prefix=a_b0&after=a_b", "limit=1000&after=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseDatasetsQuery(v)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: %v, want invalid", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxDatasetsLimit {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		for _, s := range []string{q.After, q.Prefix} {
			if s != "" && ValidateName(s) != nil {
				t.Fatalf("%q: parsed %+v with a bad name %q", raw, q, s)
			}
		}
		if q.After == "" || q.Prefix == "" {
			return
		}
		skip := ManifestPrefix + q.After + "0"
		a, b := ManifestKey(q.After, 9999999999), ManifestKey(q.Prefix, 1)
		if !(a < skip) {
			t.Fatalf("after %q: its key %q not before %q", q.After, a, skip)
		}
		if (q.Prefix > q.After) != (b > skip) {
			t.Fatalf("after %q, name %q: key %q vs skip %q disagrees with the name order", q.After, q.Prefix, b, skip)
		}
		if strings.Compare(q.Prefix, q.After) != strings.Compare(b, ManifestKey(q.After, 1)) {
			t.Fatalf("names %q, %q: key order is not name order", q.Prefix, q.After)
		}
	})
}
