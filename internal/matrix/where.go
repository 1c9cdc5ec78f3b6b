package matrix

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"lakehouse-go/internal/errs"
)

// Where predicates (ADR-032). A search's "where" is parsed here, in Go, as
// ONE SQL boolean expression over the dataset's own columns, and the SQL
// sent to queryd is re-rendered from the parse tree (identifiers re-quoted,
// strings re-escaped, every sub-expression parenthesised), never the
// caller's text. What parses: literals (numbers, 'strings', TRUE, FALSE,
// NULL, DATE/TIMESTAMP/INTERVAL 'literal'), column names (bare or
// "quoted", resolved against the dataset schema), unary - + NOT,
// arithmetic + - * / % and ||, comparisons = == <> != < <= > >=, AND, OR,
// IS [NOT] NULL|TRUE|FALSE|DISTINCT FROM, [NOT] IN (list), [NOT] LIKE /
// ILIKE [ESCAPE], [NOT] BETWEEN .. AND .., CASE, CAST(x AS type) and
// x::type, and calls of an allow-list of scalar functions. What does not:
// ';', comments, parameters ($1, ?), dollar-quoted and prefixed strings
// (E'..', X'..'), subqueries and any keyword that would start one (SELECT,
// FROM, WITH, ...), table functions, unknown functions, unknown columns,
// more than one expression. Since only the dataset's columns can be named
// and no query can be nested, a predicate can only filter that dataset's
// rows; queryd's own read-only lock-down is a second wall behind this one.

// maxWhereBytes bounds a predicate.
const maxWhereBytes = 4096

// maxWhereDepth bounds the nesting of parentheses in the rendered
// predicate: each NOT, sign, comparison, operator chain, AND/OR list,
// function call and IN list is rendered inside its own parentheses,
// redundant ones written by the user are dropped (ADR-166). Counting what
// is rendered, not what was written, makes a rendered predicate compile
// again to itself.
const maxWhereDepth = 64

// maxWhereRecursion bounds the parser's own recursion (parentheses as
// written, NOT, signs, CASE): at most three levels of it per rendered
// parenthesis, so a rendered predicate within maxWhereDepth parses again
// within it.
const maxWhereRecursion = 3*maxWhereDepth + 8

// maxWhereLevels bounds the height of the expression tree as DuckDB builds
// it (ADR-106): each operator, comparison, function call, cast, NOT, CASE,
// IN, LIKE, BETWEEN and IS is a level above its operands; parentheses add
// none; an AND or OR list, and an IN list, is one level however long. A
// chain a + b + c is a level per operator. DuckDB refuses a tree deeper
// than its max_expression_depth (1000) with a message telling the user to
// SET it, which queryd does not allow, and plans a chain of arithmetic in
// time that grows with the cube of its length (a 200-operator chain 1-3 s,
// 300 operators 8 s, 625 past queryd's timeout); matrixd adds at most
// three levels around the predicate (CAST, COALESCE, AND).
const maxWhereLevels = 64

// maxWhereArith bounds the arithmetic operators of a predicate in all
// (+ - * / % ||, and a sign not directly before a number): DuckDB's
// planning time grows faster than their count even when no chain is deep
// (30 chains of 61 "+ 1", 4 KiB, took 15 s a search; 12 chains of 61
// "|| 'x'" 1.9 s), and every search runs the predicate two or three times.
const maxWhereArith = 64

// whereFuncs are the scalar functions a predicate may call (DuckDB names).
var whereFuncs = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(`lower upper lcase ucase length len strlen char_length trim ltrim rtrim
		substr substring left right concat concat_ws replace reverse lpad rpad repeat position strpos instr
		contains starts_with ends_with prefix suffix like_escape regexp_matches regexp_full_match
		regexp_replace regexp_extract levenshtein jaccard
		abs round floor ceil ceiling sign sqrt ln log log10 log2 exp pow power greatest least mod
		coalesce nullif ifnull
		year month day hour minute second week quarter dayofweek dayofyear epoch
		date_part datepart date_trunc datetrunc date_diff datediff date_add strftime strptime
		today current_date now
		list_contains list_has array_contains array_length list_length`) {
		m[f] = true
	}
	return m
}()

// whereTypes are the type names CAST and :: accept.
var whereTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range strings.Fields(`boolean bool tinyint smallint integer int int4 int8 bigint hugeint
		utinyint usmallint uinteger ubigint float real double decimal numeric varchar text string
		date time timestamp timestamptz interval uuid`) {
		m[t] = true
	}
	return m
}()

