package builtin

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// tableData is the generated word-vector table (see gen/ and NOTICE).
//
// Format LHGV version 1, little endian:
//
//	magic    "LHGV"
//	uint32   version (1), dims, nwords, nbuckets, minn, maxn, vocab (words in the source)
//	nwords x (uint8 len, len bytes)   words, most frequent first
//	nwords x uint32                   the word's rank in the source frequency order
//	(nwords+nbuckets) x float32       per-vector scale
//	(nwords+nbuckets) x dims int8     vectors: value = scale * int8
//	uint32                            CRC-32 (IEEE) of all bytes before it
//
//go:embed glove100d.lhgv
var tableData []byte

type table struct {
	dims, nwords, nbuckets int
	minn, maxn             int
	vocab                  int
	words                  []string
	rank                   []uint32
	scale                  []float32
	q                      []int8
}

func parseTable(b []byte) (*table, error) {
	le := binary.LittleEndian
	if len(b) < 4+7*4+4 || string(b[:4]) != "LHGV" {
		return nil, errors.New("builtin: table: bad magic")
	}
	body, sum := b[:len(b)-4], le.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, errors.New("builtin: table: checksum mismatch")
	}
	h := make([]int, 7)
	for i := range h {
		h[i] = int(le.Uint32(b[4+4*i:]))
	}
	if h[0] != 1 {
		return nil, fmt.Errorf("builtin: table: version %d", h[0])
	}
	t := &table{dims: h[1], nwords: h[2], nbuckets: h[3], minn: h[4], maxn: h[5], vocab: h[6]}
	p := 4 + 7*4
	t.words = make([]string, t.nwords)
	for i := range t.words {
		if p >= len(body) {
			return nil, errors.New("builtin: table: truncated words")
		}
		n := int(body[p])
		p++
		if p+n > len(body) {
			return nil, errors.New("builtin: table: truncated words")
		}
		t.words[i] = string(body[p : p+n])
		p += n
	}
	nvec := t.nwords + t.nbuckets
	need := 4*t.nwords + 4*nvec + nvec*t.dims
	if len(body)-p != need {
		return nil, fmt.Errorf("builtin: table: %d bytes after words, want %d", len(body)-p, need)
	}
	t.rank = make([]uint32, t.nwords)
	for i := range t.rank {
		t.rank[i] = le.Uint32(body[p:])
		p += 4
	}
	t.scale = make([]float32, nvec)
	for i := range t.scale {
		t.scale[i] = math.Float32frombits(le.Uint32(body[p:]))
		p += 4
	}
	t.q = make([]int8, nvec*t.dims)
	for i := range t.q {
		t.q[i] = int8(body[p+i])
	}
	return t, nil
}
