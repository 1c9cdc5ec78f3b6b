package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// span is a [start, end) range of a head buffer.
type span struct{ s, e int32 }

func (s span) of(b []byte) []byte { return b[s.s:s.e] }
func (s span) ok() bool           { return s.e > s.s }

type hfield struct{ k, v span }

// reqHead is a parsed request head; every span points into raw, which
// holds the head's bytes exactly as read (for a hand-off to net/http).
type reqHead struct {
	raw     []byte
	fields  []hfield
	method  string // one of fastMethods
	target  span   // request-target (origin form)
	path    span   // its path
	host    span
	reqID   span
	authz   span
	xff     []span
	conn    []span // Connection tokens (lower-cased in place? no: compared case-insensitively)
	cl      int64  // Content-Length; -1 chunked; 0 none
	chunked bool
	hasCL   bool
	close   bool
	expect  bool // Expect: 100-continue
	handoff bool // serve this request with net/http instead
	// badEscape is the first malformed %-escape of the path ("%ZZ", a
	// "%" without two hex digits): net/http would refuse the target with
	// its own plain-text 400 before any handler runs; the fast path
	// answers DESIGN.md's JSON error body instead.
	badEscape span
	// max bounds the head's bytes ([gateway].max_header_bytes; 0 =
	// maxHeadBytes): set once per connection, kept by reset.
	max int
}

func (h *reqHead) reset() {
	h.raw = h.raw[:0]
	h.fields = h.fields[:0]
	h.xff = h.xff[:0]
	h.conn = h.conn[:0]
	h.method = ""
	h.target, h.path, h.host, h.reqID, h.authz, h.badEscape = span{}, span{}, span{}, span{}, span{}, span{}
	h.cl, h.chunked, h.hasCL, h.close, h.expect, h.handoff = 0, false, false, false, false, false
}

// headError is a malformed head: answered with status and the connection closed.
type headError struct {
	status int
	reason string
}

func (e *headError) Error() string { return e.reason }

func badHead(reason string) error { return &headError{400, reason} }

var errHeadTooLarge = &headError{431, ""}

// readLine appends one line (with its line ending) to raw and returns the
// span of its content without the ending.
func (h *reqHead) readLine(br *bufio.Reader) (span, error) {
	max := h.max
	if max == 0 {
		max = maxHeadBytes
	}
	return readHeadLine(br, &h.raw, errHeadTooLarge, 0, max)
}

// readHeadLine appends one line of a message head (with its ending) to
// *raw and returns the span of its content without the ending. A head over
// max bytes is tooLarge; EOF after more than partialFrom bytes of raw is
// io.ErrUnexpectedEOF.
func readHeadLine(br *bufio.Reader, raw *[]byte, tooLarge error, partialFrom, max int) (span, error) {
	start := len(*raw)
	for {
		b, err := br.ReadSlice('\n')
		if len(*raw)+len(b) > max {
			return span{}, tooLarge
		}
		*raw = append(*raw, b...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(*raw) > partialFrom {
				err = io.ErrUnexpectedEOF
			}
			return span{}, err
		}
		end := len(*raw) - 1
		if end > start && (*raw)[end-1] == '\r' {
			end--
		}
		return span{int32(start), int32(end)}, nil
	}
}

var fastMethods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// pathOK: bytes a path may hold for the fast path to forward it unchanged
// and log it as net/http would (no escapes, nothing url.EscapedPath rewrites).
var pathOK, tokenOK, queryOK [256]bool

// hostOK: bytes a Host value may hold, net/http's own set
// (httpguts.ValidHostHeader): no "/" or "@", which a path may hold.
var hostOK [256]bool

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		pathOK[c] = alnum || bytes.IndexByte([]byte("-._~!$&'()*+,;=:@/"), b) >= 0
		tokenOK[c] = alnum || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), b) >= 0
		queryOK[c] = b > ' ' && b < 0x7f && b != '#'
		hostOK[c] = alnum || bytes.IndexByte([]byte("!$%&'()*+,-.:;=[]_~"), b) >= 0
	}
}

