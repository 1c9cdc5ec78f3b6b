package storage_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// FuzzSCDecode feeds arbitrary bytes to storaged's side of the
// short-circuit protocol: the frame reader and the request decoder. They
// must never panic, never accept a frame over SCMaxMessage, and every
// request they accept must be valid and survive a round trip unchanged.
func FuzzSCDecode(f *testing.F) {
	frame := func(p string) []byte {
		return binary.BigEndian.AppendUint32(nil, uint32(len(p))) // header only; payload appended below
	}
	for _, p := range []string{
		`{"v":1,"op":"open","key":"a/b.parquet"}`,
		`{"v":1,"op":"open","key":"k","etag":"0123456789abcdef0123456789abcdef","auth":"Bearer t","req_id":"r1"}`,
		`{"v":1,"op":"create","key":"_catalog/x/1.json","create_only":true}`,
		`{"v":1,"op":"commit","size":1048576,"etag":"0123456789abcdef0123456789abcdef"}`,
		`{"v":2,"op":"open","key":"k"}`,
		`{"v":1,"op":"open","key":"a/../b"}`,
		`{"v":1,"op":"commit","size":-1}`,
		`{"v":1,"op":"wrote","size":4194304}`,
		`{"v":1,"op":"wrote","size":1,"key":"k"}`,
		`{"v":1,"op":"wrote","size":1,"etag":"0123456789abcdef0123456789abcdef"}`,
		`{"v":1,"op":"root"}`,
		`{"v":1,"op":"root","key":"k"}`,
		`{"v":1,"op":"take"}`,
		`{"v":1,"op":"take","size":1}`,
		`{"v":1,"op":"commit","key":"a/b","create_only":true,"size":3,"etag":"0123456789abcdef0123456789abcdef"}`,
		`{"v":1,"op":"commit","key":"../b","size":3}`,
		`{"v":1,"op":"commit","create_only":true,"size":3}`,
		`{"v":1,"op":"nope"}`,
		`{"v":1,"op":"open","key":"k"} trailing`,
		`[]`, `null`, `{"v":1e400}`,
	} {
		f.Add(append(frame(p), p...))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := storage.ReadSCFrame(bytes.NewReader(in), nil)
		if err != nil {
			return
		}
		if len(p) > storage.SCMaxMessage || len(p) == 0 {
			t.Fatalf("frame of %d bytes accepted", len(p))
		}
		req, err := storage.DecodeSCRequest(p)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("decode error of kind %s: %v", errs.KindOf(err), err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted an invalid request: %v", err)
		}
		if req.Op == storage.SCWrote && (req.Key != "" || req.ETag != "" || req.CreateOnly || req.Size < 0) {
			t.Fatalf("accepted wrote with arguments: %+v", req)
		}
		if req.Op == storage.SCCommit && (req.Size < 0 || req.CreateOnly && req.Key == "") {
			t.Fatalf("accepted commit %+v", req)
		}
		if (req.Op == storage.SCRoot || req.Op == storage.SCTake) && (req.Key != "" || req.Size != 0 || req.ETag != "" || req.CreateOnly) {
			t.Fatalf("accepted %s with arguments: %+v", req.Op, req)
		}
		if req.Op == storage.SCOpen || req.Op == storage.SCCreate || req.Op == storage.SCCommit && req.Key != "" {
			if err := storage.ValidateKey(req.Key); err != nil {
				t.Fatalf("accepted key %q: %v", req.Key, err)
			}
		}
		b, err := storage.AppendSCFrame(nil, req)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		p2, err := storage.ReadSCFrame(bytes.NewReader(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		req2, err := storage.DecodeSCRequest(p2)
		if err != nil || !reflect.DeepEqual(req, req2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", req, req2, err)
		}
	})
}
