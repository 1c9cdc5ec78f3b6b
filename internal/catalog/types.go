package catalog

import (
	"fmt"
	"strconv"
	"strings"
)

// A column's type in a manifest is a DuckDB type expression as DuckDB
// prints it (DESCRIBE, which is where ingestd takes it from). ValidateType
// accepts a conservative grammar of them, case-insensitively:
//
//	type   = base { "[" [ n ] "]" }          (a list, or an array of n, 1 <= n <= 100000)
//	base   = simple | "TIMESTAMP WITH TIME ZONE" | "TIME WITH TIME ZONE"
//	       | "DECIMAL(" p "," s ")"             (1 <= p <= 38, 0 <= s <= p)
//	       | "STRUCT(" field { "," field } ")"  field = ident type
//	       | "MAP(" type "," type ")"
//	       | "GEOMETRY" [ "(" crs ")" ]         crs = 'OGC:CRS84' | 'OGC:CRS83'
//	ident  = [A-Za-z_][A-Za-z0-9_]* (not a keyword DuckDB refuses there)
//	       | "double-quoted, "" escapes"
//
// A STRUCT's field names are unique, ignoring ASCII case (as DuckDB's
// binder wants). Aliases (INT, TEXT, TIMESTAMPTZ, ...) are refused: DuckDB
// never prints them, and append compares types as text (schemaDiff).
// Every type accepted here is one DuckDB accepts in CREATE TABLE and in a
// cast (TestValidateTypeDuckDB, FuzzValidateTypeDuckDB): a manifest's types
// build queryd's view of an empty dataset, so a type DuckDB refuses would
// break every query of the dataset.

// Limits of a type expression.
const (
	maxTypeBytes = 64 << 10
	maxTypeDepth = 32
	maxArraySize = 100_000 // DuckDB: "ARRAY type size must be at most 100000"
)

// geometryCRS are the coordinate systems DuckDB knows without an extension
// (any other is a Binder Error unless the spatial extension is loaded,
// which queryd never does), as DuckDB prints them (it takes 'ogc:crs84' but
// not 'ogc:crs83').
var geometryCRS = map[string]bool{"OGC:CRS84": true, "OGC:CRS83": true}

// fieldKeywordsOK are the reserved words (ReservedWords) DuckDB still
// accepts as an unquoted STRUCT field name; every other reserved word must
// be double-quoted there.
var fieldKeywordsOK = map[string]bool{"columns": true, "generated": true, "map": true, "struct": true, "try_cast": true}

// simpleTypes are the DuckDB type names without parameters.
var simpleTypes = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`BOOLEAN TINYINT SMALLINT INTEGER BIGINT HUGEINT
		UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT FLOAT DOUBLE VARCHAR BLOB
		DATE TIME TIME_NS TIMESTAMP TIMESTAMP_NS TIMESTAMP_MS TIMESTAMP_S INTERVAL UUID
		JSON VARIANT GEOMETRY BIT BIGNUM VARINT`) {
		simpleTypes[t] = true
	}
}

// ValidateType checks that typ is a DuckDB type expression of the grammar
// above; the error says what is wrong and where.
func ValidateType(typ string) error {
	if len(typ) > maxTypeBytes {
		return fmt.Errorf("longer than %d bytes", maxTypeBytes)
	}
	p := &typeParser{s: typ}
	if err := p.typ(0); err != nil {
		return err
	}
	if tok := p.next(); tok.kind != tokEOF {
		return fmt.Errorf("unexpected %s at offset %d", tok, tok.pos)
	}
	return nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokNumber
	tokQuoted // "identifier"
	tokString // 'literal'
	tokPunct
	tokBad
)

type token struct {
	kind tokKind
	text string // the word (upper-cased), number, unquoted identifier/string, or punctuation
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of type"
	case tokBad:
		return "bad character " + strconv.Quote(t.text)
	case tokQuoted:
		return strconv.Quote(`"` + t.text + `"`)
	case tokString:
		return strconv.Quote("'" + t.text + "'")
	}
	return strconv.Quote(t.text)
}

type typeParser struct {
	s   string
	pos int
}

func isLetter(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// next returns the next token and moves past it.
func (p *typeParser) next() token {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.s) {
		return token{kind: tokEOF, pos: start}
	}
	c := p.s[p.pos]
	switch {
	case isLetter(c):
		for p.pos < len(p.s) && (isLetter(p.s[p.pos]) || isDigit(p.s[p.pos])) {
			p.pos++
		}
		return token{kind: tokWord, text: strings.ToUpper(p.s[start:p.pos]), pos: start}
	case isDigit(c):
		for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
			p.pos++
		}
		return token{kind: tokNumber, text: p.s[start:p.pos], pos: start}
	case c == '"' || c == '\'':
		var b strings.Builder
		p.pos++
		for p.pos < len(p.s) {
			d := p.s[p.pos]
			switch {
			case d == c && p.pos+1 < len(p.s) && p.s[p.pos+1] == c:
				b.WriteByte(c)
				p.pos += 2
			case d == c:
				p.pos++
				kind := tokQuoted
				if c == '\'' {
					kind = tokString
				}
				return token{kind: kind, text: b.String(), pos: start}
			case d < 0x20 || d == 0x7f:
				return token{kind: tokBad, text: string(d), pos: p.pos}
			default:
				b.WriteByte(d)
				p.pos++
			}
		}
		return token{kind: tokBad, text: string(c), pos: start} // unterminated
	case strings.IndexByte("()[],", c) >= 0:
		p.pos++
		return token{kind: tokPunct, text: string(c), pos: start}
	}
	return token{kind: tokBad, text: string(c), pos: start}
}

