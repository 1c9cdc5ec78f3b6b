package ingestd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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
