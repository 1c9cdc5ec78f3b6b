package ingestd

// Compressed uploads (gzip, zstd): the body is decoded while it is spooled,
// so the spool file, the format sniffing, the Idempotency-Key hash and
// DuckDB all see the decoded CSV/JSONL text, and a located CSV error is a
// line and column of that text. Nothing decoded is held in memory beyond
// the decoders' windows (gzip 32 KiB, zstd at most maxZstdWindow).

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"

	"lakehouse-go/internal/errs"
)

// The content codings ingestd decodes.
const (
	encGzip = "gzip"
	encZstd = "zstd"
)

// acceptedEncodings is named by a 415 (and its Accept-Encoding header).
const acceptedEncodings = "gzip, zstd"

// maxZstdWindow is the largest zstd window accepted: the zstd command's own
// default limit (windowLog 27) without --memory.
const maxZstdWindow = 128 << 20

// coding says how the upload's file bytes are encoded: enc "" = none; from
// says how that was known (for messages). sniff: look at the first bytes
// (no Content-Encoding was given).
type coding struct {
	enc   string
	from  string
	sniff bool
}

// requestCoding reads the request's Content-Encoding (RFC 9110 8.4): none
// or identity is no coding; gzip (x-gzip) and zstd are decoded; anything
// else, or two codings applied one over the other, is a 415.
func requestCoding(h http.Header) (coding, error) {
	vals := h.Values("Content-Encoding")
	if len(vals) == 0 {
		return coding{sniff: true}, nil
	}
	var c coding
	for _, v := range vals {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.ToLower(strings.TrimSpace(tok))
			var enc string
			switch tok {
			case "", "identity":
				continue
			case "gzip", "x-gzip":
				enc = encGzip
			case "zstd":
				enc = encZstd
			default:
				return coding{}, unsupportedCoding(fmt.Sprintf("Content-Encoding %q is not accepted", strings.TrimSpace(v)))
			}
			if c.enc != "" {
				return coding{}, unsupportedCoding(fmt.Sprintf("Content-Encoding %q applies two codings; one is accepted", strings.Join(vals, ", ")))
			}
			c = coding{enc: enc, from: "Content-Encoding: " + tok}
		}
	}
	return c, nil
}

// unsupportedCoding is a 415 naming the accepted codings.
func unsupportedCoding(what string) error {
	return &errs.Error{Op: "ingest", Kind: errs.Invalid, Status: http.StatusUnsupportedMediaType,
		Msg: what + ": send gzip, zstd or identity (no Content-Encoding header: gzip and zstd bodies are recognized by their first bytes)"}
}

// fileCoding is a multipart file part's coding from its name (sales.csv.gz),
// and the name without the coding's extension (for the format).
func fileCoding(name string) (coding, string) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".gz", ".gzip":
		return coding{enc: encGzip, from: "the file name " + name}, strings.TrimSuffix(name, filepath.Ext(name))
	case ".zst", ".zstd":
		return coding{enc: encZstd, from: "the file name " + name}, strings.TrimSuffix(name, filepath.Ext(name))
	}
	return coding{sniff: true}, name
}

// sniffCoding is the coding of a body starting with head (its magic bytes).
func sniffCoding(head []byte) string {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return encGzip
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		return encZstd
	case len(head) >= 4 && head[0]&0xf0 == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18:
		// A skippable frame (RFC 8878 3.1.2), as pzstd and the seekable
		// format write first: a zstd stream all the same.
		return encZstd
	}
	return ""
}

// wireReader reads the upload's bytes as received, counts them, refuses
// more than limit (0 = none) with a 413 and keeps the first read error
// that is not the end (a cut upload, a client gone): a decoder turns it
// into "unexpected EOF" or passes it on, and the error answered must be
// the upload's, not "damaged". It is an io.ByteReader, so compress/flate
// reads it byte by byte and n is the compressed offset of a damage.
type wireReader struct {
	br    *bufio.Reader
	n     int64
	limit int64
	err   error // the first error other than io.EOF
}