// whereKeywords cannot be bare column names.
var whereKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`and or not in is null true false like ilike glob similar between escape
		case when then else end cast as distinct from select with where union except intersect
		exists any all some array interval date timestamp order by group having limit offset
		join on using values table pivot unpivot lateral qualify window over filter collate`) {
		m[k] = true
	}
	return m
}()

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQIdent // "quoted"
	tNumber
	tString
	tOp
)

type tok struct {
	kind tokKind
	text string // ident: lowercased for bare; string: unescaped value
	raw  string
	pos  int
}

func whereErr(format string, args ...any) error {
	return errs.Errorf("matrix.where", errs.Invalid, "where: "+format, args...)
}

func lexWhere(src string) ([]tok, error) {
	var out []tok
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ';':
			return nil, whereErr("';' at offset %d: one expression only", i)
		case c == '-' && i+1 < len(src) && src[i+1] == '-', c == '/' && i+1 < len(src) && src[i+1] == '*':
			return nil, whereErr("comments are not allowed (offset %d)", i)
		case c == '$' || c == '?':
			return nil, whereErr("parameters and dollar quoting are not allowed (offset %d)", i)
		case c == '\'':
			j := i + 1
			var b strings.Builder
			for {
				if j >= len(src) {
					return nil, whereErr("unterminated string starting at offset %d", i)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			out = append(out, tok{kind: tString, text: b.String(), raw: src[i : j+1], pos: i})
			i = j + 1
		case c == '"':
			j := i + 1
			var b strings.Builder
			for {
				if j >= len(src) {
					return nil, whereErr("unterminated quoted identifier at offset %d", i)
				}
				if src[j] == '"' {
					if j+1 < len(src) && src[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			out = append(out, tok{kind: tQIdent, text: b.String(), raw: src[i : j+1], pos: i})
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == '_') {
				j++
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					j = k
					for j < len(src) && src[j] >= '0' && src[j] <= '9' {
						j++
					}
				}
			}
			num := strings.ReplaceAll(src[i:j], "_", "")
			if strings.Count(num, ".") > 1 || num == "." {
				return nil, whereErr("bad number %q at offset %d", src[i:j], i)
			}
			if j < len(src) && isIdentByte(src[j]) {
				return nil, whereErr("bad number %q at offset %d", src[i:j+1], i)
			}
			out = append(out, tok{kind: tNumber, text: num, raw: src[i:j], pos: i})
			i = j
		case isIdentStart(src[i:]):
			j := i
			for j < len(src) {
				r, n := utf8.DecodeRuneInString(src[j:])
				if !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
					break
				}
				j += n
			}
			if j < len(src) && (src[j] == '\'' || src[j] == '&' || src[j] == '"') {
				return nil, whereErr("prefixed strings (E'..', X'..', U&'..') are not allowed (offset %d)", i)
			}
			out = append(out, tok{kind: tIdent, text: strings.ToLower(src[i:j]), raw: src[i:j], pos: i})
			i = j
		default:
			ops := []string{"<>", "!=", "<=", ">=", "==", "||", "::", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ","}
			found := ""
			for _, op := range ops {
				if strings.HasPrefix(src[i:], op) {
					found = op
					break
				}
			}
			if found == "" {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, whereErr("unexpected %q at offset %d", r, i)
			}
			out = append(out, tok{kind: tOp, text: found, raw: found, pos: i})
			i += len(found)
		}
	}
	return append(out, tok{kind: tEOF, pos: len(src)}), nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= utf8.RuneSelf
}

func isIdentStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r)
}

type whereParser struct {
	toks []tok
	i    int
	cols map[string]string // lower-case name -> schema name
	// missing, when not nil, collects the columns cols lacks instead of
	// refusing them (compileWhereSpan): lower-case name -> the first
	// occurrence as written
	missing map[string]tok
	depth   int
	arith   int // arithmetic operators so far (maxWhereArith)
	out     []byte
}

// CompileWhere parses src as one boolean expression over columns (schema
// names) and returns it re-rendered as safe SQL. Errors: Invalid, saying
// what is wrong and where; also for a predicate longer than 4096 bytes,
// nested deeper than 64 parentheses, more than 64 levels deep
// (maxWhereLevels) or with more than 64 arithmetic operators
// (maxWhereArith).
func CompileWhere(src string, columns []string) (string, error) {
	return compileWhere(src, columns, nil)
}

