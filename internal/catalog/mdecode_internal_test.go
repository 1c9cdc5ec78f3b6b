package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// refDecode is decodeManifest's decode before decodeStored: encoding/json
// over the whole manifest.
func refDecode(b []byte) (Dataset, bool) {
	var d Dataset
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return Dataset{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return Dataset{}, false
	}
	return d, true
}

func storedManifest(files int, key func(i int) string) *Dataset {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	d := &Dataset{Name: "ds_0001", Version: 3, BaseVersion: 2, Schema: []Column{{Name: "a", Type: "BIGINT"}, {Name: "b", Type: "VARCHAR"}},
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), Mode: ModeAppend, IdempotencyKey: "k-1", RequestHash: fmt.Sprintf("%064x", 7),
		Files: []File{}}
	for i := range files {
		d.Files = append(d.Files, File{Key: key(i), Rows: int64(i * 1000), Bytes: int64(i*4096 + 1)})
		d.RowCount += int64(i * 1000)
	}
	return d
}

func plainKey(i int) string { return fmt.Sprintf("datasets/ds_0001/%06d-abcdef0123456789.parquet", i) }

// TestDecodeStored: every manifest encodeManifest writes with plain keys
// is decoded by decodeStored, to what encoding/json decodes; manifests of
// other forms (an escaped key, json.MarshalIndent's older layout, other
// spacing, a number json refuses) are left to encoding/json.
func TestDecodeStored(t *testing.T) {
	for _, n := range []int{0, 1, 2, 50, 1000} {
		b, err := encodeManifest(storedManifest(n, plainKey))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeStored(b)
		want, wok := refDecode(b)
		if !ok || !wok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%d files: decodeStored ok %v, reference ok %v, equal %v", n, ok, wok, reflect.DeepEqual(got, want))
		}
		if len(got.Files) != n {
			t.Fatalf("%d files: decoded %d", n, len(got.Files))
		}
	}
	escaped, _ := encodeManifest(storedManifest(3, func(i int) string { return fmt.Sprintf("datasets/x/<%d>é.parquet", i) }))
	indented, _ := json.MarshalIndent(storedManifest(3, plainKey), "", "  ")
	good, _ := encodeManifest(storedManifest(3, plainKey))
	for what, b := range map[string][]byte{
		"escaped key":    escaped,
		"MarshalIndent":  indented,
		"trailing space": append(append([]byte{}, good...), ' '),
		"exponent":       bytes.Replace(good, []byte(`"rows": 1000,`), []byte(`"rows": 1e3,`), 1),
		"leading zero":   bytes.Replace(good, []byte(`"rows": 1000,`), []byte(`"rows": 01000,`), 1),
		"overflow":       bytes.Replace(good, []byte(`"rows": 1000,`), []byte(`"rows": 99999999999999999999,`), 1),
		"extra field":    bytes.Replace(good, []byte(`"rows": 1000,`), []byte(`"rows": 1000, "x": 1,`), 1),
		"cut":            good[:len(good)-1],
		"bad head":       bytes.Replace(good, []byte(`"version": 3`), []byte(`"version": "3"`), 1),
	} {
		if _, ok := decodeStored(b); ok {
			t.Errorf("%s: decodeStored took it; want it left to encoding/json", what)
		}
	}
}

// TestDecodeManifestNoReflection: decodeManifest of a manifest of 1,000
// files as catalogd writes it allocates under half what encoding/json's
// decode of it does (which buffers the whole manifest and grows the file
// list as it goes): it takes decodeStored's path.
func TestDecodeManifestNoReflection(t *testing.T) {
	body, err := encodeManifest(storedManifest(1000, plainKey))
	if err != nil {
		t.Fatal(err)
	}
	allocated := func(f func()) uint64 {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		for range 20 {
			f()
		}
		runtime.ReadMemStats(&b)
		return (b.TotalAlloc - a.TotalAlloc) / 20
	}
	ref := allocated(func() { refDecode(body) })
	got := allocated(func() {
		if _, err := decodeManifest(body, "ds_0001", 3); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("a manifest of %d bytes: decodeManifest allocates %d bytes, encoding/json %d", len(body), got, ref)
	if got*2 > ref {
		t.Errorf("decodeManifest allocated %d bytes, encoding/json %d: want under half (decodeStored not used?)", got, ref)
	}
}

// FuzzDecodeStored: whatever decodeStored decodes, encoding/json decodes
// the same; and every manifest encodeManifest writes of plain keys is
// decoded by it.
func FuzzDecodeStored(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		b, _ := encodeManifest(storedManifest(n, plainKey))
		f.Add(b, "k", int64(n), int64(1))
	}
	f.Add([]byte("{\n \"files\": [\n  {\n   \"key\": \"a\",\n   \"rows\": -0,\n   \"bytes\": 1\n  }\n ]\n}"), "", int64(-1), int64(0))
	f.Add([]byte("{\"Files\": 1,\n \"files\": []\n}"), "a\"b", int64(0), int64(-5))
	f.Add([]byte("{\"x\": \"\n \"files\": []\n}"), "a", int64(1<<62), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, key string, rows, size int64) {
		if got, ok := decodeStored(b); ok {
			want, wok := refDecode(b)
			if !wok || !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeStored %+v, encoding/json (ok %v) %+v", got, wok, want)
			}
		}
		if key == "" {
			return
		}
		d := &Dataset{Name: "x", Version: 1, Schema: []Column{{Name: "a", Type: "BIGINT"}}, Files: []File{{Key: key, Rows: rows, Bytes: size}, {Key: key + "2", Rows: size, Bytes: rows}}}
		enc, err := encodeManifest(d)
		if err != nil {
			return
		}
		got, ok := decodeStored(enc)
		want, wok := refDecode(enc)
		if !wok {
			t.Fatalf("encodeManifest wrote what encoding/json cannot read: %q", enc)
		}
		if ok != plainJSON(key) || ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("key %q (plain %v): decodeStored ok %v, %+v; encoding/json %+v", key, plainJSON(key), ok, got, want)
		}
	})
}

// BenchmarkDecodeManifest50 is one manifest of 50 files decoded as a list
// from the manifest cache decodes it (decodeManifest), and by encoding/json
// alone (ADR-158's cold list before decodeStored).
func BenchmarkDecodeManifest50(b *testing.B) {
	body, _ := encodeManifest(storedManifest(50, plainKey))
	b.Run("decodeManifest", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeManifest(body, "ds_0001", 3); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := refDecode(body); !ok {
				b.Fatal("no")
			}
		}
	})
}
