package hnsw

import (
	"maps"
	"testing"
)

// FuzzDecodeMetadata: the metadata encoding inside LHV1 files and WAL
// records. Any bytes decode to metadata or an error, never a panic or a
// read past the end; decoded metadata re-encodes canonically (sorted keys)
// and decodes to the same fields.
func FuzzDecodeMetadata(f *testing.F) {
	f.Add(AppendMetadata(nil, Metadata{"s": "x", "n": 1.5, "t": true, "f": false}))
	f.Add(AppendMetadata(nil, nil))
	f.Add([]byte{1, 1, 'k', 'n', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // NaN
	f.Add([]byte{2, 1, 'a', 't', 1, 'a', 'f'})                  // duplicate key
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		md, n, err := DecodeMetadata(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		enc := AppendMetadata(nil, md)
		md2, n2, err := DecodeMetadata(enc)
		if err != nil || n2 != len(enc) || !maps.Equal(md, md2) {
			t.Fatalf("re-encoding %v: %v %d/%d %v", md, err, n2, len(enc), md2)
		}
	})
}
