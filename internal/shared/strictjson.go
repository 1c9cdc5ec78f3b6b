package shared

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// StrictJSONError is a JSON text refused by StrictJSON: what was wrong
// and the byte offset (from the start of the text) where it begins.
type StrictJSONError struct {
	Offset int64
	Reason string // the message, offset included
	// Trailing is set for data after the top-level value.
	Trailing bool
}

func (e *StrictJSONError) Error() string { return e.Reason }

// Message words e for the caller of an HTTP API, as JSONDecodeMessage
// words encoding/json's errors.
func (e *StrictJSONError) Message() string {
	if e.Trailing {
		return "request body has data after the JSON value (" + e.Reason + ")"
	}
	return "request body is not valid JSON: " + e.Reason
}

// StrictJSON wraps a reader of one JSON text (a request body) so that
// reading fails, with a *StrictJSONError, at the first place where the
// text has
//   - invalid UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems
//     is UTF-8), or a string with an unpaired UTF-16 surrogate escape
//     ("\ud800" alone): encoding/json replaces both with U+FFFD, so a
//     Latin-1 "café" was stored changed and "a\xff" equalled "a\xfe";
//   - an object with the same key twice, at any depth, after escapes are
//     decoded ({"sql":"SELECT 1","sql":"DROP ..."}): encoding/json takes
//     the last, an intermediary reading the first sees another request;
//   - a UTF-8 byte order mark before the text (RFC 8259 forbids sending
//     one and lets a parser ignore it; serde_json, so Qdrant, JSON.parse
//     and encoding/json refuse it, and so does this, with a message that
//     says what it is);
//   - anything but white space after the top-level value.
//
// Syntax errors are left to the decoder reading through the wrapper: at
// the first one the check stops and passes the rest through, so the
// decoder's own message names it. The check streams (no second copy of
// the body): a state machine carried across reads, which holds only the
// keys of the objects still open.
func StrictJSON(r io.Reader) io.Reader { return &strictReader{r: r} }

// StrictJSONFor is StrictJSON for a text that decodes into v (a pointer):
// it also refuses, in an object that fills a struct, a key that is not a
// field's name but equals one but for case ({"SQL":...} for "sql"), which
// encoding/json takes for the field.
func StrictJSONFor(r io.Reader, v any) io.Reader {
	return &strictReader{r: r, c: jsonChecker{next: reflect.TypeOf(v)}}
}

// CheckJSON runs StrictJSON's check over b: nil when b has none of its
// faults (b may still be malformed JSON: a decoder says so).
func CheckJSON(b []byte) error {
	var c jsonChecker
	return c.check(b)
}

type strictReader struct {
	r   io.Reader
	c   jsonChecker
	err error
}

func (s *strictReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if cerr := s.c.check(p[:n]); cerr != nil {
		s.err = cerr
		return 0, cerr
	}
	return n, err
}

// Checker states.
const (
	jsValue    = iota // a value is wanted
	jsArrFirst        // after '[': a value or ']'
	jsObjFirst        // after '{': a key or '}'
	jsObjKey          // after ',' in an object: a key
	jsColon           // after a key: ':'
	jsAfter           // after a value inside a container: ',' or its end
	jsTrail           // after the top-level value: white space only
	jsStr             // inside a string
	jsEsc             // after a backslash in a string
	jsHex             // inside the 4 hex digits of \u
	jsLowBS           // after a high surrogate escape: '\' of the low one
	jsLowU            // 'u' of the low one
	jsMinus           // number: after '-'
	jsZero            // number: after a leading 0
	jsInt             // number: integer digits
	jsDot             // number: after '.'
	jsFrac            // number: fraction digits
	jsE               // number: after 'e'
	jsESign           // number: after the exponent's sign
	jsExp             // number: exponent digits
	jsLit             // inside true, false or null
	jsBOM             // inside a leading EF BB BF
	jsDead            // after a syntax error: no more checking
)

// maxDepth is encoding/json's nesting limit: past it the decoder fails,
// so the check stops instead of growing its stack.
const maxDepth = 10000

// manyKeys: an object with more keys than this gets a hash set; smaller
// ones are scanned.
const manyKeys = 16

type jsonFrame struct {
	obj   bool
	idx   int64            // arrays: the element's index
	keys0 int              // objects: index of the first key in keyEnd
	set   map[uint64]int32 // objects with many keys: hash -> key index
	// typ is the Go type the container decodes into (pointers removed),
	// nil when unknown (an interface, a json.Unmarshaler, no target).
	typ reflect.Type
}

