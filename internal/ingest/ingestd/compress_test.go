package ingestd_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/storage"
)

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zst(t *testing.T, data []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(data, nil)
}

// postRaw sends body raw to /v1/ingest through the gateway with the headers
// given ("Content-Encoding", "gzip", ...).
func (st *stack) postRaw(t *testing.T, query string, body []byte, hdr ...string) (answer, http.Header) {
	t.Helper()
	req, err := http.NewRequest("POST", st.gateway+"/v1/ingest?"+query, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}, resp.Header
}

// salesCSV is a CSV of n rows of several types.
func salesCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,region,amount,day,note\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,r%d,%d.%02d,2024-%02d-%02d,\"note %d, with a comma\"\n", i, i%7, i*13%9973, i%100, i%12+1, i%28+1, i)
	}
	return b.Bytes()
}

// TestCompressedUploads: gzip and zstd CSV/JSONL bodies, by Content-Encoding,
// by their first bytes, raw and multipart (named *.gz/*.zst), concatenated
// gzip members, store the same rows and the same Parquet bytes as the
// uncompressed upload. Under -short, 4,000 rows (~250 KB) a body, not
// 20,000: the dozen uploads run one after another, each decoded, converted
// and read back whole.
func TestCompressedUploads(t *testing.T) {
	st := startStack(t, config(t))
	rows := 20000
	if testing.Short() {
		rows = 4000
	}
	csv := salesCSV(rows)
	var plain ingest.Result
	if a, _ := st.postRaw(t, "name=plain", csv); a.Status != 200 {
		t.Fatalf("plain: %d %s", a.Status, a.Body)
	} else {
		a.json(t, &plain)
	}
	wantSchema, wantRows := st.contents(t, "plain", 0)
	half := bytes.IndexByte(csv[len(csv)/2:], '\n') + len(csv)/2 + 1
	members := append(gz(t, csv[:half]), gz(t, csv[half:])...) // cat a.gz b.gz
	jsonl := []byte(`{"id":1,"s":"a"}` + "\n" + `{"id":2,"s":"b"}` + "\n")

	type upload struct {
		name, enc string
		send      func(name string) answer
	}
	raw := func(body []byte, hdr ...string) func(string) answer {
		return func(name string) answer { a, _ := st.postRaw(t, "name="+name, body, hdr...); return a }
	}
	form := func(file string, body []byte) func(string) answer {
		return func(name string) answer { return st.upload(t, "name="+name, file, body) }
	}
	for _, u := range []upload{
		{"gz_header", "gzip", raw(gz(t, csv), "Content-Encoding", "gzip")},
		{"gz_xgzip", "gzip", raw(gz(t, csv), "Content-Encoding", "x-gzip")},
		{"gz_sniffed", "gzip", raw(gz(t, csv))},
		{"zst_header", "zstd", raw(zst(t, csv), "Content-Encoding", "zstd")},
		{"zst_sniffed", "zstd", raw(zst(t, csv))},
		{"gz_members", "gzip", raw(members, "Content-Encoding", "gzip")},
		{"gz_form", "gzip", form("sales.csv.gz", gz(t, csv))},
		{"zst_form", "zstd", form("sales.csv.zst", zst(t, csv))},
		{"gz_form_sniffed", "gzip", form("upload.bin", gz(t, csv))},
		{"identity", "", raw(csv, "Content-Encoding", "identity")},
	} {
		a := u.send(u.name)
		if a.Status != 200 {
			t.Errorf("%s: %d %s", u.name, a.Status, a.Body)
			continue
		}
		var r ingest.Result
		a.json(t, &r)
		if r.Rows != plain.Rows || r.Bytes != plain.Bytes || r.Format != "csv" || r.ContentEncoding != u.enc {
			t.Errorf("%s: rows %d bytes %d format %s coding %q; uncompressed: rows %d bytes %d", u.name, r.Rows, r.Bytes, r.Format, r.ContentEncoding, plain.Rows, plain.Bytes)
		}
		if u.enc != "" && (r.DecodedBytes != int64(len(csv)) || r.InBytes >= r.DecodedBytes) {
			t.Errorf("%s: input_bytes %d decoded_bytes %d, want decoded %d", u.name, r.InBytes, r.DecodedBytes, len(csv))
		}
		schema, rows := st.contents(t, u.name, 0)
		if schema != wantSchema {
			t.Errorf("%s: schema %s, uncompressed %s", u.name, schema, wantSchema)
		}
		sameRows(t, u.name, rows, wantRows)
	}
	// JSONL, gzip and zstd.
	for _, u := range []upload{{"j_gz", "gzip", form("e.jsonl.gz", gz(t, jsonl))}, {"j_zst", "zstd", raw(zst(t, jsonl), "Content-Encoding", "zstd")}} {
		a := u.send(u.name)
		var r ingest.Result
		if a.Status == 200 {
			a.json(t, &r)
		}
		if a.Status != 200 || r.Format != "jsonl" || r.Rows != 2 || r.ContentEncoding != u.enc {
			t.Errorf("%s: %d %s", u.name, a.Status, a.Body)
		}
	}
	// The same key, the same rows sent uncompressed then gzip: one request.
	if a, _ := st.postRaw(t, "name=idem", csv, ingest.IdempotencyKeyHeader, "k1"); a.Status != 200 {
		t.Fatalf("idem: %d %s", a.Status, a.Body)
	}
	a, h := st.postRaw(t, "name=idem", gz(t, csv), ingest.IdempotencyKeyHeader, "k1", "Content-Encoding", "gzip")
	if a.Status != 200 || h.Get(ingest.ReplayedHeader) != "true" {
		t.Errorf("idem gzip retry: %d %s (replayed %q)", a.Status, a.Body, h.Get(ingest.ReplayedHeader))
	}
	// The replay describes this request's input as a commit would: its
	// coding and decoded size (they were left out of replays).
	var r ingest.Result
	a.json(t, &r)
	if r.ContentEncoding != "gzip" || r.DecodedBytes != int64(len(csv)) || r.InBytes >= r.DecodedBytes {
		t.Errorf("idem gzip replay: content_encoding %q decoded_bytes %d input_bytes %d, want gzip, %d", r.ContentEncoding, r.DecodedBytes, r.InBytes, len(csv))
	}
}

