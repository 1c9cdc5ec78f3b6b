package convert

// Nested CSV columns (ADR-023 "Strict values"). A CSV value of a LIST,
// ARRAY, STRUCT or MAP column is text DuckDB casts to the column's type,
// and that cast rounds the numbers inside as the top-level one does
// ("[1,2.5]" into INTEGER[] is [1, 3], "{x: 7.5}" into STRUCT(x INTEGER)
// is {x: 8}). Such a column holding an integer or DECIMAL type is read as
// text and, beside the cast, cast once more to the same shape with those
// leaves as VARCHAR: each leaf's text is then checked as a top-level
// value is (exactOKSQL), and the first one that is not exact is refused
// with the whole value's line. A value whose cast prints back as its
// text, blanks and quotes aside ("[1,2]" is [1, 2]), holds every number
// as written and is not checked leaf by leaf. Note that TRY_CAST of a
// nested value makes an unreadable leaf NULL ('[1, x]' is [1, NULL]):
// that is refused too, as not a valid number. UNION members are not
// checked.

import (
	"fmt"
	"strconv"
	"strings"
)

// typeNode is a parsed DuckDB type: a leaf (name as written), a LIST
// (elem), an ARRAY (elem, size), a STRUCT (fields) or a MAP (key, value).
type typeNode struct {
	kind   string // leaf, list, array, struct, map, union
	name   string // leaf: the type text
	size   string // array
	elem   *typeNode
	fields []typeField // struct, union
	key    *typeNode   // map
}

type typeField struct {
	name string
	typ  *typeNode
}

// parseType parses a DuckDB type name as DESCRIBE prints it; ok is false
// for text it does not understand (the column is then not checked).
func parseType(s string) (n *typeNode, ok bool) {
	p := &typeParser{s: s}
	n = p.parse()
	p.space()
	if p.err || p.i != len(p.s) {
		return nil, false
	}
	return n, true
}

type typeParser struct {
	s   string
	i   int
	err bool
}

func (p *typeParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *typeParser) peek(c byte) bool { p.space(); return p.i < len(p.s) && p.s[p.i] == c }

func (p *typeParser) expect(c byte) {
	if !p.peek(c) {
		p.err = true
		return
	}
	p.i++
}

// word reads an identifier, unquoting "a ""b""".
func (p *typeParser) word() string {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			if p.s[p.i] == '"' {
				if p.i+1 < len(p.s) && p.s[p.i+1] == '"' {
					b.WriteByte('"')
					p.i++
					continue
				}
				p.i++
				return b.String()
			}
			b.WriteByte(p.s[p.i])
		}
		p.err = true
		return ""
	}
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == '_' || p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i]|0x20 >= 'a' && p.s[p.i]|0x20 <= 'z') {
		p.i++
	}
	if p.i == start {
		p.err = true
	}
	return p.s[start:p.i]
}

func (p *typeParser) parse() *typeNode {
	if p.err {
		return nil
	}
	name := p.word()
	var n *typeNode
	switch u := strings.ToUpper(name); {
	case (u == "STRUCT" || u == "UNION") && p.peek('('):
		p.i++
		n = &typeNode{kind: strings.ToLower(u)}
		for !p.err {
			f := p.word()
			t := p.parse()
			n.fields = append(n.fields, typeField{f, t})
			if !p.peek(',') {
				break
			}
			p.i++
		}
		p.expect(')')
	case u == "MAP" && p.peek('('):
		p.i++
		n = &typeNode{kind: "map", key: p.parse()}
		p.expect(',')
		n.elem = p.parse()
		p.expect(')')
	default:
		// A leaf, with its parameters (DECIMAL(5,2)) and words
		// (TIMESTAMP WITH TIME ZONE) as written.
		for p.space(); p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' && p.s[p.i] != '['; {
			if p.s[p.i] == '(' {
				j := strings.IndexByte(p.s[p.i:], ')')
				if j < 0 {
					p.err = true
					return nil
				}
				name += p.s[p.i : p.i+j+1]
				p.i += j + 1
				continue
			}
			name += " " + p.word()
			p.space()
			if p.err {
				return nil
			}
		}
		n = &typeNode{kind: "leaf", name: name}
	}
	for p.peek('[') {
		p.i++
		p.space()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		size := p.s[start:p.i]
		p.expect(']')
		if size == "" {
			n = &typeNode{kind: "list", elem: n}
		} else {
			n = &typeNode{kind: "array", elem: n, size: size}
		}
	}
	return n
}

// nestedExact says whether a column of type t is a nested type holding an
// integer or DECIMAL leaf (outside a UNION), and returns it parsed.
func nestedExact(t string) (*typeNode, bool) {
	if !strings.ContainsAny(t, "([") {
		return nil, false
	}
	n, ok := parseType(t)
	if !ok || n.kind == "leaf" {
		return nil, false
	}
	return n, n.checked()
}

// checked says whether n holds a leaf to check.
func (n *typeNode) checked() bool {
	switch n.kind {
	case "leaf":
		_, _, ok := exactType(n.name)
		return ok
	case "list", "array":
		return n.elem.checked()
	case "map":
		return n.key.checked() || n.elem.checked()
	case "struct":
		for _, f := range n.fields {
			if f.typ.checked() {
				return true
			}
		}
	}
	return false
}