// compileWhereSpan is CompileWhere for a search of every index (ADR-149):
// a column columns lacks is not an error but returned in missing (lower
// case -> its first occurrence), every other check made as CompileWhere
// makes it, so an unsafe predicate is refused whatever columns it names.
// pred is meaningful only when missing is empty.
func compileWhereSpan(src string, columns []string) (pred string, missing map[string]tok, err error) {
	missing = map[string]tok{}
	pred, err = compileWhere(src, columns, missing)
	return pred, missing, err
}

func compileWhere(src string, columns []string, missing map[string]tok) (string, error) {
	if len(src) > maxWhereBytes {
		return "", whereErr("longer than %d bytes", maxWhereBytes)
	}
	if strings.ContainsRune(src, 0) {
		return "", whereErr("NUL byte")
	}
	toks, err := lexWhere(src)
	if err != nil {
		return "", err
	}
	if len(toks) == 1 {
		return "", whereErr("empty")
	}
	p := &whereParser{toks: toks, cols: map[string]string{}, missing: missing}
	for _, c := range columns {
		p.cols[strings.ToLower(c)] = c
	}
	if _, err := p.expr(); err != nil {
		return "", err
	}
	if t := p.peek(); t.kind != tEOF {
		return "", whereErr("unexpected %q at offset %d: the predicate must be a single expression", t.raw, t.pos)
	}
	out := "(" + string(p.out) + ")"
	if d := parenDepth(out); d > maxWhereDepth {
		return "", whereErr("nested deeper than %d: the predicate is %d parentheses deep once rendered (each NOT, sign, comparison, operator chain, AND/OR list, function call and IN list is one)", maxWhereDepth, d)
	}
	return out, nil
}

// parenDepth is the deepest nesting of parentheses in a rendered
// predicate, outside its string literals and quoted names (a quote doubled
// inside its own quotes stands for itself, as sqlString and sqlIdent
// write it).
func parenDepth(out string) int {
	depth, deepest := 0, 0
	var quote byte
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: the same
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
			deepest = max(deepest, depth)
		case c == ')':
			depth--
		}
	}
	return deepest
}

func (p *whereParser) peek() tok { return p.toks[p.i] }
func (p *whereParser) next() tok { t := p.toks[p.i]; p.i++; return t }

func (p *whereParser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == kw
}

func (p *whereParser) isKwAt(k int, kw string) bool {
	if p.i+k >= len(p.toks) {
		return false
	}
	t := p.toks[p.i+k]
	return t.kind == tIdent && t.text == kw
}

func (p *whereParser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *whereParser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == op
}

func (p *whereParser) expectOp(op string) error {
	if !p.isOp(op) {
		t := p.peek()
		return whereErr("expected %q at offset %d, found %s", op, t.pos, describeTok(t))
	}
	p.i++
	return nil
}

func (p *whereParser) expectKw(kw string) error {
	if !p.acceptKw(kw) {
		t := p.peek()
		return whereErr("expected %s at offset %d, found %s", strings.ToUpper(kw), t.pos, describeTok(t))
	}
	return nil
}

func describeTok(t tok) string {
	if t.kind == tEOF {
		return "the end"
	}
	return fmt.Sprintf("%q", t.raw)
}

func (p *whereParser) w(s string) { p.out = append(p.out, s...) }

// mark is where the next operand starts in the output, for wrap.
func (p *whereParser) mark() int { return len(p.out) }

// wrap puts what was written since mark m in parentheses: a node is
// parenthesised only once it is known to be one (an operand alone is
// written as it is), so rendering a rendered predicate changes nothing.
func (p *whereParser) wrap(m int) {
	p.out = slices.Insert(p.out, m, '(')
	p.out = append(p.out, ')')
}

func (p *whereParser) enter() error {
	p.depth++
	if p.depth > maxWhereRecursion {
		return whereErr("nested deeper than %d (parentheses, NOT, signs and CASE inside one another)", maxWhereRecursion)
	}
	return nil
}

func (p *whereParser) leave() { p.depth-- }

// arithOp counts an arithmetic operator at offset pos (maxWhereArith).
func (p *whereParser) arithOp(pos int) error {
	if p.arith++; p.arith > maxWhereArith {
		return whereErr("more than %d arithmetic operators (+ - * / %% || and signs) at offset %d: DuckDB takes seconds to plan long arithmetic; simplify it (for text, concat(a, b, c) is one call)", maxWhereArith, pos)
	}
	return nil
}

