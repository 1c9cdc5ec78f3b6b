package storage

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strings"

	"lakehouse-go/internal/errs"
)

// ParseContentMD5 reads a Content-MD5 field (RFC 1864: the base64 of the
// body's 16-byte MD5) and returns the digest. Anything else (a hex digest,
// bad base64, another length) is Invalid, as S3 answers InvalidDigest: a
// digest that cannot be compared must not let the write through unchecked.
func ParseContentMD5(v string) ([]byte, error) {
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(sum) != md5.Size {
		return nil, errs.Errorf("storage.put", errs.Invalid,
			"Content-MD5 %q: want the base64 of the body's 16-byte MD5 (RFC 1864), as S3 takes it", v)
	}
	return sum, nil
}

// VerifyMD5 returns a reader of r that, at r's end, compares the MD5 of
// everything read with want and answers an Invalid error (S3's BadDigest)
// instead of io.EOF when they differ. Backends abort a write whose body
// fails, so nothing is written (ADR-150).
func VerifyMD5(r io.Reader, key string, want []byte) io.Reader {
	return &md5Reader{r: r, key: key, want: want, h: md5.New()}
}

type md5Reader struct {
	r    io.Reader
	key  string
	want []byte
	h    hash.Hash
	err  error
}

func (m *md5Reader) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.r.Read(p)
	m.h.Write(p[:n])
	if err == io.EOF {
		if got := m.h.Sum(nil); !bytes.Equal(got, m.want) {
			m.err = errs.E("storage.put", errs.Invalid, fmt.Sprintf(
				"object %q: the body's MD5 is %s, not the Content-MD5 %s (BadDigest): nothing written",
				m.key, base64.StdEncoding.EncodeToString(got), base64.StdEncoding.EncodeToString(m.want)))
			return n, m.err
		}
	}
	return n, err
}
