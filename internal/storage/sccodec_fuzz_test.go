package storage

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzSCCodec checks the hand-written short-circuit codec against
// encoding/json: whatever the fast readers accept, json.Unmarshal accepts
// too, with the same result; and what the fast writers produce decodes
// (with encoding/json) to the value written.
func FuzzSCCodec(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"op":"open","key":"a/b.parquet"}`,
		`{"v":1,"op":"open","key":"k","etag":"0123456789abcdef0123456789abcdef","auth":"Bearer t","req_id":"r1"}`,
		` { "v" : 1 , "op" : "create" , "key" : "_catalog/x/1.json" , "create_only" : true } `,
		`{"v":1,"op":"commit","size":1048576,"etag":"0123456789abcdef0123456789abcdef"}`,
		`{"v":1,"info":{"key":"a/b","size":5,"etag":"00ff","modified":"2026-11-28T21:00:00.123456789Z","path":"/d/objects/a/b"}}`,
		`{"v":1,"info":{"key":"a","size":0,"etag":"","modified":"2026-11-28T21:00:00+01:00"}}`,
		`{"v":1,"error":{"kind":"not_found","message":"object \"x\" not found","request_id":"r","status":404}}`,
		`{"v":1,"error":{"kind":"conflict","message":"exists","status":412}}`,
		`{"v":1,"progress":4194304}`, `{"v":1,"op":"wrote","size":8388608}`,
		`{"v":1,"op":"root"}`, `{"v":1,"root":"/var/lib/lakehouse-go/objects/data"}`,
		`{"v":1,"op":"take"}`, `{"v":1,"op":"commit","key":"a/b","create_only":true,"size":3,"etag":"0123456789abcdef0123456789abcdef"}`,
		`{"v":1,"info":{"key":"a","size":3,"etag":"00","modified":"2026-11-29T02:00:00Z"},"progress":4194304,"spare_ms":120000}`,
		`{"v":-0,"op":"x","size":-9223372036854775808}`, `{"v":01}`, `{"v":1.0}`, `{"v":1e2}`,
		`{"v":1,"op":"create","key":"a.csv","content_type":"text/csv; charset=utf-8"}`,
		`{"v":1,"op":"commit","key":"a","size":3,"content_type":"application/json"}`,
		`{"v":1,"info":{"key":"a","size":3,"etag":"00","modified":"2026-11-29T02:00:00Z","path":"/d/a","content_type":"text/csv"}}`,
		`{"V":1}`, `{"v":1,"v":2}`, `{"v":null}`, `{"info":null}`, `{"op":"\u006fpen"}`, `{}`, `{"v":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if r, ok := decodeSCRequestFast(p); ok {
			var want SCRequest
			if err := json.Unmarshal(p, &want); err != nil || !reflect.DeepEqual(r, want) {
				t.Fatalf("request %q: fast %+v, encoding/json %+v (%v)", p, r, want, err)
			}
		}
		if r, ok := decodeSCResponseFast(p); ok {
			var want SCResponse
			if err := json.Unmarshal(p, &want); err != nil || !sameResponse(r, want) {
				t.Fatalf("response %q: fast %+v, encoding/json %+v (%v)", p, r, want, err)
			}
		}
		// Writers: any value encoding/json reads from p, written by hand,
		// reads back the same.
		var req SCRequest
		if json.Unmarshal(p, &req) == nil {
			b, err := marshalSC(nil, req)
			var back SCRequest
			if err != nil || json.Unmarshal(b, &back) != nil || !reflect.DeepEqual(back, req) {
				t.Fatalf("request %+v written as %q read back as %+v (%v)", req, b, back, err)
			}
			if fast, ok := decodeSCRequestFast(b); ok && !reflect.DeepEqual(fast, req) {
				t.Fatalf("request %+v written as %q fast-read as %+v", req, b, fast)
			}
		}
		var resp SCResponse
		if json.Unmarshal(p, &resp) == nil {
			b, err := marshalSC(nil, resp)
			if err != nil {
				if _, jerr := json.Marshal(resp); jerr == nil {
					t.Fatalf("response %+v: %v", resp, err)
				}
				return
			}
			var back SCResponse
			if json.Unmarshal(b, &back) != nil || !sameResponse(back, resp) {
				t.Fatalf("response %+v written as %q read back as %+v", resp, b, back)
			}
		}
	})
}

// sameResponse is DeepEqual with times compared as instants in the same
// offset (a parsed zone is a new *Location each time).
func sameResponse(a, b SCResponse) bool {
	if (a.Info == nil) != (b.Info == nil) || a.V != b.V || a.Progress != b.Progress || a.Root != b.Root || a.SpareFor != b.SpareFor || !reflect.DeepEqual(a.Error, b.Error) {
		return false
	}
	if a.Info == nil {
		return true
	}
	x, y := *a.Info, *b.Info
	if !x.Modified.Equal(y.Modified) || x.Modified.Format(time.RFC3339Nano) != y.Modified.Format(time.RFC3339Nano) {
		return false
	}
	x.Modified, y.Modified = time.Time{}, time.Time{}
	return x == y
}