type jsonChecker struct {
	st    int
	off   int64 // bytes checked so far
	stack []jsonFrame

	inKey    bool  // the string is an object key
	strOff   int64 // where the string began
	pend     [4]byte
	npend    int   // an incomplete UTF-8 sequence at the end of a read
	hexLeft  int   // hex digits of \u still to read
	hexVal   rune  // the \u value so far
	high     rune  // a high surrogate waiting for its low one
	highOff  int64 // where that high surrogate's escape began
	escOff   int64 // where the current escape began
	lit      string
	bomN     int
	keyBuf   []byte // the (decoded) keys of the open objects
	keyEnd   []int  // end of each key in keyBuf
	keyStart int    // start of the key being read
	seed     maphash.Seed
	next     reflect.Type // the Go type of the value to come (nil: unknown)
}

// strPlain[b]: b inside a string changes nothing (printable ASCII other
// than '"' and '\').
var strPlain = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func (c *jsonChecker) fail(off int64, format string, a ...any) error {
	return &StrictJSONError{Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// afterValue is the state after a complete value.
func (c *jsonChecker) afterValue() int {
	if len(c.stack) == 0 {
		return jsTrail
	}
	return jsAfter
}

func (c *jsonChecker) push(obj bool) {
	if len(c.stack) >= maxDepth {
		c.st = jsDead
		return
	}
	t := container(c.next)
	c.stack = append(c.stack, jsonFrame{obj: obj, keys0: len(c.keyEnd), typ: t})
	if obj {
		c.st = jsObjFirst
	} else {
		c.st = jsArrFirst
		c.next = elem(t)
	}
}

func (c *jsonChecker) pop() {
	f := &c.stack[len(c.stack)-1]
	if f.obj {
		if f.keys0 == 0 {
			c.keyBuf = c.keyBuf[:0]
		} else {
			c.keyBuf = c.keyBuf[:c.keyEnd[f.keys0-1]]
		}
		c.keyEnd = c.keyEnd[:f.keys0]
		f.set = nil
	}
	c.stack = c.stack[:len(c.stack)-1]
	c.st = c.afterValue()
}

// startString is called at the opening quote at off.
func (c *jsonChecker) startString(off int64, key bool) {
	c.st, c.inKey, c.strOff = jsStr, key, off
	if key {
		c.keyStart = len(c.keyBuf)
	}
}

// endString is called after the closing quote.
func (c *jsonChecker) endString() error {
	if !c.inKey {
		c.st = c.afterValue()
		return nil
	}
	c.st = jsColon
	return c.addKey()
}

func (c *jsonChecker) keyAt(i int) []byte {
	s := 0
	if i > 0 {
		s = c.keyEnd[i-1]
	}
	return c.keyBuf[s:c.keyEnd[i]]
}

// addKey records the key just read in the innermost object, or fails when
// the object has it already.
func (c *jsonChecker) addKey() error {
	f := &c.stack[len(c.stack)-1]
	key := c.keyBuf[c.keyStart:]
	n := len(c.keyEnd) - f.keys0
	dup := false
	var h uint64
	if f.set != nil {
		h = maphash.Bytes(c.seed, key)
		if i, ok := f.set[h]; ok {
			dup = bytes.Equal(c.keyAt(int(i)), key)
			if !dup { // a hash collision: look at them all
				for j := f.keys0; j < len(c.keyEnd); j++ {
					if bytes.Equal(c.keyAt(j), key) {
						dup = true
						break
					}
				}
			}
		}
	} else {
		for j := f.keys0; j < len(c.keyEnd); j++ {
			if bytes.Equal(c.keyAt(j), key) {
				dup = true
				break
			}
		}
	}
	if dup {
		c.keyEnd = append(c.keyEnd, len(c.keyBuf)) // so the path names it
		path := c.path()
		return c.fail(c.strOff, "duplicate key %s at %s (byte %d): a key may appear once in an object", strconv.Quote(string(key)), path, c.strOff)
	}
	c.keyEnd = append(c.keyEnd, len(c.keyBuf))
	if err := c.member(f, key); err != nil {
		return err
	}
	switch {
	case f.set != nil:
		f.set[h] = int32(len(c.keyEnd) - 1)
	case n+1 > manyKeys:
		if c.seed == (maphash.Seed{}) {
			c.seed = maphash.MakeSeed()
		}
		f.set = make(map[uint64]int32, 2*manyKeys)
		for j := f.keys0; j < len(c.keyEnd); j++ {
			f.set[maphash.Bytes(c.seed, c.keyAt(j))] = int32(j)
		}
	}
	return nil
}

// member sets the type of the value of key (just added) in the object f,
// and refuses a key that differs from a field of f's struct only in case:
// encoding/json matches field names case-insensitively (so "SQL" and
// "\u017fql" set "sql", after or instead of "sql"); serde and OpenAI do
// not.
func (c *jsonChecker) member(f *jsonFrame, key []byte) error {
	c.next = nil
	switch {
	case f.typ == nil:
	case f.typ.Kind() == reflect.Map:
		c.next = f.typ.Elem()
	case f.typ.Kind() == reflect.Struct:
		fs := structFields(f.typ)
		if t, ok := fs.byName[string(key)]; ok {
			c.next = t
			return nil
		}
		for _, n := range fs.names {
			if bytes.EqualFold([]byte(n), key) {
				return c.fail(c.strOff, "key %s at %s (byte %d) is not a field: field names are case-sensitive (%q)", strconv.Quote(string(key)), c.path(), c.strOff, n)
			}
		}
	}
	return nil
}

// container is t without pointers when a JSON object or array decodes
// into it element by element; nil when encoding/json hands the value to
// t's own UnmarshalJSON (or t is an interface or unknown).
func container(t reflect.Type) reflect.Type {
	for hops := 0; t != nil && hops < 8; hops++ {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
			continue
		}
		if t.Implements(wireTyperType) {
			t = reflect.Zero(t).Interface().(StrictJSONWireTyper).StrictJSONWireType()
			continue
		}
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		switch t.Kind() {
		case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
			return t
		}
		return nil
	}
	return nil
}

// StrictJSONWireTyper is implemented (on the value) by a type whose
// UnmarshalJSON decodes its JSON as another type, so that StrictJSONFor
// checks the field names inside it as in that type (chat's bounded
// message lists decode as lists of their wire messages).
type StrictJSONWireTyper interface {
	StrictJSONWireType() reflect.Type
}

var wireTyperType = reflect.TypeFor[StrictJSONWireTyper]()

// elem is the type of an array's elements when it decodes into t.
func elem(t reflect.Type) reflect.Type {
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return t.Elem()
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

type fieldSet struct {
	byName map[string]reflect.Type
	names  []string
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// structFields are the JSON names of t's fields as encoding/json decodes
// them: tagged or Go names, "-" left out, embedded structs' fields
// promoted (a shallower name first).
func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string]reflect.Type{}}
	type level struct {
		t     reflect.Type
		depth int
	}
	seen := map[reflect.Type]bool{}
	depthOf := map[string]int{}
	queue := []level{{t, 0}}
	for len(queue) > 0 {
		lv := queue[0]
		queue = queue[1:]
		if seen[lv.t] {
			continue
		}
		seen[lv.t] = true
		for i := 0; i < lv.t.NumField(); i++ {
			sf := lv.t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous {
				bt := ft
				if bt.Kind() == reflect.Pointer {
					bt = bt.Elem()
				}
				if name == "" && bt.Kind() == reflect.Struct {
					queue = append(queue, level{bt, lv.depth + 1})
					continue
				}
				if !sf.IsExported() && bt.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if d, ok := depthOf[name]; ok && d <= lv.depth {
				continue // a shallower (or equal) field has the name
			}
			if _, ok := depthOf[name]; !ok {
				fs.names = append(fs.names, name)
			}
			depthOf[name] = lv.depth
			fs.byName[name] = ft
		}
	}
	v, _ := fieldCache.LoadOrStore(t, fs)
	return v.(*fieldSet)
}

// path is the JSONPath of the current position: $.a[3]["b c"].
func (c *jsonChecker) path() string {
	var sb strings.Builder
	sb.WriteString("$")
	for i := range c.stack {
		f := &c.stack[i]
		if !f.obj {
			sb.WriteString("[" + strconv.FormatInt(f.idx, 10) + "]")
			continue
		}
		// The object's current key is its last one.
		var last int
		if i+1 < len(c.stack) {
			last = c.stack[i+1].keys0 - 1
		} else {
			last = len(c.keyEnd) - 1
		}
		if last < f.keys0 {
			break
		}
		k := c.keyAt(last)
		if isIdent(k) {
			sb.WriteString("." + string(k))
		} else {
			sb.WriteString("[" + strconv.Quote(string(k)) + "]")
		}
	}
	return sb.String()
}

func isIdent(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for i, b := range k {
		if !(b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || i > 0 && b >= '0' && b <= '9') {
			return false
		}
	}
	return true
}

// text adds a string's decoded bytes to the key being read.
func (c *jsonChecker) text(b []byte) {
	if c.inKey {
		c.keyBuf = append(c.keyBuf, b...)
	}
}

func (c *jsonChecker) textRune(r rune) {
	if c.inKey {
		c.keyBuf = utf8.AppendRune(c.keyBuf, r)
	}
}

func (c *jsonChecker) unpaired(v rune, off int64) error {
	return c.fail(off, "unpaired UTF-16 surrogate escape \\u%04x at byte %d: a string must be valid Unicode", v, off)
}

// check advances over b, the next bytes of the text.
func (c *jsonChecker) check(b []byte) error {
	i := 0
	for i < len(b) {
		switch c.st {
		case jsDead:
			c.off += int64(len(b) - i)
			return nil

		case jsStr:
			if c.npend > 0 {
				// Complete the UTF-8 sequence cut by the last read.
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
					return c.fail(start, "invalid UTF-8 at byte %d: JSON text must be UTF-8", start)
				}
				c.text(buf[:size])
				used := size - c.npend
				c.npend = 0
				i += used
				c.off += int64(used)
				continue
			}
			j := i
			for j < len(b) && strPlain[b[j]] {
				j++
			}
			if j > i {
				c.text(b[i:j])
				c.off += int64(j - i)
				i = j
				if i == len(b) {
					return nil
				}
			}
			switch x := b[i]; {
			case x == '"':
				i++
				c.off++
				if err := c.endString(); err != nil {
					return err
				}
			case x == '\\':
				c.st, c.escOff = jsEsc, c.off
				i++
				c.off++
			case x < 0x20:
				c.st = jsDead
			default:
				if !utf8.FullRune(b[i:]) {
					c.npend = copy(c.pend[:], b[i:])
					c.off += int64(len(b) - i)
					return nil
				}
				r, size := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && size <= 1 {
					return c.fail(c.off, "invalid UTF-8 at byte %d: JSON text must be UTF-8", c.off)
				}
				c.text(b[i : i+size])
				i += size
				c.off += int64(size)
			}

		case jsEsc:
			x := b[i]
			var d byte
			switch x {
			case '"', '\\', '/':
				d = x
			case 'b':
				d = '\b'
			case 'f':
				d = '\f'
			case 'n':
				d = '\n'
			case 'r':
				d = '\r'
			case 't':
				d = '\t'
			case 'u':
				c.st, c.hexLeft, c.hexVal = jsHex, 4, 0
				i++
				c.off++
				continue
			default:
				c.st = jsDead
				continue
			}
			if c.inKey {
				c.keyBuf = append(c.keyBuf, d)
			}
			c.st = jsStr
			i++
			c.off++

		case jsHex:
			x := b[i]
			var d byte
			switch {
			case x >= '0' && x <= '9':
				d = x - '0'
			case x >= 'a' && x <= 'f':
				d = x - 'a' + 10
			case x >= 'A' && x <= 'F':
				d = x - 'A' + 10
			default:
				c.st = jsDead
				continue
			}
			c.hexVal = c.hexVal<<4 | rune(d)
			i++
			c.off++
			if c.hexLeft--; c.hexLeft > 0 {
				continue
			}
			v := c.hexVal
			switch {
			case v >= 0xDC00 && v <= 0xDFFF:
				if c.high == 0 {
					return c.unpaired(v, c.escOff)
				}
				c.textRune(0x10000 + (c.high-0xD800)<<10 + (v - 0xDC00))
				c.high = 0
				c.st = jsStr
			case v >= 0xD800 && v <= 0xDBFF:
				if c.high != 0 {
					return c.unpaired(c.high, c.highOff)
				}
				c.high, c.highOff = v, c.escOff
				c.st = jsLowBS
			default:
				if c.high != 0 {
					return c.unpaired(c.high, c.highOff)
				}
				c.textRune(v)
				c.st = jsStr
			}

		case jsLowBS:
			if b[i] != '\\' {
				if b[i] < 0x20 {
					c.st = jsDead // malformed first: the decoder says so
					continue
				}
				return c.unpaired(c.high, c.highOff)
			}
			c.st, c.escOff = jsLowU, c.off
			i++
			c.off++

		case jsLowU:
			if b[i] != 'u' {
				// \n and the like after a high surrogate: unpaired;
				// an invalid escape: malformed, the decoder says so.
				if strings.IndexByte(`"\/bfnrt`, b[i]) < 0 {
					c.st = jsDead
					continue
				}
				return c.unpaired(c.high, c.highOff)
			}
			c.st, c.hexLeft, c.hexVal = jsHex, 4, 0
			i++
			c.off++

		case jsInt, jsFrac, jsExp:
			j := i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			c.off += int64(j - i)
			if i = j; i == len(b) {
				return nil
			}
			switch x := b[i]; {
			case x == '.' && c.st == jsInt:
				c.st = jsDot
			case (x == 'e' || x == 'E') && c.st != jsExp:
				c.st = jsE
			default:
				c.st = c.afterValue() // the byte is looked at again
				continue
			}
			i++
			c.off++

		case jsZero:
			switch x := b[i]; {
			case x == '.':
				c.st = jsDot
			case x == 'e' || x == 'E':
				c.st = jsE
			default:
				c.st = c.afterValue()
				continue
			}
			i++
			c.off++

		case jsMinus, jsDot, jsESign:
			x := b[i]
			switch {
			case c.st == jsMinus && x == '0':
				c.st = jsZero
			case c.st == jsMinus && x >= '1' && x <= '9':
				c.st = jsInt
			case c.st == jsDot && x >= '0' && x <= '9':
				c.st = jsFrac
			case c.st == jsESign && x >= '0' && x <= '9':
				c.st = jsExp
			default:
				c.st = jsDead
				continue
			}
			i++
			c.off++

		case jsE:
			switch x := b[i]; {
			case x == '+' || x == '-':
				c.st = jsESign
			case x >= '0' && x <= '9':
				c.st = jsExp
			default:
				c.st = jsDead
				continue
			}
			i++
			c.off++

		case jsLit:
			if b[i] != c.lit[0] {
				c.st = jsDead
				continue
			}
			c.lit = c.lit[1:]
			i++
			c.off++
			if c.lit == "" {
				c.st = c.afterValue()
			}

		case jsBOM:
			if b[i] != "\xef\xbb\xbf"[c.bomN] {
				c.st = jsDead
				continue
			}
			i++
			c.off++
			if c.bomN++; c.bomN == 3 {
				return c.fail(0, "a UTF-8 byte order mark (EF BB BF) at byte 0: send JSON without one (RFC 8259 section 8.1)")
			}

		default: // between tokens
			x := b[i]
			if isSpace(x) {
				i++
				c.off++
				for i < len(b) && isSpace(b[i]) {
					i++
					c.off++
				}
				continue
			}
			if err := c.token(x); err != nil {
				return err
			}
			if c.st == jsDead {
				continue
			}
			i++
			c.off++
		}
	}
	return nil
}