// readHead reads and checks one request head. A request the fast path
// does not serve natively comes back with handoff set (and may be only
// partly parsed: raw holds everything consumed). A malformed one is a
// *headError.
func ishex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (h *reqHead) readHead(br *bufio.Reader, route func([]byte) bool) error {
	h.reset()
	ln, err := h.readLine(br)
	if err != nil {
		return err
	}
	line := ln.of(h.raw)
	// METHOD SP target SP HTTP/1.1
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		h.handoff = true
		return nil
	}
	for _, m := range fastMethods {
		if string(line[:sp1]) == m {
			h.method = m
			break
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if h.method == "" || sp2 <= 0 || string(rest[sp2+1:]) != "HTTP/1.1" || rest[0] != '/' {
		h.handoff = true
		return nil
	}
	tgt := rest[:sp2]
	off := int32(ln.s) + int32(sp1) + 1
	pathEnd := len(tgt)
	// A path with a valid %-escape goes to net/http (it unescapes); one
	// with a malformed escape (and otherwise only plain bytes and valid
	// escapes) is answered here.
	handoff := false
	for i, c := range tgt {
		if c == '?' {
			pathEnd = i
			break
		}
		if pathOK[c] {
			continue
		}
		if c == '%' && !h.badEscape.ok() {
			if i+2 < len(tgt) && ishex(tgt[i+1]) && ishex(tgt[i+2]) {
				handoff = true
				continue
			}
			e := min(i+3, len(tgt))
			if q := bytes.IndexByte(tgt[i:e], '?'); q >= 0 {
				e = i + q
			}
			h.badEscape = span{off + int32(i), off + int32(e)}
			continue
		}
		if c != '%' {
			h.handoff = true
			return nil
		}
	}
	if handoff && !h.badEscape.ok() {
		h.handoff = true
		return nil
	}
	for _, c := range tgt[pathEnd:] {
		if !queryOK[c] {
			h.handoff = true
			return nil
		}
	}
	h.target = span{off, off + int32(sp2)}
	h.path = span{off, off + int32(pathEnd)}
	if !route(h.path.of(h.raw)) {
		h.handoff = true
		return nil
	}
	// Header fields.
	for {
		ln, err := h.readLine(br)
		if err != nil {
			return err
		}
		if !ln.ok() {
			break
		}
		line := ln.of(h.raw)
		if line[0] == ' ' || line[0] == '\t' {
			return badHead("obsolete line folding")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return badHead("malformed header line")
		}
		for _, c := range line[:colon] {
			if !tokenOK[c] {
				return badHead("invalid header name")
			}
		}
		vs, ve := colon+1, len(line)
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		if !ctlFree(line[vs:ve]) {
			return badHead("invalid header value")
		}
		f := hfield{span{ln.s, ln.s + int32(colon)}, span{ln.s + int32(vs), ln.s + int32(ve)}}
		h.fields = append(h.fields, f)
		if err := h.special(f); err != nil {
			return err
		}
	}
	if !h.host.ok() {
		return badHead("missing required Host header")
	}
	if h.chunked && h.hasCL {
		return badHead("both Content-Length and Transfer-Encoding")
	}
	if h.chunked {
		h.cl = -1
	}
	return nil
}

// eqFold reports whether a equals b, ASCII letters of a folded to lower
// case; b is lower-case ASCII (a literal). Inlined: a name of another
// length costs a compare.
func eqFold(a []byte, b string) bool { return len(a) == len(b) && eqFoldSame(a, b) }

// eqFoldSame is eqFold for a and b of one length. Eight bytes at a time
// (the last word overlapping the one before it): a word of a matches when
// it differs from b's only in the case bit (0x20) of b's letters.
func eqFoldSame(a []byte, b string) bool {
	n := len(a)
	if n < 8 || len(b) != n {
		for i := 0; i < n; i++ {
			x := a[i]
			if 'A' <= x && x <= 'Z' {
				x += 'a' - 'A'
			}
			if x != b[i] {
				return false
			}
		}
		return true
	}
	for i := 0; i < n; i += 8 {
		j := min(i, n-8)
		x := binary.LittleEndian.Uint64(a[j : j+8])
		y := le64(b[j : j+8])
		// 0x20 in each byte of y that is 'a'..'z' (no carry between bytes:
		// every byte of y is below 0x80).
		letters := ((y + lo*(0x80-'a')) &^ (y + lo*(0x80-'z'-1)) & hi) >> 2
		if (x^y)&^letters != 0 {
			return false
		}
	}
	return true
}

const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// le64 is s's first eight bytes as a little-endian word.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// ctlFree reports whether a field value holds no control byte but HTAB
// and no DEL (RFC 9110 5.5). Eight bytes at a time (the last word
// overlapping the one before it): a word with no byte below 0x20 and none
// 0x7f passes whole; a value with such a word is looked at a byte at a
// time (a tab is allowed).
func ctlFree(v []byte) bool {
	n := len(v)
	if n < 8 {
		return ctlFreeBytes(v)
	}
	for i := 0; i < n; i += 8 {
		j := min(i, n-8)
		x := binary.LittleEndian.Uint64(v[j : j+8])
		d := x ^ lo*0x7f // a 0 byte where x has DEL
		if (x-lo*0x20)&^x&hi != 0 || (d-lo)&^d&hi != 0 {
			return ctlFreeBytes(v)
		}
	}
	return true
}

func ctlFreeBytes(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func (h *reqHead) special(f hfield) error {
	k, v := f.k.of(h.raw), f.v.of(h.raw)
	switch len(k) {
	case 4:
		if eqFold(k, "host") {
			if h.host.ok() {
				return badHead("too many Host headers")
			}
			if len(v) == 0 {
				return badHead("invalid Host header")
			}
			for _, c := range v {
				if !hostOK[c] {
					return badHead("invalid Host header")
				}
			}
			h.host = f.v
		}
	case 6:
		if eqFold(k, "expect") {
			if !eqFold(v, "100-continue") {
				h.handoff = true // net/http answers 417
			}
			h.expect = true
		}
	case 7:
		if eqFold(k, "upgrade") {
			h.handoff = true
		}
	case 10:
		if eqFold(k, "connection") {
			h.conn = appendTokens(h.conn, h.raw, f.v)
			for _, t := range h.conn {
				if tok := t.of(h.raw); eqFold(tok, "close") {
					h.close = true
				} else if eqFold(tok, "upgrade") {
					h.handoff = true
				}
			}
		}
	case 12:
		if eqFold(k, "x-request-id") && !h.reqID.ok() {
			h.reqID = f.v
		}
	case 13:
		if eqFold(k, "authorization") && !h.authz.ok() {
			h.authz = f.v
		}
	case 14:
		if eqFold(k, "content-length") {
			if h.hasCL {
				return badHead("multiple Content-Length headers")
			}
			if len(v) == 0 || len(v) > 18 {
				return badHead("bad Content-Length")
			}
			var n int64
			for _, c := range v {
				if c < '0' || c > '9' {
					return badHead("bad Content-Length")
				}
				n = n*10 + int64(c-'0')
			}
			h.hasCL, h.cl = true, n
		}
	case 15:
		if eqFold(k, "x-forwarded-for") {
			h.xff = append(h.xff, f.v)
		}
	case 17:
		if eqFold(k, "transfer-encoding") {
			if h.chunked {
				return badHead("multiple Transfer-Encoding headers")
			}
			if !eqFold(v, "chunked") {
				return &headError{501, "unsupported transfer encoding"}
			}
			h.chunked = true
		}
	}
	return nil
}

// skipFwd reports request headers not forwarded as they came: hop-by-hop
// ones, Expect (writeUpstream forwards a 100-continue itself), and those
// the proxy writes itself.
func skipFwd(k []byte) bool {
	switch len(k) {
	case 4:
		return eqFold(k, "host")
	case 6:
		return eqFold(k, "expect")
	case 15:
		return eqFold(k, "x-forwarded-for")
	case 20:
		return eqFold(k, "x-lakehouse-redirect") // storaged's same-host offer (internalHeader)
	}
	return skipBack(k)
}

// skipBack reports response headers not copied back as they came.
func skipBack(k []byte) bool {
	switch len(k) {
	case 2:
		return eqFold(k, "te")
	case 7:
		return eqFold(k, "trailer") || eqFold(k, "upgrade")
	case 10:
		return eqFold(k, "connection") || eqFold(k, "keep-alive")
	case 12:
		return eqFold(k, "x-request-id")
	case 14:
		return eqFold(k, "content-length")
	case 16:
		return eqFold(k, "proxy-connection")
	case 17:
		return eqFold(k, "transfer-encoding")
	case 18:
		return eqFold(k, "proxy-authenticate")
	case 19:
		return eqFold(k, "proxy-authorization")
	}
	return false
}

func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// respHead is a parsed upstream response head.
type respHead struct {
	raw     []byte
	fields  []hfield
	status  int
	cl      int64 // -1 unknown
	chunked bool
	close   bool
	sse     bool
	conn    []span
}

var errBadResponse = errors.New("malformed response from upstream")

func (r *respHead) readLine(br *bufio.Reader) (span, error) {
	return readHeadLine(br, &r.raw, errBadResponse, len(r.raw), maxHeadBytes)
}

// read parses a response head, skipping 1xx interim answers. first reports
// whether any byte came (a stale keep-alive connection yields none).
func (r *respHead) read(br *bufio.Reader) (gotBytes bool, err error) {
	return r.readUntil(br, false)
}

// readContinue is read for the daemon's first answer to a request sent
// with Expect: 100-continue: it stops at a 100 Continue (status 100, the
// body is to be sent) or at a final answer (the daemon refused the body);
// other interim answers (103) are skipped as read skips them.
func (r *respHead) readContinue(br *bufio.Reader) (gotBytes bool, err error) {
	return r.readUntil(br, true)
}

func (r *respHead) readUntil(br *bufio.Reader, stop100 bool) (gotBytes bool, err error) {
	interim := 0
	for {
		r.raw, r.fields, r.conn = r.raw[:0], r.fields[:0], r.conn[:0]
		r.status, r.cl, r.chunked, r.close, r.sse = 0, -1, false, false, false
		ln, err := r.readLine(br)
		if len(r.raw) > 0 {
			gotBytes = true
		}
		if err != nil {
			return gotBytes, err
		}
		line := ln.of(r.raw)
		if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return true, errBadResponse
		}
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return true, errBadResponse
			}
			r.status = r.status*10 + int(c-'0')
		}
		if r.status < 100 {
			return true, errBadResponse
		}
		if line[7] == '0' {
			r.close = true
		}
		for {
			ln, err := r.readLine(br)
			if err != nil {
				return true, err
			}
			if !ln.ok() {
				break
			}
			line := ln.of(r.raw)
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return true, errBadResponse
			}
			vs, ve := colon+1, len(line)
			for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
				vs++
			}
			for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
				ve--
			}
			if !ctlFree(line[vs:ve]) {
				return true, errBadResponse
			}
			f := hfield{span{ln.s, ln.s + int32(colon)}, span{ln.s + int32(vs), ln.s + int32(ve)}}
			r.fields = append(r.fields, f)
			k, v := line[:colon], line[vs:ve]
			switch {
			case eqFold(k, "content-length"):
				var n int64
				if len(v) == 0 || len(v) > 18 {
					return true, errBadResponse
				}
				for _, c := range v {
					if c < '0' || c > '9' {
						return true, errBadResponse
					}
					n = n*10 + int64(c-'0')
				}
				if r.cl >= 0 && r.cl != n {
					return true, errBadResponse
				}
				r.cl = n
			case eqFold(k, "transfer-encoding"):
				if !eqFold(v, "chunked") {
					return true, errBadResponse
				}
				r.chunked = true
			case eqFold(k, "connection"):
				r.conn = appendTokens(r.conn, r.raw, f.v)
				for _, t := range r.conn {
					if eqFold(t.of(r.raw), "close") {
						r.close = true
					}
				}
			case eqFold(k, "content-type"):
				r.sse = len(v) >= 17 && eqFold(v[:17], "text/event-stream")
			default:
				// A field name is a token (RFC 9110 5.1): "Content-Length : 5"
				// or a NUL in a name was relayed to the client as it came.
				// The names matched above are tokens themselves (eqFold
				// folds letters only): only the others are looked at.
				for _, c := range k {
					if !tokenOK[c] {
						return true, errBadResponse
					}
				}
			}
		}
		if r.status == 101 {
			// The gateway never forwards Upgrade: a switch it did not ask
			// for leaves the connection speaking something else (was
			// relayed to the client as the answer, the connection pooled).
			return true, errBadResponse
		}
		if r.status == 100 && stop100 {
			return true, nil
		}
		if r.status >= 100 && r.status < 200 {
			if interim++; interim > maxInterim {
				return true, errBadResponse
			}
			continue // interim answer: the real one follows
		}
		if r.chunked {
			if r.cl >= 0 {
				// Both framings (RFC 9112 6.3): relayed by the chunks, its
				// Content-Length dropped, but the daemon may have meant the
				// length: what follows on the connection is not trusted.
				r.close = true
			}
			r.cl = -1
		}
		return true, nil
	}
}