// sql prints n as DuckDB reads it, with the checked leaves as VARCHAR
// when asText.
func (n *typeNode) sql(asText bool) string {
	return n.mapLeaves(func(leaf string) string {
		if _, _, ok := exactType(leaf); ok && asText {
			return "VARCHAR"
		}
		return leaf
	})
}

// badLeafSQL is an expression over x (n with its checked leaves as
// VARCHAR) that is NULL when every checked leaf is exact, else
// "<invalid|inexact>:<TYPE>:<bytes>:<leaf text>" for the first that is not.
func (n *typeNode) badLeafSQL(x string, depth int) string {
	switch n.kind {
	case "leaf":
		typ, scale, _ := exactType(n.name)
		v := fmt.Sprintf("TRY_CAST(%s AS %s)", x, typ)
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL OR %[3]s THEN NULL ELSE CASE WHEN %[2]s IS NULL OR NOT regexp_matches(%[1]s, '[0-9]') OR %[5]s THEN 'invalid' ELSE 'inexact' END || %[4]s || strlen(%[1]s)::VARCHAR || ':' || %[1]s END",
			x, v, exactOKSQL(x, v, typ, scale), sqlString(":"+typ+":"), decimalRangeSQL(v, typ))
	case "list", "array":
		e := fmt.Sprintf("e%d", depth)
		return fmt.Sprintf("list_any_value(list_transform(%s, lambda %s: %s))", x, e, n.elem.badLeafSQL(e, depth+1))
	case "map":
		var parts []string
		if n.key.checked() {
			parts = append(parts, (&typeNode{kind: "list", elem: n.key}).badLeafSQL("map_keys("+x+")", depth))
		}
		if n.elem.checked() {
			parts = append(parts, (&typeNode{kind: "list", elem: n.elem}).badLeafSQL("map_values("+x+")", depth))
		}
		return coalesceSQL(parts)
	}
	var parts []string
	for _, f := range n.fields {
		if f.typ.checked() {
			parts = append(parts, f.typ.badLeafSQL("struct_extract("+x+", "+sqlString(f.name)+")", depth))
		}
	}
	return coalesceSQL(parts)
}

func coalesceSQL(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "coalesce(" + strings.Join(parts, ", ") + ")"
}

// exactOKSQL is true when the text c holds exactly the number v (a
// non-NULL TRY_CAST of c to an integer or DECIMAL type of the given
// scale): strictColumnSQL's tests as one condition, the precision of a
// DECIMAL typ included (decimalRangeSQL).
func exactOKSQL(c, v, typ string, scale int) string {
	p := sqlString(decimalPattern)
	group := func(n int) string { return fmt.Sprintf("replace(regexp_extract(%s, %s, %d), '_', '')", c, p, n) }
	digits := group(1) + " || " + group(2)
	exp := fmt.Sprintf("regexp_extract(%s, %s, 3)", c, p)
	return fmt.Sprintf(`(%[2]s IS NOT NULL AND regexp_matches(%[1]s, '[0-9]') AND NOT %[8]s AND (%[2]s::VARCHAR = %[1]s
 OR strlen(%[1]s) <= 15 AND TRY_CAST(%[1]s AS DOUBLE) = %[2]s::DOUBLE AND (%[2]s <> 0 OR NOT (contains(%[1]s, 'e') OR contains(%[1]s, 'E')))
 OR regexp_full_match(%[1]s, '^\s*[+-]?0[xXbB][0-9a-fA-F_]+\s*$')
 OR regexp_full_match(%[1]s, %[3]s) AND (rtrim(%[4]s, '0') = ''
  OR coalesce(length(%[5]s) - (CASE WHEN %[6]s = '' THEN 0 ELSE TRY_CAST(%[6]s AS INTEGER) END)::BIGINT - (length(%[4]s) - length(rtrim(%[4]s, '0'))) <= %[7]d, false))))`,
		c, v, p, digits, group(2), exp, scale, decimalRangeSQL(v, typ))
}

// nestedColumnSQL is the projection of nested column i read as text (c<i>,
// with v<i> its cast to the column's type and b<i> badLeafSQL of its cast
// with the leaves as text): the value, or a tagged error naming the
// first leaf that is not exact, or the whole value when it is not valid.
func nestedColumnSQL(i int) string {
	c, v, b := fmt.Sprintf("c%d", i), fmt.Sprintf("v%d", i), fmt.Sprintf("b%d", i)
	return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[3]s IS NOT NULL THEN error(%[4]s || %[3]s || %[1]s) WHEN %[2]s IS NULL THEN error(%[5]s || %[1]s) ELSE %[2]s END",
		c, v, b, sqlString(fmt.Sprintf("%s%d:nested:", badValueTag, i)), sqlString(fmt.Sprintf("%s%d:invalid:*:", badValueTag, i)))
}

// splitNested splits a nested tag's "<bytes>:<leaf><whole value>".
func splitNested(s string) (leaf, whole string, ok bool) {
	j := strings.IndexByte(s, ':')
	if j < 0 {
		return "", "", false
	}
	n, err := strconv.Atoi(s[:j])
	if err != nil || n < 0 || j+1+n > len(s) {
		return "", "", false
	}
	return s[j+1 : j+1+n], s[j+1+n:], true
}
