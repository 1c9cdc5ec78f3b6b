package lhv1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/vector/hnsw"
)

func sample(t testing.TB, n, dims int, metric hnsw.Metric, deleteEvery int) *hnsw.Index {
	t.Helper()
	ix, err := hnsw.New(hnsw.Params{Dims: dims, Metric: metric, M: 6, EfConstruction: 32})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), uint64(dims)))
	items := make([]hnsw.Item, n)
	for i := range items {
		v := make([]float32, dims)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		items[i] = hnsw.Item{ID: fmt.Sprintf("doc-%d", i), Vector: v}
		if i%2 == 0 {
			items[i].Metadata = hnsw.Metadata{"lang": []string{"en", "de", "fr"}[i%3], "n": float64(i), "ok": i%4 == 0}
		}
	}
	if err := ix.Upsert(items); err != nil {
		t.Fatal(err)
	}
	if deleteEvery > 0 {
		var del []string
		for i := 0; i < n; i += deleteEvery {
			del = append(del, fmt.Sprintf("doc-%d", i))
		}
		if _, err := ix.Delete(del); err != nil {
			t.Fatal(err)
		}
	}
	ix.SetSeq(uint64(n) * 7)
	return ix
}

func encodeBytes(t testing.TB, ix *hnsw.Index) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, ix); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		metric hnsw.Metric
		del    int
	}{
		{"empty", 0, hnsw.Cosine, 0},
		{"one", 1, hnsw.L2, 0},
		{"cosine with tombstones", 500, hnsw.Cosine, 5},
		{"l2", 300, hnsw.L2, 0},
		{"dot all deleted", 20, hnsw.Dot, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := sample(t, tc.n, 12, tc.metric, tc.del)
			data := encodeBytes(t, ix)
			got, err := Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if a, b := ix.Stats(), got.Stats(); a.Count != b.Count || a.Deleted != b.Deleted || a.Slots != b.Slots || a.MaxLevel != b.MaxLevel || a.Params != b.Params {
				t.Fatalf("stats differ:\n%+v\n%+v", a, b)
			}
			if got.Seq() != ix.Seq() {
				t.Fatalf("seq %d != %d", got.Seq(), ix.Seq())
			}
			// byte-identical re-encoding: every piece of state survived
			if again := encodeBytes(t, got); !bytes.Equal(again, data) {
				t.Fatal("re-encoding differs")
			}
			r := rand.New(rand.NewPCG(9, 9))
			for range 20 {
				q := make([]float32, 12)
				for j := range q {
					q[j] = float32(r.NormFloat64())
				}
				for _, f := range []hnsw.Filter{nil, {"lang": "de"}, {"ok": true, "lang": []any{"en", "fr"}}} {
					a, err1 := ix.Search(q, 5, 40, f)
					b, err2 := got.Search(q, 5, 40, f)
					if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
						t.Fatalf("search differs (filter %v):\n%v\n%v", f, a, b)
					}
				}
			}
			// the decoded index stays writable and reuses tombstones
			if tc.n > 0 {
				v := make([]float32, 12)
				v[0] = 1
				if err := got.Upsert([]hnsw.Item{{ID: "fresh", Vector: v}}); err != nil {
					t.Fatal(err)
				}
				if res, _ := got.Search(v, 1, 10, nil); len(res) != 1 || res[0].ID != "fresh" {
					t.Fatalf("fresh item not found: %v", res)
				}
			}
		})
	}
}