func newWireReader(r io.Reader, limit int64) *wireReader {
	return &wireReader{br: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

func (w *wireReader) Read(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.limit > 0 && int64(len(p)) > w.limit+1-w.n {
		p = p[:w.limit+1-w.n]
	}
	n, err := w.br.Read(p)
	w.n += int64(n)
	if w.limit > 0 && w.n > w.limit {
		w.err = tooLarge(w.limit)
		return n, w.err
	}
	if err != nil && err != io.EOF {
		w.err = err
	}
	return n, err
}

func (w *wireReader) ReadByte() (byte, error) {
	if w.err != nil {
		return 0, w.err
	}
	b, err := w.br.ReadByte()
	if err != nil {
		if err != io.EOF {
			w.err = err
		}
		return 0, err
	}
	w.n++
	if w.limit > 0 && w.n > w.limit {
		w.err = tooLarge(w.limit)
		return 0, w.err
	}
	return b, nil
}

// decoder reads the decoded bytes of src. Its errors are the upload's (a
// read error of src, a 413 of either limit) or a 400 saying where the
// compressed stream is damaged. Close releases the zstd decoder.
type decoder struct {
	c       coding
	src     *wireReader
	dec     io.Reader
	gz      *gzip.Reader
	members int // gzip members begun
	zd      *zstd.Decoder
	out     int64
	limit   int64 // decoded bytes (0 = none)
	err     error
}

// newDecoder starts decoding src (gzip reads its first header here: a
// body that is not gzip is answered at once).
func newDecoder(c coding, src *wireReader, limit int64) (*decoder, error) {
	d := &decoder{c: c, src: src, limit: limit}
	if err := notCoded(c, src); err != nil {
		return nil, err
	}
	switch c.enc {
	case encGzip:
		// Concatenated members (cat a.gz b.gz) are read, as zcat does, one
		// at a time (Read) so that bytes after a member that are no
		// member are told from a cut one.
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, d.fail(err)
		}
		zr.Multistream(false)
		d.gz, d.dec, d.members = zr, zr, 1
	case encZstd:
		// A frame that asks for a window over maxZstdWindow (zstd --long=28
		// and up, --ultra -20 and up, on a stream) is whole, not damaged:
		// say so, and how to compress it again, before the decoder's bare
		// "window size exceeded".
		if err := windowTooLarge(c, src); err != nil {
			return nil, err
		}
		zd, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, errs.E("ingest", errs.Internal, err)
		}
		d.zd, d.dec = zd, zd
	default:
		return nil, errs.E("ingest", errs.Internal, "no decoder for coding "+c.enc)
	}
	return d, nil
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.limit > 0 && int64(len(p)) > d.limit+1-d.out {
		p = p[:d.limit+1-d.out]
	}
	n, err := d.dec.Read(p)
	for err == io.EOF && d.gz != nil {
		// A gzip member ended: the next one, if any, goes on (read here
		// when nothing was read: a run of empty members must not read as
		// (0, nil) again and again, which bufio takes for no progress).
		if err = d.nextMember(); err != nil || n > 0 {
			break
		}
		n, err = d.dec.Read(p)
	}
	d.out += int64(n)
	if d.limit > 0 && d.out > d.limit {
		d.err = errs.E("ingest", errs.TooLarge, fmt.Sprintf("the %s-compressed upload decodes to more than the limit of %d bytes ([ingestd].max_decompressed_bytes)", d.c.enc, d.limit))
		return n, d.err
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		return n, io.EOF
	case d.err != nil:
		return n, d.err // nextMember's answer
	}
	d.err = d.fail(err)
	return n, d.err
}

// nextMember starts the gzip member after the one read (nil), or says
// the body ended (io.EOF) or what follows is no gzip member.
func (d *decoder) nextMember() error {
	if _, err := d.src.br.Peek(1); err == io.EOF {
		return io.EOF
	} else if err != nil {
		d.src.err = err
		d.err = err
		return err
	}
	at := d.src.n
	if err := d.gz.Reset(d.src); err != nil {
		if d.src.err != nil {
			d.err = d.src.err
		} else {
			d.err = errs.E("ingest", errs.Invalid, fmt.Sprintf("the gzip-compressed body (%s) is damaged: the bytes after gzip member %d, at compressed byte %d, are not a gzip member (%v); nothing was stored",
				d.c.from, d.members, at, err))
		}
		return d.err
	}
	d.gz.Multistream(false)
	d.members++
	return nil
}

// fail is the answer to a decoder's error: the upload's own error when
// reading it failed, else the damage and where it was met.
func (d *decoder) fail(err error) error {
	if d.src.err != nil {
		return d.src.err
	}
	what := "is damaged"
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		what = "ends early (cut)"
	}
	return errs.E("ingest", errs.Invalid, fmt.Sprintf("the %s-compressed body (%s) %s: %v, after %d compressed bytes read; nothing was stored",
		d.c.enc, d.c.from, what, err, d.src.n))
}

// notCoded is the 400 of a body that a Content-Encoding or a file name
// says is coded but that does not begin as that coding does (a .csv.gz a
// browser saved already decoded, a gzip file named .zst): it is no damaged
// stream, so say what it begins with. nil when it begins right, when the
// coding was sniffed, or for an empty body (the decoder's "cut").
func notCoded(c coding, src *wireReader) error {
	if c.sniff {
		return nil
	}
	head, _ := src.br.Peek(4)
	if len(head) == 0 {
		return nil
	}
	got := sniffCoding(head)
	if got == c.enc {
		return nil
	}
	magic := map[string]string{encGzip: "1f 8b", encZstd: "28 b5 2f fd"}
	what := "it is not compressed: send it without Content-Encoding"
	if strings.HasPrefix(c.from, "the file name") {
		what = "it is not compressed: name the file without that extension"
	}
	if got != "" {
		what = "it is " + got + "-compressed: send it without Content-Encoding or name it ." + map[string]string{encGzip: "gz", encZstd: "zst"}[got]
	}
	return errs.E("ingest", errs.Invalid, fmt.Sprintf("the body is not %s-compressed as %s says: it begins with % x, not %s's %s; %s; nothing was stored",
		c.enc, c.from, head, c.enc, magic[c.enc], what))
}

// windowTooLarge is the 400 of a zstd body whose first frame header asks
// for a window over maxZstdWindow; nil otherwise (a short or damaged header
// is left to the decoder).
func windowTooLarge(c coding, src *wireReader) error {
	head, _ := src.br.Peek(zstd.HeaderMaxSize)
	var h zstd.Header
	if h.Decode(head) != nil || h.Skippable || h.SingleSegment || h.WindowSize <= maxZstdWindow {
		return nil
	}
	return errs.E("ingest", errs.Invalid, fmt.Sprintf("the zstd-compressed body (%s) needs a window of %d MiB to decode; at most %d MiB is accepted (the zstd command's own limit without --memory): compress it again with --long=27 or less, or without --long; nothing was stored",
		c.from, h.WindowSize>>20, maxZstdWindow>>20))
}

// Close releases the decoder.
func (d *decoder) Close() {
	if d.zd != nil {
		d.zd.Close()
	}
}