func nominated(raw []byte, conn []span, k []byte) bool {
	for _, t := range conn {
		if equalFold(t.of(raw), k) {
			return true
		}
	}
	return false
}

// readTrailers consumes a chunked body's trailer section. With keep set,
// the trailer fields are appended to dst as "Name: value\r\n" lines, to
// be written after the client's last chunk (queryd's X-Row-Count and
// X-Truncated); fields that are malformed or that may not be trailers
// (framing, routing, hop-by-hop) are dropped. A request's trailers are
// discarded (keep false), as the net/http path does — but each must be a
// field line (RFC 9112 7.1.2), or the body is malformed: a request line
// after a last chunk whose final CRLF was left out was swallowed as a
// trailer, where net/http and the daemons refuse the body.
func readTrailers(br *bufio.Reader, dst []byte, keep bool) ([]byte, error) {
	n := 0
	long := false // inside a line longer than the buffer: not kept
	for {
		b, err := br.ReadSlice('\n')
		n += len(b)
		if n > maxHeadBytes {
			return dst, errors.New("trailer section too large")
		}
		if err == bufio.ErrBufferFull {
			if !keep {
				return dst, errBadTrailer
			}
			long = true
			continue
		}
		if err != nil {
			return dst, err
		}
		if !long && len(b) <= 2 && (len(b) == 1 || b[0] == '\r') {
			return dst, nil
		}
		if keep && !long {
			dst = appendTrailer(dst, b)
		} else if !keep && !fieldLine(b) {
			return dst, errBadTrailer
		}
		long = false
	}
}