func TestRejectsTruncated(t *testing.T) {
	data := encodeBytes(t, sample(t, 40, 4, hnsw.Cosine, 3))
	for i := 0; i < len(data); i++ {
		_, err := Decode(bytes.NewReader(data[:i]))
		if !errors.Is(err, ErrCorrupt) || !errs.Is(err, errs.Invalid) {
			t.Fatalf("prefix %d/%d: got %v, want a corrupt error", i, len(data), err)
		}
	}
	if _, err := Decode(bytes.NewReader(append(data, 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestRejectsEveryBitFlip(t *testing.T) {
	data := encodeBytes(t, sample(t, 30, 4, hnsw.L2, 4))
	for i := 0; i < len(data); i++ {
		for _, bit := range []byte{1, 0x80} {
			bad := bytes.Clone(data)
			bad[i] ^= bit
			if _, err := Decode(bytes.NewReader(bad)); err == nil {
				t.Fatalf("flip of bit %#x at byte %d accepted", bit, i)
			} else if !errs.Is(err, errs.Invalid) {
				t.Fatalf("byte %d: %v is not invalid", i, err)
			}
		}
	}
}

func TestVersionAndMagic(t *testing.T) {
	data := encodeBytes(t, sample(t, 3, 4, hnsw.Cosine, 0))
	v2 := bytes.Clone(data)
	v2[4] = 2
	if _, err := Decode(bytes.NewReader(v2)); !errors.Is(err, ErrVersion) {
		t.Fatalf("version 2: %v", err)
	}
	bad := bytes.Clone(data)
	copy(bad, "LHV9")
	if _, err := Decode(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("magic: %v", err)
	}
}

func TestLargeStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ix := sample(t, 5000, 64, hnsw.Cosine, 10)
	path := filepath.Join(t.TempDir(), "x.lhv1")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Encode(f, ix); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, _ = os.Open(path)
	defer f.Close()
	got, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != ix.Len() {
		t.Fatalf("len %d != %d", got.Len(), ix.Len())
	}
}

// lyingLength is a valid file cut inside its META section, whose length is
// set to 128 TiB and whose first entry claims a terabyte, followed by tail
// bytes.
func lyingLength(t testing.TB, tail int) []byte {
	t.Helper()
	valid := encodeBytes(t, sample(t, 4, 3, hnsw.Cosine, 0))
	at := bytes.Index(valid, []byte(tagMetadata))
	if at < 0 {
		t.Fatal("no META section")
	}
	bad := bytes.Clone(valid[:at+12])
	binary.LittleEndian.PutUint64(bad[at+4:], 1<<47)
	bad = binary.AppendUvarint(bad, 1<<40)
	return append(bad, bytes.Repeat([]byte{7}, tail)...)
}

// TestLyingLengthAllocatesLittle: a metadata length of a terabyte, inside a
// section that claims 128 TiB, in a file that then ends, is a truncation
// error that costs memory in proportion to the file, not to the claim. (The
// fuzzer found the decoder allocating what a length field said: the worker
// died asking for 1.6 TB.)
func TestLyingLengthAllocatesLittle(t *testing.T) {
	bad := lyingLength(t, 3<<20) // 3 MiB of the "terabyte"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bytes.NewReader(bad))
	runtime.ReadMemStats(&after)
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v, want an Invalid truncation", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Fatalf("decoding a %d-byte file allocated %d MiB", len(bad), got>>20)
	}
}

// FuzzDecode: Decode never panics and never over-allocates; whatever it
// accepts re-encodes to the same bytes (the format has one encoding per
// index) and has the seq HeaderSeq reads (which never panics either). Seeds: valid files from f.Add plus testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(encodeBytes(f, sample(f, 0, 3, hnsw.Cosine, 0)))
	f.Add(encodeBytes(f, sample(f, 5, 3, hnsw.L2, 2)))
	f.Add(encodeBytes(f, sample(f, 12, 2, hnsw.Dot, 5)))
	f.Add([]byte("LHV1"))
	f.Add(lyingLength(f, 64))
	v2 := encodeBytes(f, sample(f, 3, 2, hnsw.Cosine, 0))
	v2[4] = 2 // a newer version: HeaderSeq refuses it too
	f.Add(v2)
	f.Fuzz(func(t *testing.T, data []byte) {
		hseq, hok := HeaderSeq(data) // never panics, whatever the bytes
		ix, err := Decode(bytes.NewReader(data))
		if err == nil && (!hok || hseq != ix.Seq()) {
			t.Fatalf("HeaderSeq = %d, %v of a file that decodes with seq %d", hseq, hok, ix.Seq())
		}
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("non-invalid error %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, ix); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("accepted input does not re-encode identically")
		}
		q := make([]float32, ix.Params().Dims)
		q[0] = 1
		if _, err := ix.Search(q, 3, 10, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz/FuzzDecode when
// LHV1_WRITE_CORPUS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("LHV1_WRITE_CORPUS") != "1" {
		t.Skip("set LHV1_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	os.MkdirAll(dir, 0o755)
	write := func(name string, b []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	valid := encodeBytes(t, sample(t, 8, 3, hnsw.Cosine, 3))
	write("valid-cosine-tombstones", valid)
	write("valid-l2-meta", encodeBytes(t, sample(t, 6, 2, hnsw.L2, 0)))
	write("truncated-half", valid[:len(valid)/2])
	flipped := bytes.Clone(valid)
	flipped[HeaderLen+20] ^= 4
	write("bad-crc", flipped)
	write("header-only", valid[:HeaderLen])
}

// TestHeaderSeq: HeaderSeq reads the seq of a file whose body is damaged
// (vectord's held index, ADR-122), and refuses what is not a header of a
// version this build reads.
func TestHeaderSeq(t *testing.T) {
	data := encodeBytes(t, sample(t, 30, 4, hnsw.L2, 4)) // seq 210
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	if _, err := Decode(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged: %v", err)
	}
	for name, b := range map[string][]byte{"whole": data, "damaged body": bad, "header only": data[:HeaderLen]} {
		if seq, ok := HeaderSeq(b); !ok || seq != 210 {
			t.Fatalf("%s: %d %v, want 210", name, seq, ok)
		}
	}
	v2 := bytes.Clone(data)
	v2[4] = 2
	short := bytes.Clone(data)
	binary.LittleEndian.PutUint16(short[6:], HeaderLen-1)
	for name, b := range map[string][]byte{"short": data[:HeaderLen-1], "newer version": v2, "magic": append([]byte("LHV9"), data[4:]...), "header length": short, "empty": nil} {
		if seq, ok := HeaderSeq(b); ok {
			t.Fatalf("%s: %d accepted", name, seq)
		}
	}
}

// TestEncodeSnapshotSameBytes: an index's copy (hnsw.Index.Copy, what
// vectord encodes since ADR-135) encodes to the very bytes Encode writes
// for the index, for every metric, with tombstones (some reused) and
// without, and for an empty index: the format is unchanged.
func TestEncodeSnapshotSameBytes(t *testing.T) {
	for _, c := range []struct {
		n, dims, del int
		metric       hnsw.Metric
	}{{0, 4, 0, hnsw.Cosine}, {1, 3, 0, hnsw.L2}, {700, 16, 7, hnsw.Cosine}, {5000, 8, 3, hnsw.Dot}, {5000, 8, 0, hnsw.L2}} {
		ix := sample(t, c.n, c.dims, c.metric, c.del)
		if c.del > 0 { // reuse some tombstoned slots
			v := make([]float32, c.dims)
			for i := range v {
				v[i] = float32(i + 1)
			}
			if err := ix.Upsert([]hnsw.Item{{ID: "reused", Vector: v, Metadata: hnsw.Metadata{"r": true}}}); err != nil {
				t.Fatal(err)
			}
		}
		want := encodeBytes(t, ix)
		var got bytes.Buffer
		if err := EncodeSnapshot(&got, ix.Copy(nil)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%d x %d %s: the copy encodes to %d bytes, the index to %d, not the same", c.n, c.dims, c.metric, got.Len(), len(want))
		}
	}
}
