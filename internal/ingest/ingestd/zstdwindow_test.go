package ingestd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"lakehouse-go/internal/errs"
)

// longWindowZstd is data as one zstd frame whose header asks for a
// 2^windowLog window, as `zstd --long=31` writes from a pipe: frame header
// without content size, then raw blocks of at most 128 KiB.
func longWindowZstd(data []byte, windowLog uint) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte((windowLog - 10) << 3)}
	for len(data) > 0 {
		n := min(len(data), 128<<10)
		last := 0
		if n == len(data) {
			last = 1
		}
		h := n<<3 | last // raw block
		out = append(out, byte(h), byte(h>>8), byte(h>>16))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return out
}

// TestZstdLongWindow: a whole zstd body made with a window over the
// 128 MiB accepted is a 400 that says so and how to compress it again,
// not "damaged"; one at the limit goes in.
func TestZstdLongWindow(t *testing.T) {
	st := startStack(t, config(t))
	csv := salesCSV(2000)
	big := longWindowZstd(csv, 31)
	// The frame is valid: a decoder allowed the window reads it back.
	zd, err := zstd.NewReader(bytes.NewReader(big), zstd.WithDecoderMaxWindow(1<<31), zstd.WithDecoderLowmem(true))
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(zd)
	zd.Close()
	if err != nil || !bytes.Equal(back, csv) {
		t.Fatalf("the frame does not decode to the CSV: %v", err)
	}
	for _, hdr := range [][]string{nil, {"Content-Encoding", "zstd"}} {
		a, _ := st.postRaw(t, "name=zst_long31", big, hdr...)
		var e struct {
			Error struct{ Kind, Message string }
		}
		if err := json.Unmarshal(a.Body, &e); err != nil {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if a.Status != 400 || e.Error.Kind != "invalid" {
			t.Fatalf("long window %v: %d %s", hdr, a.Status, a.Body)
		}
		for _, w := range []string{"needs a window of 2048 MiB", "at most 128 MiB", "--long=27"} {
			if !strings.Contains(e.Error.Message, w) {
				t.Errorf("long window %v: message %q lacks %q", hdr, e.Error.Message, w)
			}
		}
		if strings.Contains(e.Error.Message, "damaged") {
			t.Errorf("long window %v: a whole body called damaged: %q", hdr, e.Error.Message)
		}
		if _, err := st.catalog().Get(context.Background(), "zst_long31", 0); !errs.Is(err, errs.NotFound) {
			t.Errorf("dataset committed (%v)", err)
		}
	}
	if a, _ := st.postRaw(t, "name=zst_long27", longWindowZstd(csv, 27)); a.Status != 200 {
		t.Errorf("window 128 MiB: %d %s", a.Status, a.Body)
	}
}

// TestZstdSkippableFrameFirst: a zstd body that begins with a skippable
// frame (as pzstd writes) is recognized by its first bytes, raw and as a
// multipart part with no .zst name, and holds the plain upload's rows.
func TestZstdSkippableFrameFirst(t *testing.T) {
	st := startStack(t, config(t))
	csv := salesCSV(3000)
	// Magic 0x184D2A50 (little-endian), 4-byte length, that many bytes.
	body := append([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}, zst(t, csv)...)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "sales-export")
	fw.Write(body)
	mw.Close()
	for _, tc := range []struct {
		name string
		body []byte
		hdr  []string
	}{
		{"pz_raw", body, nil},
		{"pz_header", body, []string{"Content-Encoding", "zstd"}},
		{"pz_form", form.Bytes(), []string{"Content-Type", mw.FormDataContentType()}},
	} {
		a, _ := st.postRaw(t, "name="+tc.name, tc.body, tc.hdr...)
		var r struct {
			Rows            int64  `json:"rows"`
			ContentEncoding string `json:"content_encoding"`
			DecodedBytes    int64  `json:"decoded_bytes"`
		}
		a.json(t, &r)
		if a.Status != 200 || r.Rows != 3000 || r.ContentEncoding != "zstd" || r.DecodedBytes != int64(len(csv)) {
			t.Errorf("%s: %d %s", tc.name, a.Status, a.Body)
		}
	}
}