// level is the height of a node over operands of height h, checked
// against maxWhereLevels; pos is the node's token offset.
func (p *whereParser) level(h, pos int) (int, error) {
	if h+1 > maxWhereLevels {
		return 0, whereErr("more than %d levels deep at offset %d (each operator, comparison, function call, cast, NOT or CASE is a level above its operands; an AND/OR list or an IN list is one level): write long chains as lists, e.g. concat(a, b, c) for a || b || c, or (a + b) + (c + d)", maxWhereLevels, pos)
	}
	return h + 1, nil
}

// expr := and (OR and)*. Each parse function returns the height of what it
// parsed (see maxWhereLevels).
func (p *whereParser) expr() (int, error) {
	if err := p.enter(); err != nil {
		return 0, err
	}
	defer p.leave()
	return p.kwList("or", " OR ", p.and)
}

// and := not (AND not)*.
func (p *whereParser) and() (int, error) { return p.kwList("and", " AND ", p.not) }

// kwList parses operand (kw operand)*, parenthesized, with sep between the
// operands: an AND/OR list is one level over its highest operand.
func (p *whereParser) kwList(kw, sep string, operand func() (int, error)) (int, error) {
	m := p.mark()
	h, err := operand()
	if err != nil {
		return 0, err
	}
	pos := -1 // of the first kw
	for p.isKw(kw) {
		if t := p.next(); pos < 0 {
			pos = t.pos
		}
		p.w(sep)
		r, err := operand()
		if err != nil {
			return 0, err
		}
		h = max(h, r)
	}
	if pos >= 0 {
		p.wrap(m)
		if h, err = p.level(h, pos); err != nil {
			return 0, err
		}
	}
	return h, nil
}

func (p *whereParser) not() (int, error) {
	if p.isKw("not") {
		pos := p.next().pos
		if err := p.enter(); err != nil {
			return 0, err
		}
		defer p.leave()
		p.w("(NOT ")
		h, err := p.not()
		if err != nil {
			return 0, err
		}
		p.w(")")
		return p.level(h, pos)
	}
	return p.cmp()
}

