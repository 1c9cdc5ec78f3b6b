package storage_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"testing"
	"testing/iotest"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// FuzzContentMD5: ParseContentMD5 accepts exactly the base64 of 16 bytes
// (anything else is Invalid); a body read through VerifyMD5 ends with
// io.EOF exactly when its MD5 is the digest, else with an Invalid error,
// however the reads are cut (ADR-150).
func FuzzContentMD5(f *testing.F) {
	good := md5.Sum([]byte("hello"))
	f.Add([]byte("hello"), base64.StdEncoding.EncodeToString(good[:]), false)
	f.Add([]byte("hellO"), base64.StdEncoding.EncodeToString(good[:]), true)
	f.Add([]byte(""), "1B2M2Y8AsgTpgAmY7PhCfg==", false)
	f.Add([]byte("x"), "5d41402abc4b2a76b9719d911017c592", true)
	f.Add([]byte("x"), " 1B2M2Y8AsgTpgAmY7PhCfg== ", false)
	f.Fuzz(func(t *testing.T, body []byte, field string, oneByte bool) {
		sum, err := storage.ParseContentMD5(field)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("ParseContentMD5(%q): %v, want invalid", field, err)
			}
			return
		}
		if len(sum) != md5.Size {
			t.Fatalf("ParseContentMD5(%q): %d bytes", field, len(sum))
		}
		var r io.Reader = bytes.NewReader(body)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		got, err := io.ReadAll(storage.VerifyMD5(r, "k", sum))
		real := md5.Sum(body)
		if bytes.Equal(real[:], sum) {
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("matching digest: %v (%d of %d bytes)", err, len(got), len(body))
			}
		} else if !errs.Is(err, errs.Invalid) {
			t.Fatalf("digest %x of a body with MD5 %x: %v, want invalid", sum, real, err)
		}
	})
}
