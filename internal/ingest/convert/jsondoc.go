package convert

// JSON documents (ADR-023 "JSON arrays and pretty-printed objects"). A
// `.json` file is most often a JSON array of objects (what
// JSON.stringify(rows) and most APIs write) or objects written over
// several lines each; DuckDB's read_json takes both (format 'array',
// 'auto'). Every check of the JSONL path (exact big integers, late
// fractions, keys, numbers out of range, appends by name) reads the file
// line by line, so such a file is first rewritten as JSONL: each element
// of the array, or each top-level object, compacted onto a line of its
// own (json.Compact keeps every byte of every string and number), in a
// temporary file next to the output. The rewrite streams: memory is one
// element, at most MaxLineBytes. It refuses, with the line and byte where
// the input broke, malformed JSON, a top-level scalar, an array element
// that is not an object (null is a row of NULLs, as a JSONL "null" line
// is), and anything after the array. The JSONL path then converts the
// rewritten file; its located errors name the element and the line of
// the original file where that element starts.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"lakehouse-go/internal/errs"
)

// JSON is a JSON document: an array of objects, or objects in any layout
// (one per line, JSONL, included).
const JSON = "json"

// JSON layouts.
const (
	layoutArray   = "array"
	layoutObjects = "objects"
)

// jsonScanner reads a JSON document in chunks, tracking the line and the
// byte of the line.
type jsonScanner struct {
	r         io.Reader
	buf       []byte
	pos, end  int
	eof       bool
	err       error // a read error (not EOF)
	line      int   // line of buf[pos], 1-based
	lineStart int64 // offset of that line's first byte
	off       int64 // offset of buf[pos]
}

func newJSONScanner(r io.Reader) *jsonScanner {
	return &jsonScanner{r: r, buf: make([]byte, 1<<20), line: 1}
}

// fill makes at least one byte available; false at EOF or on a read error.
func (s *jsonScanner) fill() bool {
	for s.pos == s.end {
		if s.eof || s.err != nil {
			return false
		}
		n, err := s.r.Read(s.buf)
		s.pos, s.end = 0, n
		if errors.Is(err, io.EOF) {
			s.eof = true
		} else if err != nil {
			s.err = err
		}
	}
	return true
}

// col is the 1-based byte of the current line at buf[pos].
func (s *jsonScanner) col() int64 { return s.off - s.lineStart + 1 }

// advance consumes n bytes of buf[pos:], counting newlines.
func (s *jsonScanner) advance(n int) {
	chunk := s.buf[s.pos : s.pos+n]
	if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
		s.line += bytes.Count(chunk, []byte{'\n'})
		s.lineStart = s.off + int64(i) + 1
	}
	s.pos += n
	s.off += int64(n)
}

// skipSpace consumes JSON whitespace; it returns the next byte (0 at EOF,
// and for a NUL byte in the file: more tells them apart).
func (s *jsonScanner) skipSpace() byte {
	for s.fill() {
		chunk := s.buf[s.pos:s.end]
		i := 0
		for i < len(chunk) && (chunk[i] == ' ' || chunk[i] == '\t' || chunk[i] == '\r' || chunk[i] == '\n') {
			i++
		}
		s.advance(i)
		if i < len(chunk) {
			return chunk[i]
		}
	}
	return 0
}

// more reports whether a byte is available at buf[pos] (after skipSpace:
// false at EOF).
func (s *jsonScanner) more() bool { return s.pos < s.end }

// object appends the raw bytes of the object or array starting at
// buf[pos] to raw, up to its matching close; ok is false at EOF before it.
// Strings are skipped whole; nothing else is checked (json.Compact is).
func (s *jsonScanner) object(raw []byte, max int) (out []byte, ok, tooLong bool) {
	depth, inStr, esc := 0, false, false
	for s.fill() {
		chunk := s.buf[s.pos:s.end]
		i, done := 0, false
	scan:
		for ; i < len(chunk); i++ {
			c := chunk[i]
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					i++
					done = true
					break scan
				}
			}
		}
		if len(raw)+i > max {
			return nil, false, true
		}
		raw = append(raw, chunk[:i]...)
		s.advance(i)
		if done {
			return raw, true, false
		}
	}
	return raw, false, false
}

// literal reads the letters, digits and signs of a scalar at buf[pos] (at most 64).
func (s *jsonScanner) literal() string {
	var b []byte
	for len(b) < 64 && s.fill() {
		c := s.buf[s.pos]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
			break
		}
		b = append(b, c)
		s.advance(1)
	}
	return string(b)
}

// jsonDoc is what transcodeJSON read.
type jsonDoc struct {
	layout string // layoutArray or layoutObjects
	count  int    // elements (rows) written
}