// token handles x, not white space, at c.off between tokens.
func (c *jsonChecker) token(x byte) error {
	switch c.st {
	case jsTrail:
		return &StrictJSONError{Offset: c.off, Trailing: true, Reason: fmt.Sprintf("at byte %d", c.off)}
	case jsColon:
		if x != ':' {
			c.st = jsDead
			return nil
		}
		c.st = jsValue
		return nil
	case jsObjFirst, jsObjKey:
		switch {
		case x == '"':
			c.startString(c.off, true)
		case x == '}' && c.st == jsObjFirst:
			c.pop()
		default:
			c.st = jsDead
		}
		return nil
	case jsAfter:
		f := &c.stack[len(c.stack)-1]
		switch {
		case x == ',' && f.obj:
			c.st = jsObjKey
		case x == ',':
			f.idx++
			c.st = jsValue
			c.next = elem(f.typ)
		case x == '}' && f.obj, x == ']' && !f.obj:
			c.pop()
		default:
			c.st = jsDead
		}
		return nil
	}
	// jsValue, jsArrFirst
	switch {
	case x == '{':
		c.push(true)
	case x == '[':
		c.push(false)
	case x == '"':
		c.startString(c.off, false)
	case x == '-':
		c.st = jsMinus
	case x == '0':
		c.st = jsZero
	case x >= '1' && x <= '9':
		c.st = jsInt
	case x == 't':
		c.st, c.lit = jsLit, "rue"
	case x == 'f':
		c.st, c.lit = jsLit, "alse"
	case x == 'n':
		c.st, c.lit = jsLit, "ull"
	case x == ']' && c.st == jsArrFirst:
		c.pop()
	case x == 0xEF && c.off == 0:
		c.st, c.bomN = jsBOM, 1
	default:
		c.st = jsDead
	}
	return nil
}
