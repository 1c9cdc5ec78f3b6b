package vector

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// strictText wraps a JSON request body so that reading it fails, at the
// first offending byte, when the body is not valid UTF-8 or a string in it
// has an unpaired UTF-16 surrogate escape (\ud800 without a low surrogate
// after it, or a low one alone). encoding/json turns both silently into
// U+FFFD, so the ids "a\xff" and "a\xfe" (or "\ud800" and "\udbff") were
// one id: the second upsert replaced the first, and a filter on one
// matched the other. Qdrant (serde_json) refuses both.
//
// The check streams (a body may be 256 MiB): a byte-level state machine
// carrying an incomplete UTF-8 sequence and the escape state across reads.
func strictText(r io.Reader) io.Reader { return &textChecker{r: r} }

type textChecker struct {
	r       io.Reader
	off     int64   // bytes checked so far
	pend    [4]byte // an incomplete UTF-8 sequence at the end of the last read
	npend   int
	inStr   bool
	esc     bool  // after a backslash in a string
	hexLeft int   // hex digits of a \u escape still to read
	hexVal  rune  // the \u escape's value so far
	wantLow bool  // a high surrogate escape was the last thing in the string
	lowAt   int64 // where that high surrogate escape began
	err     error
}

func (c *textChecker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if cerr := c.check(p[:n]); cerr != nil {
		c.err = cerr
		return 0, cerr
	}
	if err == io.EOF && c.npend > 0 {
		c.err = fmt.Errorf("invalid UTF-8 at byte %d (a cut multi-byte character): ids, metadata and filter values must be valid Unicode", c.off-int64(c.npend))
		return 0, c.err
	}
	return n, err
}

func (c *textChecker) check(b []byte) error {
	for i := 0; i < len(b); {
		if c.npend == 0 && !c.esc && c.hexLeft == 0 && !c.wantLow {
			// Fast path: ASCII other than a quote or a backslash changes
			// no state.
			j := i
			for j < len(b) {
				if x := b[j]; x >= utf8.RuneSelf || x == '"' || x == '\\' {
					break
				}
				j++
			}
			c.off += int64(j - i)
			if i = j; i == len(b) {
				break
			}
		}
		if c.npend > 0 || b[i] >= utf8.RuneSelf {
			// Complete the sequence from pend plus the bytes of b.
			var buf [4]byte
			k := copy(buf[:], c.pend[:c.npend])
			k += copy(buf[k:], b[i:])
			start := c.off - int64(c.npend)
			if !utf8.FullRune(buf[:k]) {
				copy(c.pend[c.npend:], b[i:])
				c.npend = k
				c.off += int64(len(b) - i)
				return nil
			}
			r, size := utf8.DecodeRune(buf[:k])
			if r == utf8.RuneError && size <= 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d: ids, metadata and filter values must be valid Unicode", start)
			}
			used := size - c.npend
			c.npend = 0
			i += used
			c.off += int64(used)
			if err := c.text(r, start); err != nil {
				return err
			}
			continue
		}
		if err := c.text(rune(b[i]), c.off); err != nil {
			return err
		}
		i++
		c.off++
	}
	return nil
}

// text advances the JSON string and escape state by one character at off.
func (c *textChecker) text(r rune, off int64) error {
	switch {
	case c.hexLeft > 0:
		var d rune
		switch {
		case r >= '0' && r <= '9':
			d = r - '0'
		case r >= 'a' && r <= 'f':
			d = r - 'a' + 10
		case r >= 'A' && r <= 'F':
			d = r - 'A' + 10
		default:
			c.hexLeft = 0 // not JSON: the decoder says so
			return nil
		}
		c.hexVal = c.hexVal<<4 | d
		if c.hexLeft--; c.hexLeft > 0 {
			return nil
		}
		v := c.hexVal
		switch {
		case v >= 0xDC00 && v <= 0xDFFF:
			if !c.wantLow {
				return fmt.Errorf("unpaired UTF-16 surrogate \\u%04x at byte %d: ids, metadata and filter values must be valid Unicode", v, off-5)
			}
			c.wantLow = false
		case v >= 0xD800 && v <= 0xDBFF:
			if c.wantLow {
				return c.unpaired()
			}
			c.wantLow, c.lowAt = true, off-5
			c.hexVal = v // kept for the message
		default:
			if c.wantLow {
				return c.unpaired()
			}
		}
	case c.esc:
		c.esc = false
		if r == 'u' {
			c.hexLeft, c.hexVal = 4, 0
			return nil
		}
		if c.wantLow {
			return c.unpaired()
		}
	case c.inStr:
		switch r {
		case '\\':
			c.esc = true
			return nil
		case '"':
			c.inStr = false
		}
		if c.wantLow {
			return c.unpaired()
		}
	case r == '"':
		c.inStr = true
	}
	return nil
}

func (c *textChecker) unpaired() error {
	return fmt.Errorf("unpaired UTF-16 surrogate escape at byte %d: ids, metadata and filter values must be valid Unicode", c.lowAt)
}