// peek returns the next token without moving past it.
func (p *typeParser) peek() token {
	save := p.pos
	t := p.next()
	p.pos = save
	return t
}

func (p *typeParser) expect(punct string) error {
	t := p.next()
	if t.kind != tokPunct || t.text != punct {
		return fmt.Errorf("expected %q at offset %d, found %s", punct, t.pos, t)
	}
	return nil
}

func (p *typeParser) typ(depth int) error {
	if depth >= maxTypeDepth {
		return fmt.Errorf("nested deeper than %d", maxTypeDepth)
	}
	if err := p.base(depth); err != nil {
		return err
	}
	for {
		t := p.peek()
		if t.kind != tokPunct || t.text != "[" {
			return nil
		}
		p.next()
		if n := p.peek(); n.kind == tokNumber { // a fixed-size ARRAY
			if _, err := p.number(1, maxArraySize, "ARRAY size"); err != nil {
				return err
			}
		}
		if err := p.expect("]"); err != nil {
			return err
		}
	}
}

func (p *typeParser) base(depth int) error {
	t := p.next()
	if t.kind != tokWord {
		return fmt.Errorf("expected a type name at offset %d, found %s", t.pos, t)
	}
	switch t.text {
	case "TIMESTAMP", "TIME":
		if n := p.peek(); n.kind == tokWord && n.text == "WITH" {
			p.next()
			for _, w := range []string{"TIME", "ZONE"} {
				if n := p.next(); n.kind != tokWord || n.text != w {
					return fmt.Errorf("expected %s WITH TIME ZONE at offset %d, found %s", t.text, n.pos, n)
				}
			}
		}
		return nil
	case "DECIMAL":
		if err := p.expect("("); err != nil {
			return err
		}
		prec, err := p.number(1, 38, "DECIMAL width")
		if err != nil {
			return err
		}
		if err := p.expect(","); err != nil {
			return err
		}
		if _, err := p.number(0, prec, "DECIMAL scale"); err != nil {
			return err
		}
		return p.expect(")")
	case "STRUCT":
		if err := p.expect("("); err != nil {
			return err
		}
		seen := map[string]bool{}
		for {
			if err := p.structField(depth, seen); err != nil {
				return err
			}
			n := p.next()
			if n.kind == tokPunct && n.text == ")" {
				return nil
			}
			if n.kind != tokPunct || n.text != "," {
				return fmt.Errorf("expected \",\" or \")\" in STRUCT at offset %d, found %s", n.pos, n)
			}
		}
	case "MAP":
		if err := p.expect("("); err != nil {
			return err
		}
		if err := p.typ(depth + 1); err != nil {
			return err
		}
		if err := p.expect(","); err != nil {
			return err
		}
		if err := p.typ(depth + 1); err != nil {
			return err
		}
		return p.expect(")")
	case "GEOMETRY":
		if n := p.peek(); n.kind == tokPunct && n.text == "(" {
			p.next()
			if s := p.next(); s.kind != tokString || s.text == "" {
				return fmt.Errorf("expected a quoted CRS in GEOMETRY at offset %d, found %s", s.pos, s)
			} else if !geometryCRS[s.text] {
				return fmt.Errorf("GEOMETRY coordinate system %s at offset %d is not one DuckDB knows without an extension (OGC:CRS84, OGC:CRS83)", s, s.pos)
			}
			return p.expect(")")
		}
		return nil
	}
	if !simpleTypes[t.text] {
		return fmt.Errorf("unknown type name %s at offset %d", t, t.pos)
	}
	return nil
}

// structField is "name type" (DuckDB's parser has no unnamed fields in a
// type, though it prints STRUCT(INTEGER, ...) for row()). seen holds the
// field names so far, ASCII-lower-cased.
func (p *typeParser) structField(depth int, seen map[string]bool) error {
	n := p.next()
	switch n.kind {
	case tokQuoted:
		if n.text == "" {
			return fmt.Errorf("empty STRUCT field name at offset %d", n.pos)
		}
	case tokWord:
		if w := strings.ToLower(n.text); ReservedWords[w] && !fieldKeywordsOK[w] {
			return fmt.Errorf("STRUCT field name %s at offset %d is a DuckDB keyword; double-quote it", strconv.Quote(w), n.pos)
		}
	default:
		return fmt.Errorf("expected a STRUCT field name at offset %d, found %s", n.pos, n)
	}
	key := asciiLower(n.text)
	if seen[key] {
		return fmt.Errorf("duplicate STRUCT field name %s at offset %d (names are compared ignoring case)", strconv.Quote(n.text), n.pos)
	}
	seen[key] = true
	if t := p.peek(); t.kind == tokPunct && (t.text == "," || t.text == ")") {
		return fmt.Errorf("STRUCT field %s at offset %d has no type (DuckDB has no unnamed fields in a type)", strconv.Quote(n.text), n.pos)
	}
	return p.typ(depth + 1)
}

// asciiLower lower-cases ASCII letters only, as DuckDB compares names.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (p *typeParser) number(lo, hi int, what string) (int, error) {
	t := p.next()
	if t.kind != tokNumber {
		return 0, fmt.Errorf("expected the %s at offset %d, found %s", what, t.pos, t)
	}
	n, err := strconv.Atoi(t.text)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %s: want %d to %d", what, t.text, lo, hi)
	}
	return n, nil
}
