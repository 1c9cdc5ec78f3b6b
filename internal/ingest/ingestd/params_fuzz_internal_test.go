package ingestd

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
)

// FuzzIngestParams: whatever query string and Idempotency-Key headers a
// POST /v1/ingest carries, reading them never panics and either refuses
// them with a 400 invalid or gives parameters that hold: a valid dataset
// name, mode and format, and a key that is absent when no header was sent,
// else the one header's value, 1-255 bytes of printable ASCII without a
// space at either end (ADR-123).
func FuzzIngestParams(f *testing.F) {
	f.Add("name=sales&mode=append", "order-42", "", 1)
	f.Add("name=sales", "", "", 0)
	f.Add("name=sales", "", "", 1)
	f.Add("name=sales&format=csv", "a", "b", 2)
	f.Add("name=sales", strings.Repeat("k", 256), "", 1)
	f.Add("name=sales", "caf\u00e9", "", 1)
	f.Add("name=sales", "a\tb", "", 1)
	f.Add("name=sales", " lead", "", 1)
	f.Add("name=Bad&mode=x", "ok", "", 1)
	f.Add("name=sales&mdoe=replace", "ok", "", 1)
	f.Add("%zz", "ok", "", 1)
	f.Fuzz(func(t *testing.T, query, key, key2 string, n int) {
		h := http.Header{}
		switch n & 3 {
		case 1:
			h.Add(ingest.IdempotencyKeyHeader, key)
		case 2:
			h.Add(ingest.IdempotencyKeyHeader, key)
			h.Add(ingest.IdempotencyKeyHeader, key2)
		}
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: ingest.Route, RawQuery: query}, Header: h}
		p, err := params(r)
		if err != nil {
			if !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != 400 || errs.Message(err) == "" {
				t.Fatalf("refused as %v (%d), want 400 invalid", err, errs.StatusOf(err))
			}
			return
		}
		if q := p; q.Validate() != nil || q != p {
			t.Fatalf("accepted parameters that do not validate (or change): %+v", p)
		}
		switch n & 3 {
		case 1:
			if p.IdempotencyKey != key {
				t.Fatalf("key %q read as %q", key, p.IdempotencyKey)
			}
		case 2:
			t.Fatalf("two Idempotency-Key headers accepted: %+v", p)
		default:
			if p.IdempotencyKey != "" {
				t.Fatalf("no header, key %q", p.IdempotencyKey)
			}
			return
		}
		k := p.IdempotencyKey
		if k == "" || len(k) > 255 || k[0] == ' ' || k[len(k)-1] == ' ' {
			t.Fatalf("key %q accepted", k)
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("key %q accepted (byte %d)", k, i)
			}
		}
	})
}
