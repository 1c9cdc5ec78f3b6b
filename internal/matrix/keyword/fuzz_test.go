package keyword

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad: any bytes as an index file decode cleanly or fail; never
// panic. The checksum is made to match before decoding (else nearly every
// input stops at it and the decoder behind it goes unexplored). What
// decodes saves to a file that loads back to the same index — same live
// ids, sums and terms (of a live document), same search answers — and saves again to the same
// bytes: a file Load accepts is never turned by Save into one it refuses.
func FuzzLoad(f *testing.F) {
	ix := New()
	ix.Add([]Doc{{ID: "1", Text: "forklift operator"}, {ID: "2", Text: "truck driver on nights"}})
	good := filepath.Join(f.TempDir(), "good")
	if err := ix.Save(good); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Add([]byte("LHKW"))
	f.Add([]byte("LHKW1\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= len(magic)+1+4 {
			data = bytes.Clone(data)
			binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], castagnoli))
		}
		ix, err := decode(data)
		if err != nil {
			return
		}
		saved := fileBytes(t, ix)
		back, err := decode(saved)
		if err != nil {
			t.Fatalf("%q loads, but what Save writes of it does not: %v", data, err)
		}
		if again := fileBytes(t, back); !bytes.Equal(again, saved) {
			t.Fatalf("%q: saved twice, two different files", data)
		}
		if ix.Len() != back.Len() || !reflect.DeepEqual(liveOf(ix), liveOf(back)) || !reflect.DeepEqual(liveTerms(ix), liveTerms(back)) {
			t.Fatalf("%q: reloaded index differs: %d %v %v, then %d %v %v", data, ix.Len(), liveOf(ix), liveTerms(ix), back.Len(), liveOf(back), liveTerms(back))
		}
		q := ""
		for i, term := range liveTerms(ix) {
			if i == 4 {
				break
			}
			q += term + " "
		}
		q += "forklift driver"
		if a, b := ix.Search(q, 10, nil), back.Search(q, 10, nil); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: search %q: %v loaded, %v saved and reloaded", data, q, a, b)
		}
	})
}

// fileBytes is what Save writes of ix, without the file.
func fileBytes(t *testing.T, ix *Index) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := ix.encode(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return binary.LittleEndian.AppendUint32(buf.Bytes(), crc32.Checksum(buf.Bytes(), castagnoli))
}

// liveOf maps each live id to its TextSum (0 when unknown).
func liveOf(ix *Index) map[string]uint64 {
	m := map[string]uint64{}
	ix.IDs(func(id string) { m[id] = 0 })
	for id := range m {
		m[id], _ = ix.TextSum(id)
	}
	return m
}

// liveTerms: the sorted terms with a posting of a live document (what Save
// keeps).
func liveTerms(ix *Index) []string {
	var out []string
	for _, term := range ix.Terms() {
		for _, p := range ix.post[term] {
			if ix.lens[p.doc] != deletedLen {
				out = append(out, term)
				break
			}
		}
	}
	return out
}

// TestLoadRefusesWhatSaveNeverWrites: files with a matching checksum that
// Save cannot have written are ErrCorrupt, not loaded half-understood: a
// token count of 2^32-1 (the in-memory mark of a removed document, which
// made Save write a file it then could not load), a term listing one
// document twice, and a document delta that wraps around 2^64 back to an
// earlier document.
func TestLoadRefusesWhatSaveNeverWrites(t *testing.T) {
	for _, name := range []string{"deleted-length", "dup-posting", "wrapping-delta"} {
		seed, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzLoad", name))
		if err != nil {
			t.Fatal(err)
		}
		var lit string
		if _, err := fmt.Sscanf(string(bytes.SplitN(seed, []byte("\n"), 2)[1]), "[]byte(%q)", &lit); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data := []byte(lit)
		binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], castagnoli))
		path := filepath.Join(t.TempDir(), "kw")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Load = %v, want ErrCorrupt", name, err)
		}
	}
}
