package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// marshalManifest is encodeManifest as it was: json.MarshalIndent of the
// whole manifest. The stored bytes must not change (ADR-131).
func marshalManifest(d *Dataset) ([]byte, error) {
	return json.MarshalIndent(manifest{Name: d.Name, Version: d.Version, RowCount: d.RowCount, FileCount: len(d.Files),
		Bytes: d.Bytes(), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Mode: d.Mode, BaseVersion: d.BaseVersion,
		Deleted: d.Deleted, IdempotencyKey: d.IdempotencyKey, RequestHash: d.RequestHash, Schema: d.Schema, Files: d.Files}, "", " ")
}

func checkEncode(t *testing.T, d *Dataset) {
	t.Helper()
	got, err := encodeManifest(d)
	want, werr := marshalManifest(d)
	if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("encodeManifest(%+v):\n%s (%v)\nwant json.MarshalIndent's\n%s (%v)", d, got, err, want, werr)
	}
}

// TestEncodeManifestExact: the stored form is json.MarshalIndent's byte
// for byte: no files, nil files (a manifest written by hand), one, many,
// and keys JSON escapes (HTML characters, invalid UTF-8, U+2028, quotes,
// control characters).
func TestEncodeManifestExact(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.UTC)
	base := Dataset{Name: "sales", Version: 7, Schema: []Column{{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE", Format: "%m/%d/%Y"}},
		CreatedAt: at, UpdatedAt: at, Mode: ModeAppend, BaseVersion: 6, IdempotencyKey: "k<&>", RequestHash: "h"}
	var many []File
	for i := range 300 {
		many = append(many, File{Key: fmt.Sprintf("datasets/sales/part-%06d.parquet", i), Rows: int64(i) * 1000, Bytes: int64(i)<<20 + 17})
	}
	for name, files := range map[string][]File{
		"nil":     nil,
		"empty":   {},
		"one":     {{Key: "datasets/sales/a.parquet", Rows: 3, Bytes: 900}},
		"many":    many,
		"escaped": {{Key: "datasets/sales/<a&b>\"\\\u2028\u2029\x01\xff.parquet", Rows: -1, Bytes: 1<<63 - 1}, {Key: "", Rows: 0, Bytes: -9}},
	} {
		t.Run(name, func(t *testing.T) {
			d := base
			d.Files = files
			checkEncode(t, &d)
			d.Deleted, d.Mode, d.Schema = true, "delete", []Column{}
			checkEncode(t, &d)
		})
	}
}

// FuzzEncodeManifest: for any files and summary, encodeManifest writes
// exactly what json.MarshalIndent writes.
func FuzzEncodeManifest(f *testing.F) {
	f.Add("sales", "datasets/sales/a.parquet", int64(3), int64(900), uint8(2), "append", false)
	f.Add("x", "<&>\u2028\xff\"", int64(-1), int64(0), uint8(0), "", true)
	f.Fuzz(func(t *testing.T, name, key string, rows, size int64, n uint8, mode string, deleted bool) {
		d := Dataset{Name: name, Version: rows, RowCount: size, Mode: mode, Deleted: deleted, Schema: []Column{{Name: key, Type: mode}}}
		if n > 0 {
			d.Files = []File{}
			for i := range int(n % 8) {
				d.Files = append(d.Files, File{Key: key + fmt.Sprint(i), Rows: rows + int64(i), Bytes: size - int64(i)})
			}
		}
		checkEncode(t, &d)
	})
}

// TestEncodeManifestFast (ADR-131): a commit to a dataset of 5,000 files
// encoded all of them through reflection and then indented the whole
// (about 15-20 ms of each commit); the direct encoding takes a fraction
// of that. The fastest of several rounds of each is compared, so a busy
// host slows both alike.
func TestEncodeManifestFast(t *testing.T) {
	var files []File
	for v := 1; v <= 5000; v++ {
		files = append(files, File{Key: fmt.Sprintf("datasets/big/part-%06d.parquet", v), Rows: 10, Bytes: 1000})
	}
	d := &Dataset{Name: "big", Version: 5000, Schema: []Column{{Name: "id", Type: "BIGINT"}}, Files: files, RowCount: 50000, Mode: ModeAppend}
	fastest := func(f func(*Dataset) ([]byte, error)) time.Duration {
		best := time.Hour
		for range 7 {
			t0 := time.Now()
			if _, err := f(d); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(t0))
		}
		return best
	}
	checkEncode(t, d)
	old, now := fastest(marshalManifest), fastest(encodeManifest)
	t.Logf("5,000 files: json.MarshalIndent %v, encodeManifest %v", old, now)
	if now*4 > old {
		t.Fatalf("encodeManifest took %v for 5,000 files, json.MarshalIndent %v: want at most a quarter", now, old)
	}
}