// cmp := add [comparison | IS ... | [NOT] IN/LIKE/ILIKE/BETWEEN ...]
func (p *whereParser) cmp() (int, error) {
	m := p.mark()
	h, err := p.add()
	if err != nil {
		return 0, err
	}
	t := p.peek()
	// sub parses one more operand of this node into h.
	sub := func(parse func() (int, error)) error {
		r, err := parse()
		h = max(h, r)
		return err
	}
	node := false
	switch {
	case t.kind == tOp && (t.text == "=" || t.text == "==" || t.text == "<>" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
		p.i++
		node = true
		op := t.text
		if op == "==" {
			op = "="
		}
		p.w(" " + op + " ")
		if err := sub(p.add); err != nil {
			return 0, err
		}
	case p.isKw("is"):
		p.i++
		node = true
		p.w(" IS ")
		if p.acceptKw("not") {
			p.w("NOT ")
		}
		switch {
		case p.acceptKw("null"):
			p.w("NULL")
		case p.acceptKw("true"):
			p.w("TRUE")
		case p.acceptKw("false"):
			p.w("FALSE")
		case p.acceptKw("distinct"):
			if err := p.expectKw("from"); err != nil {
				return 0, err
			}
			p.w("DISTINCT FROM ")
			if err := sub(p.add); err != nil {
				return 0, err
			}
		default:
			t := p.peek()
			return 0, whereErr("expected NULL, TRUE, FALSE or DISTINCT FROM after IS at offset %d, found %s", t.pos, describeTok(t))
		}
	case p.isKw("in") || p.isKw("like") || p.isKw("ilike") || p.isKw("between") ||
		p.isKw("not") && (p.isKwAt(1, "in") || p.isKwAt(1, "like") || p.isKwAt(1, "ilike") || p.isKwAt(1, "between")):
		node = true
		if p.acceptKw("not") {
			p.w(" NOT")
		}
		switch kw := p.next().text; kw {
		case "in":
			p.w(" IN (")
			if err := p.expectOp("("); err != nil {
				return 0, err
			}
			if p.isKw("select") || p.isKw("with") || p.isKw("from") || p.isKw("values") || p.isKw("table") {
				return 0, whereErr("subqueries are not allowed (offset %d)", p.peek().pos)
			}
			if err := sub(p.list); err != nil {
				return 0, err
			}
			if err := p.expectOp(")"); err != nil {
				return 0, err
			}
			p.w(")")
		case "like", "ilike":
			p.w(" " + strings.ToUpper(kw) + " ")
			if err := sub(p.add); err != nil {
				return 0, err
			}
			if p.acceptKw("escape") {
				p.w(" ESCAPE ")
				if err := sub(p.add); err != nil {
					return 0, err
				}
			}
		case "between":
			p.w(" BETWEEN ")
			if err := sub(p.add); err != nil {
				return 0, err
			}
			if err := p.expectKw("and"); err != nil {
				return 0, err
			}
			p.w(" AND ")
			if err := sub(p.add); err != nil {
				return 0, err
			}
		}
	}
	if node {
		p.wrap(m)
		return p.level(h, t.pos)
	}
	return h, nil
}

// list parses expressions separated by commas (an IN list, a function's
// arguments) and returns the height of the highest.
func (p *whereParser) list() (int, error) {
	h, err := p.expr()
	if err != nil {
		return 0, err
	}
	for p.isOp(",") {
		p.i++
		p.w(", ")
		r, err := p.expr()
		if err != nil {
			return 0, err
		}
		h = max(h, r)
	}
	return h, nil
}

// add := mul ((+ | - | ||) mul)*, and mul := unary ((* | / | %) unary)*,
// each written as DuckDB reads it and parenthesised as a whole when it has
// an operator.
func (p *whereParser) add() (int, error) { return p.chain(p.mul, "+", "-", "||") }

func (p *whereParser) mul() (int, error) { return p.chain(p.unary, "*", "/", "%") }

// chain parses operand (op operand)* for the arithmetic operators ops.
func (p *whereParser) chain(operand func() (int, error), ops ...string) (int, error) {
	m := p.mark()
	h, err := operand()
	if err != nil {
		return 0, err
	}
	isOp := func() bool {
		for _, op := range ops {
			if p.isOp(op) {
				return true
			}
		}
		return false
	}
	chained := false
	for isOp() {
		t := p.next()
		if err := p.arithOp(t.pos); err != nil {
			return 0, err
		}
		p.w(" " + t.text + " ")
		r, err := operand()
		if err != nil {
			return 0, err
		}
		if h, err = p.level(max(h, r), t.pos); err != nil {
			return 0, err
		}
		chained = true
	}
	if chained {
		p.wrap(m)
	}
	return h, nil
}

func (p *whereParser) unary() (int, error) {
	if p.isOp("-") || p.isOp("+") {
		if err := p.enter(); err != nil {
			return 0, err
		}
		defer p.leave()
		t := p.next()
		if p.peek().kind != tNumber { // -5 is a constant to DuckDB
			if err := p.arithOp(t.pos); err != nil {
				return 0, err
			}
		}
		p.w("(" + t.text)
		h, err := p.unary()
		if err != nil {
			return 0, err
		}
		p.w(")")
		return p.level(h, t.pos)
	}
	h, err := p.primary()
	if err != nil {
		return 0, err
	}
	for p.isOp("::") {
		pos := p.next().pos
		p.w("::")
		if err := p.typeName(); err != nil {
			return 0, err
		}
		if h, err = p.level(h, pos); err != nil {
			return 0, err
		}
	}
	return h, nil
}

func (p *whereParser) typeName() error {
	t := p.next()
	if t.kind != tIdent || !whereTypes[t.text] {
		return whereErr("unknown type %s at offset %d", describeTok(t), t.pos)
	}
	p.w(strings.ToUpper(t.text))
	if p.isOp("(") {
		p.i++
		p.w("(")
		for n := 0; ; n++ {
			num := p.next()
			if num.kind != tNumber || strings.Contains(num.text, ".") || n > 1 {
				return whereErr("bad type parameter %s at offset %d", describeTok(num), num.pos)
			}
			p.w(num.text)
			if p.isOp(",") {
				p.i++
				p.w(",")
				continue
			}
			break
		}
		if err := p.expectOp(")"); err != nil {
			return err
		}
		p.w(")")
	}
	return nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (p *whereParser) primary() (int, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		p.w(t.text)
		return 1, nil
	case tString:
		p.w(sqlString(t.text))
		return 1, nil
	case tQIdent:
		return p.column(t)
	case tOp:
		if t.text == "(" {
			if p.isKw("select") || p.isKw("with") || p.isKw("from") || p.isKw("values") || p.isKw("table") {
				return 0, whereErr("subqueries are not allowed (offset %d)", p.peek().pos)
			}
			h, err := p.expr()
			if err != nil {
				return 0, err
			}
			return h, p.expectOp(")")
		}
	case tIdent:
		switch t.text {
		case "true", "false", "null":
			p.w(strings.ToUpper(t.text))
			return 1, nil
		case "date", "timestamp", "interval", "time":
			s := p.next()
			if s.kind != tString {
				return 0, whereErr("%s must be followed by a 'literal' at offset %d", strings.ToUpper(t.text), s.pos)
			}
			p.w(strings.ToUpper(t.text) + " " + sqlString(s.text))
			return 2, nil // a cast of a string constant
		case "cast", "try_cast":
			if err := p.expectOp("("); err != nil {
				return 0, err
			}
			p.w(strings.ToUpper(t.text) + "(")
			h, err := p.expr()
			if err != nil {
				return 0, err
			}
			if err := p.expectKw("as"); err != nil {
				return 0, err
			}
			p.w(" AS ")
			if err := p.typeName(); err != nil {
				return 0, err
			}
			if err := p.expectOp(")"); err != nil {
				return 0, err
			}
			p.w(")")
			return p.level(h, t.pos)
		case "case":
			return p.caseExpr(t.pos)
		}
		if p.isOp("(") {
			if !whereFuncs[t.text] {
				return 0, whereErr("function %q is not allowed (offset %d)", t.raw, t.pos)
			}
			p.i++
			p.w(t.text + "(")
			h := 0
			if !p.isOp(")") {
				if p.isKw("select") || p.isKw("with") || p.isKw("distinct") {
					return 0, whereErr("subqueries are not allowed (offset %d)", p.peek().pos)
				}
				var err error
				if h, err = p.list(); err != nil {
					return 0, err
				}
			}
			if err := p.expectOp(")"); err != nil {
				return 0, err
			}
			p.w(")")
			return p.level(h, t.pos)
		}
		if whereKeywords[t.text] {
			return 0, whereErr("unexpected keyword %s at offset %d", strings.ToUpper(t.text), t.pos)
		}
		return p.column(t)
	}
	return 0, whereErr("unexpected %s at offset %d", describeTok(t), t.pos)
}

func (p *whereParser) column(t tok) (int, error) {
	name, ok := p.cols[strings.ToLower(t.text)]
	if !ok && p.missing != nil {
		if _, seen := p.missing[strings.ToLower(t.text)]; !seen {
			p.missing[strings.ToLower(t.text)] = t
		}
		name, ok = t.text, true
	}
	if !ok {
		return 0, whereErr("unknown column %q at offset %d (the dataset's columns only)", t.text, t.pos)
	}
	if p.isOp(".") || p.isOp("(") {
		return 0, whereErr("unexpected %q after column %q", p.peek().raw, t.text)
	}
	p.w(sqlIdent(name))
	return 1, nil
}

// caseExpr parses CASE after its keyword (at offset pos): one level over
// its parts, two with a base expression (DuckDB compares it with each
// WHEN value).
func (p *whereParser) caseExpr(pos int) (int, error) {
	if err := p.enter(); err != nil {
		return 0, err
	}
	defer p.leave()
	p.w("CASE")
	h := 0
	// part parses one more part of the CASE into h.
	part := func() error {
		r, err := p.expr()
		h = max(h, r)
		return err
	}
	base := !p.isKw("when")
	if base {
		p.w(" ")
		if err := part(); err != nil {
			return 0, err
		}
	}
	n := 0
	for p.acceptKw("when") {
		n++
		p.w(" WHEN ")
		if err := part(); err != nil {
			return 0, err
		}
		if err := p.expectKw("then"); err != nil {
			return 0, err
		}
		p.w(" THEN ")
		if err := part(); err != nil {
			return 0, err
		}
	}
	if n == 0 {
		t := p.peek()
		return 0, whereErr("CASE needs WHEN at offset %d", t.pos)
	}
	if p.acceptKw("else") {
		p.w(" ELSE ")
		if err := part(); err != nil {
			return 0, err
		}
	}
	if err := p.expectKw("end"); err != nil {
		return 0, err
	}
	p.w(" END")
	if base {
		var err error
		if h, err = p.level(h, pos); err != nil {
			return 0, err
		}
	}
	return p.level(h, pos)
}
