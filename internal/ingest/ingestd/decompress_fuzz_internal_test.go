package ingestd

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/klauspost/compress/zstd"

	"lakehouse-go/internal/errs"
)

const fuzzDecodedLimit = 1 << 20

// smallReads hands out its bytes in reads of at most n (a slow client).
type smallReads struct {
	b []byte
	n int
}

func (s *smallReads) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), s.n, len(s.b))
	copy(p, s.b[:k])
	s.b = s.b[k:]
	return k, nil
}

// referenceReader decodes b as compress/gzip (multistream, as zcat) or
// klauspost's zstd (with ingestd's window limit) do; done releases it.
func referenceReader(enc string, b []byte) (r io.Reader, done func(), err error) {
	if enc == encGzip {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		return zr, func() {}, err
	}
	zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderMaxWindow(maxZstdWindow))
	if err != nil {
		return nil, nil, err
	}
	return zr, zr.Close, nil
}

// reference is what the reference decodes of b, up to one byte past the
// decoded limit.
func reference(enc string, b []byte) ([]byte, error) {
	zr, done, err := referenceReader(enc, b)
	if err != nil {
		return nil, err
	}
	defer done()
	return io.ReadAll(io.LimitReader(zr, fuzzDecodedLimit+1))
}

// damaged says whether the reference, reading on past the decoded limit
// (up to 64 MiB, where ingestd's decoder has long stopped), finds b
// damaged.
func damaged(enc string, b []byte) bool {
	zr, done, err := referenceReader(enc, b)
	if err != nil {
		return true
	}
	defer done()
	_, err = io.Copy(io.Discard, io.LimitReader(zr, 64<<20))
	return err != nil
}

// FuzzDecoder: any bytes sent as a gzip or zstd body never panic the
// decoder; what compress/gzip (multistream) or klauspost's zstd decode is
// decoded byte for byte, over the decoded limit a 413, and what they
// refuse is a 400 (invalid) — never another kind, never a success.
func FuzzDecoder(f *testing.F) {
	gzOf := func(parts ...string) []byte {
		var out []byte
		for _, p := range parts {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write([]byte(p))
			w.Close()
			out = append(out, b.Bytes()...)
		}
		return out
	}
	enc, _ := zstd.NewWriter(nil)
	csv := "id,name\n1,a\n2,b\n"
	f.Add(gzOf(csv), false, 7)
	f.Add(gzOf("id,name\n1,a\n", "2,b\n"), false, 1)
	f.Add(gzOf("", "", csv), false, 3)
	f.Add(gzOf(csv)[:20], false, 4096)
	f.Add(append(gzOf(csv), 0, 0, 0), false, 4096)
	f.Add(append(gzOf(csv), gzOf(csv)[:11]...), false, 4096)
	f.Add([]byte{0x1f, 0x8b}, false, 1)
	f.Add(enc.EncodeAll([]byte(csv), nil), true, 5)
	f.Add(append(enc.EncodeAll([]byte(csv), nil), enc.EncodeAll([]byte("3,c\n"), nil)...), true, 4096)
	f.Add(enc.EncodeAll(bytes.Repeat([]byte("1\n"), 1<<19+1), nil), true, 4096)
	f.Add(gzOf(string(bytes.Repeat([]byte("1\n"), 1<<19+1))), false, 4096)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0}, true, 2)
	// Over the limit in a frame's last block, with a wrong checksum (CI's
	// FuzzDecoder/d003f58600383ddf was one such).
	badSum := enc.EncodeAll(bytes.Repeat([]byte("1\n"), 1<<19+50), nil)
	badSum[len(badSum)-1] ^= 0xff
	f.Add(badSum, true, 4096)
	enc.Close()
	f.Fuzz(func(t *testing.T, body []byte, isZstd bool, chunk int) {
		c := coding{enc: encGzip, from: "fuzz"}
		if isZstd {
			c.enc = encZstd
		}
		chunk = max(1, chunk%8192)
		want, wantErr := reference(c.enc, body)
		d, err := newDecoder(c, newWireReader(&smallReads{body, chunk}, 0), fuzzDecodedLimit)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(d)
			d.Close()
		}
		switch {
		case wantErr == nil && len(want) > fuzzDecodedLimit:
			// A 413 — or a 400 when the body is damaged too, and the
			// damage is told in the block that crosses the limit:
			// klauspost's synchronous decoder (ingestd's) checks a frame's
			// checksum before it hands out the frame's last block, the
			// reference's asynchronous one after.
			tooLarge := errs.Is(err, errs.TooLarge) && errs.StatusOf(err) == http.StatusRequestEntityTooLarge
			invalid := errs.Is(err, errs.Invalid) && errs.StatusOf(err) == http.StatusBadRequest
			if !tooLarge && !(invalid && damaged(c.enc, body)) {
				t.Fatalf("over the decoded limit: %v, want a 413 (or a 400 for a body damaged too)", err)
			}
		case wantErr == nil:
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("reference decodes %d bytes; decoder: %d bytes, %v", len(want), len(got), err)
			}
		case err == nil:
			t.Fatalf("reference refuses (%v); the decoder decoded %d bytes", wantErr, len(got))
		case errors.Is(err, io.EOF) || !errs.Is(err, errs.Invalid) || errs.StatusOf(err) != http.StatusBadRequest:
			t.Fatalf("refused as %v (status %d), want a 400", err, errs.StatusOf(err))
		}
	})
}