var errBadTrailer = errors.New("malformed trailer section")

// fieldLine reports whether line (with its LF or CRLF) is a field line:
// a token, a colon, a value without control characters but tab.
func fieldLine(line []byte) bool {
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range line[:colon] {
		if !tokenOK[c] {
			return false
		}
	}
	for _, c := range line[colon+1:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// appendTrailer appends one trailer line (with its line end) to dst as
// "Name: value\r\n" when it is a well-formed field a trailer may carry.
func appendTrailer(dst, line []byte) []byte {
	line = bytes.TrimRight(line, "\r\n")
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return dst
	}
	k, v := line[:colon], bytes.Trim(line[colon+1:], " \t")
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || c == '/' || c == ':' || c == ';' || c == '<' || c == '=' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' || c == ']' || c == '{' || c == '}' {
			return dst
		}
	}
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return dst
		}
	}
	if skipFwd(k) || eqFold(k, "authorization") || eqFold(k, "content-type") || eqFold(k, "content-encoding") ||
		eqFold(k, "content-range") || eqFold(k, "set-cookie") || eqFold(k, "location") {
		return dst
	}
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, v...)
	return append(dst, "\r\n"...)
}

// appendTokens appends the spans of the comma-separated tokens of raw[v].
func appendTokens(dst []span, raw []byte, v span) []span {
	i := v.s
	for i < v.e {
		for i < v.e && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == ',') {
			i++
		}
		s := i
		for i < v.e && raw[i] != ',' {
			i++
		}
		e := i
		for e > s && (raw[e-1] == ' ' || raw[e-1] == '\t') {
			e--
		}
		if e > s {
			dst = append(dst, span{s, e})
		}
	}
	return dst
}