// transcodeJSON reads the JSON document at path and writes each element
// of its top-level array, or each top-level object, as one line of JSONL
// to w (nil: only read). each, when set, is called with every element's
// number (1-based) and the line where it starts; false stops the reading
// there (the document read so far is returned). Errors: Invalid (the
// document is not an array of objects or a sequence of objects; located),
// Internal (a read or write error).
func transcodeJSON(ctx context.Context, path string, w io.Writer, maxElem int, each func(n, line int) bool) (*jsonDoc, error) {
	const op = "ingest"
	f, err := os.Open(path)
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	defer f.Close()
	s := newJSONScanner(f)
	if s.fill() && bytes.HasPrefix(s.buf[s.pos:s.end], utf8BOM) {
		s.pos += len(utf8BOM)
		s.off += int64(len(utf8BOM))
		s.lineStart = s.off
	}
	located := func(line int, col int64, format string, a ...any) error {
		return errs.E(op, errs.Invalid, fmt.Sprintf("line %d, byte %d: ", line, col)+fmt.Sprintf(format, a...))
	}
	doc := &jsonDoc{layout: layoutObjects}
	first := s.skipSpace()
	switch {
	case first == 0 && s.err == nil && !s.more():
		return nil, errs.E(op, errs.Invalid, "the file is empty (no JSON value)")
	case first == '[':
		doc.layout = layoutArray
		s.advance(1)
	case first == '{' || first == 'n':
	case first != 0 || s.more():
		what := jsonValueKind(first)
		if what == "" {
			return nil, located(s.line, s.col(), "malformed JSON: %s where a JSON value begins", quoteByte(first))
		}
		return nil, located(s.line, s.col(), "the file holds %s, not JSON objects (want an array of objects, or objects)", what)
	}
	var raw []byte
	var out bytes.Buffer
	name := func() string {
		if doc.layout == layoutArray {
			return fmt.Sprintf("array element %d", doc.count+1)
		}
		return fmt.Sprintf("object %d", doc.count+1)
	}
	for {
		if doc.count%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c := s.skipSpace()
		line, col := s.line, s.col()
		if s.err != nil {
			return nil, errs.E(op, errs.Internal, s.err)
		}
		if doc.layout == layoutArray {
			if c == ']' && doc.count == 0 {
				s.advance(1)
				break
			}
			if c == 0 && !s.more() {
				return nil, located(line, col, "the JSON array is not closed (the file ends inside it)")
			}
		} else if c == 0 && !s.more() {
			break
		}
		switch c {
		case '{':
			var ok, tooLong bool
			raw, ok, tooLong = s.object(raw[:0], maxElem)
			switch {
			case tooLong:
				return nil, located(line, col, "%s is longer than the limit of %d bytes ([ingestd].max_line_bytes)", name(), maxElem)
			case s.err != nil:
				return nil, errs.E(op, errs.Internal, s.err)
			case !ok:
				return nil, located(line, col, "%s is not closed (the file ends inside it)", name())
			}
			out.Reset()
			if err := json.Compact(&out, raw); err != nil {
				// Compact's error has no offset; Unmarshal's check does.
				var se *json.SyntaxError
				var v json.RawMessage
				if errors.As(json.Unmarshal(raw, &v), &se) {
					l, cb := line, col
					prefix := raw[:min(int(se.Offset), len(raw))]
					if k := bytes.LastIndexByte(prefix, '\n'); k >= 0 {
						l += bytes.Count(prefix, []byte{'\n'})
						cb = int64(len(prefix) - k)
					} else {
						cb += int64(len(prefix))
					}
					// se.Offset is just past the offending byte.
					return nil, located(l, max(cb-1, 1), "malformed JSON in %s: %s", name(), se.Error())
				}
				return nil, located(line, col, "malformed JSON in %s: %v", name(), err)
			}
			out.WriteByte('\n')
		case 'n':
			if lit := s.literal(); lit != "null" {
				return nil, located(line, col, "malformed JSON: %q is not a JSON value", shorten(lit, 40))
			}
			out.Reset()
			out.WriteString("null\n")
		default:
			what := jsonValueKind(c)
			if what == "" {
				return nil, located(line, col, "malformed JSON: %s where %s begins", quoteByte(c), name())
			}
			return nil, located(line, col, "%s is %s, not a JSON object (each element must be an object, {\"column\": value, ...})", name(), what)
		}
		doc.count++
		if each != nil && !each(doc.count, line) {
			return doc, nil
		}
		if w != nil {
			if _, err := w.Write(out.Bytes()); err != nil {
				return nil, errs.E(op, errs.Internal, err)
			}
		}
		if doc.layout == layoutArray {
			c := s.skipSpace()
			if c == ']' {
				s.advance(1)
				break
			}
			if c != ',' {
				if c == 0 && !s.more() {
					return nil, located(s.line, s.col(), "the JSON array is not closed (the file ends inside it)")
				}
				return nil, located(s.line, s.col(), "malformed JSON: %s after %s (want , or ])", quoteByte(c), fmt.Sprintf("array element %d", doc.count))
			}
			s.advance(1)
			if c := s.skipSpace(); c == ']' {
				return nil, located(s.line, s.col(), "malformed JSON: a comma before the ] closing the array")
			}
		}
	}
	if doc.layout == layoutArray {
		if c := s.skipSpace(); c != 0 || s.more() {
			return nil, located(s.line, s.col(), "malformed JSON: %s after the end of the JSON array (one array per file)", quoteByte(c))
		}
	}
	if s.err != nil {
		return nil, errs.E(op, errs.Internal, s.err)
	}
	return doc, nil
}