// TestCompressedUploadErrors: a coding not accepted (415), a cut or
// damaged gzip/zstd body (400 with where), a bad CSV inside gzip (the
// same located error as uncompressed), a compressed Parquet file, and a
// decompression bomb (413): nothing committed, no file stored, the temp
// dir left empty.
func TestCompressedUploadErrors(t *testing.T) {
	cfg := config(t)
	cfg.Ingestd.MaxDecompressedBytes = 4 << 20
	st := startStack(t, cfg)
	csv := salesCSV(20000)
	gzCSV, zstCSV := gz(t, csv), zst(t, csv)
	damaged := func(b []byte, at int) []byte {
		b = append([]byte(nil), b...)
		for i := at; i < min(at+64, len(b)); i++ {
			b[i] ^= 0x5a
		}
		return b
	}
	bad := []byte("id,name\n1,a\n2,b\n3,c,extra\n4,d\n")
	plainBad, _ := st.postRaw(t, "name=bad_plain", bad)
	if plainBad.Status != 400 {
		t.Fatalf("bad csv uncompressed: %d %s", plainBad.Status, plainBad.Body)
	}
	var parquet []byte
	{
		if a, _ := st.postRaw(t, "name=pq_src", csv); a.Status != 200 {
			t.Fatalf("pq_src: %d %s", a.Status, a.Body)
		}
		var keys = st.dataKeys(t, "pq_src")
		rc, _, err := st.store.Get(context.Background(), keys[0], storage.Whole)
		if err != nil {
			t.Fatal(err)
		}
		parquet, _ = io.ReadAll(rc)
		rc.Close()
	}
	bomb := append([]byte("n\n"), bytes.Repeat([]byte("1\n"), 3<<20)...) // 6 MiB decoded, a few KiB gzip

	var formCE bytes.Buffer
	mw := multipart.NewWriter(&formCE)
	fw, _ := mw.CreateFormFile("file", "sales.csv.gz")
	fw.Write(gzCSV)
	mw.Close()

	for _, tc := range []struct {
		name   string
		body   []byte
		hdr    []string
		status int
		want   []string
	}{
		{"br", gzCSV, []string{"Content-Encoding", "br"}, 415, []string{`Content-Encoding "br" is not accepted`, "gzip, zstd or identity"}},
		{"two", gzCSV, []string{"Content-Encoding", "gzip, zstd"}, 415, []string{"two codings"}},
		{"form_ce", formCE.Bytes(), []string{"Content-Encoding", "gzip", "Content-Type", mw.FormDataContentType()}, 415, []string{"multipart"}},
		{"gz_cut", gzCSV[:len(gzCSV)/2], nil, 400, []string{"gzip-compressed body", "ends early", fmt.Sprintf("after %d compressed bytes", len(gzCSV)/2)}},
		{"gz_damaged", damaged(gzCSV, len(gzCSV)/3), []string{"Content-Encoding", "gzip"}, 400, []string{"gzip-compressed body (Content-Encoding: gzip) is damaged", "compressed bytes read"}},
		{"gz_checksum", damaged(gzCSV, len(gzCSV)-8), nil, 400, []string{"gzip-compressed body", "damaged", "invalid checksum"}},
		{"gz_garbage_after", append(append([]byte(nil), gzCSV...), "garbage"...), nil, 400, []string{"gzip-compressed body", fmt.Sprintf("the bytes after gzip member 1, at compressed byte %d, are not a gzip member", len(gzCSV))}},
		{"gz_cut_member2", append(append([]byte(nil), gzCSV...), gzCSV[:100]...), nil, 400, []string{"gzip-compressed body", "ends early", fmt.Sprintf("after %d compressed bytes", len(gzCSV)+100)}},
		{"zst_cut", zstCSV[:len(zstCSV)/2], nil, 400, []string{"zstd-compressed body", "ends early"}},
		{"zst_damaged", damaged(zstCSV, len(zstCSV)/3), nil, 400, []string{"zstd-compressed body", "damaged"}},
		{"not_gzip", csv, []string{"Content-Encoding", "gzip"}, 400, []string{"the body is not gzip-compressed as Content-Encoding: gzip says: it begins with 69 64 2c 72, not gzip's 1f 8b; it is not compressed: send it without Content-Encoding"}},
		{"zst_is_gzip", gzCSV, []string{"Content-Encoding", "zstd"}, 400, []string{"the body is not zstd-compressed as Content-Encoding: zstd says: it begins with 1f 8b 08 00, not zstd's 28 b5 2f fd; it is gzip-compressed"}},
		{"gz_parquet", gz(t, parquet), nil, 400, []string{"gzip-compressed Parquet file"}},
		{"zst_parquet_format", zst(t, parquet), []string{"Content-Encoding", "zstd"}, 400, []string{"zstd-compressed Parquet file"}},
		{"bomb", gz(t, bomb), nil, 413, []string{"[ingestd].max_decompressed_bytes", fmt.Sprint(4 << 20)}},
	} {
		q := "name=" + tc.name
		if tc.name == "zst_parquet_format" {
			q += "&format=parquet"
		}
		a, h := st.postRaw(t, q, tc.body, tc.hdr...)
		var e struct {
			Error struct{ Kind, Message string }
		}
		a.json(t, &e)
		if a.Status != tc.status || e.Error.Kind == "" {
			t.Errorf("%s: %d %s, want %d", tc.name, a.Status, a.Body, tc.status)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(e.Error.Message, w) {
				t.Errorf("%s: message %q lacks %q", tc.name, e.Error.Message, w)
			}
		}
		if tc.status == 415 && h.Get("Accept-Encoding") != "gzip, zstd" {
			t.Errorf("%s: Accept-Encoding %q", tc.name, h.Get("Accept-Encoding"))
		}
		if _, err := st.catalog().Get(context.Background(), tc.name, 0); !errs.Is(err, errs.NotFound) {
			t.Errorf("%s: dataset committed (%v)", tc.name, err)
		}
		if keys := st.dataKeys(t, tc.name); len(keys) > 0 {
			t.Errorf("%s: files left %v", tc.name, keys)
		}
	}
	// A bad CSV inside gzip and zstd: the uncompressed upload's located error.
	for _, body := range [][]byte{gz(t, bad), zst(t, bad)} {
		a, _ := st.postRaw(t, "name=bad_gz", body)
		if a.Status != 400 || !bytes.Equal(a.Body[:bytes.Index(a.Body, []byte(`"request_id"`))], plainBad.Body[:bytes.Index(plainBad.Body, []byte(`"request_id"`))]) {
			t.Errorf("bad csv compressed: %d %s\nuncompressed: %s", a.Status, a.Body, plainBad.Body)
		}
	}
	tmp := cfg.DataPath(cfg.Ingestd.TempDir, "ingestd/tmp")
	left, _ := filepath.Glob(filepath.Join(tmp, "ingest-*"))
	if len(left) > 0 {
		t.Errorf("temp dir not empty: %v", left)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatal(err)
	}
}
