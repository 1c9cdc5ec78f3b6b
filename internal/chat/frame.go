package chat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one NDJSON line or SSE line read from an upstream or
// from chatd (a single chunk is a few hundred bytes; a non-streamed answer
// in one line can be long).
const MaxLine = 8 << 20

// ErrLineTooLong is LineReader's error for a line over its limit: the
// peer broke the protocol (it is no transport failure; errors.Is finds it).
var ErrLineTooLong = errors.New("line too long")

// ErrEventTooLong is SSEReader's error for an event whose data lines
// together pass MaxLine (ADR-107): an upstream that sent "data:" lines
// without the blank line that ends an event made chatd hold every line
// of it, without bound. errors.Is finds ErrLineTooLong in it too.
var ErrEventTooLong = fmt.Errorf("%w: an event's data lines together are longer than %d bytes", ErrLineTooLong, MaxLine)

// LineReader reads '\n'-terminated lines (a trailing "\r" is dropped) of at
// most max bytes without buffering more than one line. The SSE reader's
// LineReader also ends a line at a bare '\r' (anyEOL).
type LineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
	// anyEOL: lines end with "\r\n", "\n" or "\r" (the event-stream
	// rule); skipLF: the last line ended with "\r", so a "\n" that
	// follows belongs to it.
	anyEOL, skipLF bool
}

// NewLineReader reads lines from r.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(r, 16<<10), max: max}
}

// Line returns the next line without its terminator; valid until the next
// call. A last line without "\n" is returned before io.EOF.
func (l *LineReader) Line() ([]byte, error) {
	if l.anyEOL {
		return l.eventLine()
	}
	l.buf = l.buf[:0]
	for {
		frag, err := l.br.ReadSlice('\n')
		if len(l.buf)+len(frag) > l.max {
			return nil, fmt.Errorf("%w: longer than %d bytes", ErrLineTooLong, l.max)
		}
		switch {
		case err == nil:
			var line []byte
			if len(l.buf) == 0 {
				line = frag
			} else {
				l.buf = append(l.buf, frag...)
				line = l.buf
			}
			line = line[:len(line)-1]
			return bytes.TrimSuffix(line, []byte{'\r'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			l.buf = append(l.buf, frag...)
		case errors.Is(err, io.EOF):
			l.buf = append(l.buf, frag...)
			if len(l.buf) > 0 {
				return bytes.TrimSuffix(l.buf, []byte{'\r'}), nil
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// eventLine is Line for an event stream: a line ends at "\r\n", "\n" or a
// bare "\r" (WHATWG's end-of-line rule; a CR-only stream was one endless
// line before). The "\n" of a "\r\n" split across reads is found at the
// start of the next call, so a line is returned as soon as its "\r" came.
func (l *LineReader) eventLine() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		if l.br.Buffered() == 0 {
			if _, err := l.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) && len(l.buf) > 0 {
					return l.buf, nil // a last line without its end
				}
				return nil, err
			}
		}
		if l.skipLF {
			l.skipLF = false
			if b, _ := l.br.Peek(1); b[0] == '\n' {
				l.br.Discard(1)
				continue
			}
		}
		b, _ := l.br.Peek(l.br.Buffered())
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			i = len(b)
		}
		if len(l.buf)+i > l.max {
			return nil, fmt.Errorf("%w: longer than %d bytes", ErrLineTooLong, l.max)
		}
		if i == len(b) {
			l.buf = append(l.buf, b...)
			l.br.Discard(i)
			continue
		}
		line := b[:i]
		if len(l.buf) > 0 {
			l.buf = append(l.buf, line...)
			line = l.buf
		}
		l.skipLF = b[i] == '\r'
		l.br.Discard(i + 1)
		return line, nil
	}
}

// SSEReader parses a text/event-stream (the WHATWG rules the openai
// libraries follow): lines end with CRLF, LF or a bare CR; "data:" lines
// (one optional space after the colon) joined by "\n" until a blank line;
// comments (": keep-alive", OpenRouter's ": OPENROUTER PROCESSING") and
// event/id/retry fields are skipped.
type SSEReader struct {
	lr   *LineReader
	data []byte
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	lr := NewLineReader(r, MaxLine)
	lr.anyEOL = true
	return &SSEReader{lr: lr}
}

// Next returns the data of the next event with data; io.EOF at the end.
// The slice is valid until the next call.
func (s *SSEReader) Next() ([]byte, error) {
	s.data = s.data[:0]
	have := false
	for {
		line, err := s.lr.Line()
		if err != nil {
			if errors.Is(err, io.EOF) && have {
				return s.data, nil
			}
			return nil, err
		}
		if len(line) == 0 {
			if have {
				return s.data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		if string(field) != "data" {
			continue
		}
		if len(s.data)+1+len(value) > MaxLine {
			return nil, ErrEventTooLong
		}
		if have {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		have = true
	}
}

// SSEDone is the data of the last event of an OpenAI stream.
var SSEDone = []byte("[DONE]")

// AppendSSE appends "data: <data>\n\n" to dst.
func AppendSSE(dst, data []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}