// jsonValueKind names the JSON scalar or array beginning with b ("" when no value begins so).
func jsonValueKind(b byte) string {
	switch {
	case b == '[':
		return "an array"
	case b == '"':
		return "a string"
	case b == 't' || b == 'f':
		return "a boolean"
	case b == '-' || (b >= '0' && b <= '9'):
		return "a number"
	}
	return ""
}

func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}

var utf8BOM = []byte("\xef\xbb\xbf")

// firstJSONByte is the first byte of path after a BOM and whitespace (0: none).
func firstJSONByte(path string) (byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, nil
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, nil
		}
	}
}

// convertJSON converts a JSON document. A file whose first value is an
// object is tried as JSONL first (no rewrite: most are); when that finds
// a line that is no whole JSON value, or the file is an array, it is
// rewritten as JSONL (transcodeJSON) and that is converted. The result's
// Format says which was read.
func (c *Converter) convertJSON(ctx context.Context, in Input, outDir string) (*Result, error) {
	const op = "ingest"
	first, err := firstJSONByte(in.Path)
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	if first == '{' {
		jl := in
		jl.Format = JSONL
		res, err := c.convert(ctx, jl, outDir)
		// translate's message for a line DuckDB's reader could not parse.
		if err == nil || !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), ": malformed JSON: ") {
			return res, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(outDir), 0o700); err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(outDir), "json-*.jsonl")
	if err != nil {
		return nil, errs.E(op, errs.Internal, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	doc, err := transcodeJSON(ctx, in.Path, bw, c.opts.MaxLineBytes, nil)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(outDir)
		if ctx.Err() != nil {
			return nil, ctxErr(ctx, err)
		}
		if e := (*errs.Error)(nil); errors.As(err, &e) {
			return nil, err
		}
		return nil, errs.E(op, errs.Internal, err)
	}
	if doc.count == 0 {
		os.RemoveAll(outDir)
		return nil, errs.E(op, errs.Invalid, "the JSON array is empty (no data rows)")
	}
	res, err := c.convert(ctx, Input{Path: tmp.Name(), Format: JSONL, Schema: in.Schema}, outDir)
	if err != nil {
		return nil, relocateJSON(ctx, in.Path, doc.layout, c.opts.MaxLineBytes, err)
	}
	res.Format = JSON
	return res, nil
}

var reJSONLLine = regexp.MustCompile(`\bline (\d+)(, byte \d+)?`)

// relocateJSON rewrites the "line N" of an Invalid error about the JSONL
// rewrite of path (line N holds element N) as the element and the line of
// path where it starts.
func relocateJSON(ctx context.Context, path, layout string, maxElem int, err error) error {
	if !errs.Is(err, errs.Invalid) {
		return err
	}
	msg := errs.Message(err)
	ms := reJSONLLine.FindAllStringSubmatch(msg, -1)
	if len(ms) == 0 {
		return err
	}
	lines := map[int]int{}
	for _, m := range ms {
		n, _ := strconv.Atoi(m[1])
		lines[n] = 0
	}
	wanted := make([]int, 0, len(lines))
	for n := range lines {
		wanted = append(wanted, n)
	}
	sort.Ints(wanted)
	last := wanted[len(wanted)-1]
	// Read again only as far as the last element named.
	transcodeJSON(ctx, path, nil, maxElem, func(n, line int) bool {
		if _, ok := lines[n]; ok {
			lines[n] = line
		}
		return n < last
	})
	what := "object"
	if layout == layoutArray {
		what = "array element"
	}
	out := reJSONLLine.ReplaceAllStringFunc(msg, func(s string) string {
		m := reJSONLLine.FindStringSubmatch(s)
		n, _ := strconv.Atoi(m[1])
		if l := lines[n]; l > 0 {
			return fmt.Sprintf("%s %d at line %d", what, n, l)
		}
		return fmt.Sprintf("%s %d", what, n)
	})
	return errs.E("ingest", errs.Invalid, out)
}
