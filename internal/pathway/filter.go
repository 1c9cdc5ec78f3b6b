package pathway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Metadata filters (ADR-140): Mem0's filters={...} of search and get_all,
// over the keys of a memory's metadata object.
//
//	{"k": v}                          k equals v (v a string, number, boolean or null)
//	{"k": "*"}                        k is present (any value, null included)
//	{"k": {"eq"|"ne"|"gt"|"gte"|"lt"|"lte": v}}
//	{"k": {"in"|"nin": [v, ...]}}
//	{"k": {"contains"|"icontains": "s"}}
//	{"AND"|"OR"|"NOT": [filter, ...]}
//
// Keys of one object, and operators of one operator object, are ANDed. NOT
// of a list matches when none of its filters matches. Numbers compare as
// numbers, exactly (their decimal text, so 9007199254740993 > ...992), and
// strings as strings (byte order); a number never equals nor orders with a
// string, a boolean orders with nothing: such a comparison is false, not an
// error. ne and nin are the negations of eq and in, so a memory without the
// key matches them. user_id, agent_id and run_id at the top level of a
// filter, as plain strings, are the scope ids (as Mem0 reads them); an OR
// there (or in the top-level AND) whose objects each give scope ids is a
// union of scopes, each object's other keys applying to its own scope
// (ADR-153).
// created_at and updated_at, at any level, are the memory's own times, as
// in Mem0's filters (ADR-148): an operand is a date (2006-01-02, compared
// with the time's UTC day) or an RFC 3339 time, and only eq, ne, gt, gte,
// lt, lte, in, nin and "*" apply.
const (
	// MaxFilterDepth bounds the nesting of AND/OR/NOT and operator objects.
	MaxFilterDepth = 32
	// MaxFilterTerms bounds the conditions of one filter, the values of
	// in/nin lists included.
	MaxFilterTerms = 1024
)

// filter is a parsed filter: a node of the tree.
type filter struct {
	op   string    // "and", "or", "not" (nor of subs), or a comparison
	subs []*filter // of and/or/not
	key  string    // metadata key of a comparison
	val  fval      // operand of a comparison
	vals []fval    // operands of in/nin
	// at: key is created_at or updated_at, the memory's own time, and
	// tv/tvs are the operands read as times.
	at  bool
	tv  tval
	tvs []tval
}

// tval is a time operand: a day (a date, compared with a time's UTC day)
// or an instant.
type tval struct {
	t   time.Time
	day bool
}

// timeKey reports whether a filter key names a memory's own time rather
// than a metadata key (Mem0 filters created_at and updated_at).
func timeKey(k string) bool { return k == "created_at" || k == "updated_at" }

// parseTimeOperand reads a time filter's operand.
func parseTimeOperand(path string, v fval) (tval, error) {
	if v.kind == 's' {
		if t, err := time.Parse(time.DateOnly, v.s); err == nil {
			return tval{t: t, day: true}, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, v.s); err == nil {
			return tval{t: t}, nil
		}
		// ISO 8601 without an offset (Python's datetime.isoformat() of a
		// naive time) is UTC, the zone of every time pathwayd answers.
		if t, err := time.Parse("2006-01-02T15:04:05.999999999", v.s); err == nil {
			return tval{t: t}, nil
		}
	}
	return tval{}, &filterError{path, "the memory's own time: want a date (2006-01-02) or an RFC 3339 time (2006-01-02T15:04:05Z; without an offset, UTC)"}
}

// timeFilter turns the comparisons of f, parsed for a created_at or
// updated_at key, into comparisons of the memory's time: f is a plain
// value's comparison, or the AND of an operator object's.
func timeFilter(path string, f *filter) error {
	if f.op != "and" {
		return timeComparison(path, f)
	}
	for _, s := range f.subs {
		if err := timeComparison(path+metadataKey(s.op), s); err != nil {
			return err
		}
	}
	return nil
}

// timeComparison reads the operands of one comparison as times; path names
// it (the key, or the key's operator).
func timeComparison(path string, f *filter) error {
	f.at = true
	var err error
	switch f.op {
	case "present":
	case "eq", "ne", "gt", "gte", "lt", "lte":
		f.tv, err = parseTimeOperand(path, f.val)
	case "in", "nin":
		for i, v := range f.vals {
			tv, err := parseTimeOperand(fmt.Sprintf("%s[%d]", path, i), v)
			if err != nil {
				return err
			}
			f.tvs = append(f.tvs, tv)
		}
	default:
		err = &filterError{path, "the memory's own time: want eq, ne, gt, gte, lt, lte, in or nin"}
	}
	return err
}

// cmpTime compares a memory's time with a time operand.
func cmpTime(t time.Time, v tval) int {
	if v.day {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Compare(v.t)
	}
	return t.Compare(v.t)
}

// matchTime reports whether the memory's time t passes the comparison f.
func (f *filter) matchTime(t time.Time) bool {
	switch f.op {
	case "present":
		return true
	case "in", "nin":
		in := false
		for _, v := range f.tvs {
			if cmpTime(t, v) == 0 {
				in = true
				break
			}
		}
		return in == (f.op == "in")
	}
	c := cmpTime(t, f.tv)
	switch f.op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "gte":
		return c >= 0
	case "lt":
		return c < 0
	case "lte":
		return c <= 0
	}
	return false
}

// fval is a scalar of a filter or of metadata.
type fval struct {
	kind byte // 's' string, 'n' number, 'b' bool, 'z' null, 'x' anything else (lists, objects)
	s    string
	num  decimal
	b    bool
}

// filterError is a 400 naming the filter's path.
type filterError struct{ path, msg string }

func (e *filterError) Error() string { return e.path + ": " + e.msg }

type filterParser struct {
	dec   *json.Decoder
	terms int
	// alts are the branches of an OR of scope ids ({"OR":[{"user_id":"a"},
	// {"user_id":"b"}]}, Mem0 v2; ADR-153), at most one such OR a filter;
	// altPath names it. inBranch is set while one of its objects is read:
	// no scope id deeper.
	alts     []scopeAlt
	altPath  string
	inBranch bool
}

// scopeAlt is one branch of an OR of scope ids: the memories of scope sc
// that pass f (nil: all of them).
type scopeAlt struct {
	sc   Scope
	f    *filter
	path string // filters.OR[i], for messages
}

// parseFilter parses raw (a JSON object, or null/absent: no filter) and
// returns the filter (nil: none) and the scope ids given in it, outside
// an OR of scope ids (parseFilterScopes).
func parseFilter(raw json.RawMessage) (*filter, Scope, error) {
	f, sc, _, err := parseFilterScopes(raw)
	return f, sc, err
}

// parseFilterScopes is parseFilter that also returns the branches of an
// OR of scope ids (nil: none): a memory passes when it is in the scope sc
// and passes f, and is in one branch's scope and passes its filter.
func parseFilterScopes(raw json.RawMessage) (*filter, Scope, []scopeAlt, error) {
	var sc Scope
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, sc, nil, nil
	}
	p := &filterParser{dec: json.NewDecoder(bytes.NewReader(t))}
	p.dec.UseNumber()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, sc, nil, &filterError{"filters", "not JSON: " + err.Error()}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, sc, nil, &filterError{"filters", "want an object of metadata keys, got " + describe(tok)}
	}
	f, err := p.object("filters", 1, &sc)
	if err != nil {
		return nil, sc, nil, err
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, sc, nil, &filterError{"filters", "trailing data after the object"}
	}
	if len(f.subs) == 0 {
		f = nil // {} (or only scope ids): every memory
	}
	return f, sc, p.alts, nil
}

// scopeOr parses the list of an OR where scope ids may be given (at the top
// level of filters or in its top-level AND): when each of its objects names
// scope ids, its branches become p.alts and the OR itself no condition
// (nil); when none does, it is an OR of metadata conditions; a mix is a 400
// saying what to do.
func (p *filterParser) scopeOr(path string, depth int) (*filter, error) {
	if err := p.openList(path, depth); err != nil {
		return nil, err
	}
	or := &filter{op: "or"}
	var alts []scopeAlt
	scoped, unscoped := "", ""
	p.inBranch = true
	for i := 0; p.dec.More(); i++ {
		ip := fmt.Sprintf("%s[%d]", path, i)
		tok, err := p.dec.Token()
		if err != nil {
			return nil, &filterError{ip, "not JSON: " + err.Error()}
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return nil, &filterError{ip, "want a filter object, got " + describe(tok)}
		}
		var bsc Scope
		sub, err := p.object(ip, depth+1, &bsc)
		if err != nil {
			return nil, err
		}
		or.subs = append(or.subs, sub)
		a := scopeAlt{sc: bsc, path: ip}
		if len(sub.subs) > 0 {
			a.f = sub
		}
		alts = append(alts, a)
		if bsc.Empty() && unscoped == "" {
			unscoped = ip
		} else if !bsc.Empty() && scoped == "" {
			scoped = ip
		}
	}
	p.inBranch = false
	if _, err := p.dec.Token(); err != nil { // ']'
		return nil, &filterError{path, "not JSON: " + err.Error()}
	}
	switch {
	case len(or.subs) == 0:
		return nil, &filterError{path, "want at least one filter object"}
	case scoped == "":
		return or, nil // metadata conditions only
	case unscoped != "":
		return nil, &filterError{unscoped, fmt.Sprintf("names no scope id while %s does: an OR of scopes needs user_id, agent_id or run_id in each of its objects (a memory of any scope cannot be searched for); add the scope to this object, or put the metadata conditions beside the OR", scoped)}
	case p.alts != nil:
		return nil, &filterError{path, fmt.Sprintf("a second OR of scope ids (the first is %s): give the scopes in one OR, each object holding every id of its scope", p.altPath)}
	}
	p.alts, p.altPath = alts, path
	return nil, nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '[':
			return "a list"
		case '{':
			return "an object"
		}
		return string(v)
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func (p *filterParser) count(path string) error {
	if p.terms++; p.terms > MaxFilterTerms {
		return &filterError{path, fmt.Sprintf("more than %d conditions in filters", MaxFilterTerms)}
	}
	return nil
}

func checkDepth(path string, depth int) error {
	if depth > MaxFilterDepth {
		return &filterError{path, fmt.Sprintf("filters nest deeper than %d levels", MaxFilterDepth)}
	}
	return nil
}

// object parses a filter object after its '{': the AND of its keys. sc is
// non-nil at the top level, where scope ids are read.
func (p *filterParser) object(path string, depth int, sc *Scope) (*filter, error) {
	if err := checkDepth(path, depth); err != nil {
		return nil, err
	}
	and := &filter{op: "and"}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, &filterError{path, "not JSON: " + err.Error()}
		}
		k := tok.(string)
		kp := path + metadataKey(k)
		switch k {
		case "AND", "OR", "NOT":
			// The objects of a top-level AND take scope ids too, as
			// Mem0's v2 filters put them ({"AND":[{"user_id":"u"},...]};
			// ADR-148); those of OR and NOT, or deeper, do not.
			// An OR there may give several scopes (ADR-153).
			var andScope *Scope
			if k == "AND" && depth == 1 { // the top-level object's
				andScope = sc
			}
			var sub *filter
			var err error
			if k == "OR" && sc != nil && !p.inBranch {
				sub, err = p.scopeOr(kp, depth+1)
			} else {
				sub, err = p.logical(kp, strings.ToLower(k), depth+1, andScope)
			}
			if err != nil {
				return nil, err
			}
			if sub != nil {
				and.subs = append(and.subs, sub)
			}
			continue
		case "user_id", "agent_id", "run_id":
			if sc == nil {
				return nil, &filterError{kp, "a scope id is given at the top level of filters or of its top-level AND (or as a field of the request), as a plain string, or, for several scopes, in each object of an OR there ({\"OR\":[{\"user_id\":\"a\"},{\"user_id\":\"b\"}]})"}
			}
			tok, err := p.dec.Token()
			if err != nil {
				return nil, &filterError{kp, "not JSON: " + err.Error()}
			}
			id, ok := tok.(string)
			if !ok || id == "" || id == "*" {
				return nil, &filterError{kp, "a scope id: want the id as a plain string (it selects the scope, like the field " + k + "), got " + describe(tok)}
			}
			dst := &sc.RunID
			switch k {
			case "user_id":
				dst = &sc.UserID
			case "agent_id":
				dst = &sc.AgentID
			}
			if *dst != "" && *dst != id {
				return nil, &filterError{kp, fmt.Sprintf("%s %q differs from the %s %q given before in filters", k, truncate(id), k, truncate(*dst))}
			}
			*dst = id
			continue
		}
		sub, err := p.condition(kp, k, depth+1)
		if err != nil {
			return nil, err
		}
		if timeKey(k) {
			if err := timeFilter(kp, sub); err != nil {
				return nil, err
			}
		}
		and.subs = append(and.subs, sub)
	}
	if _, err := p.dec.Token(); err != nil { // '}'
		return nil, &filterError{path, "not JSON: " + err.Error()}
	}
	return and, nil
}

// openList reads the '[' opening the list of an AND, OR or NOT at path,
// within the depth and node bounds.
func (p *filterParser) openList(path string, depth int) error {
	if err := checkDepth(path, depth); err != nil {
		return err
	}
	if err := p.count(path); err != nil {
		return err
	}
	tok, err := p.dec.Token()
	if err != nil {
		return &filterError{path, "not JSON: " + err.Error()}
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return &filterError{path, "want a list of filter objects, got " + describe(tok)}
	}
	return nil
}

// logical parses the list of an AND, OR or NOT; sc (non-nil for a
// top-level AND) takes the scope ids its objects give.
func (p *filterParser) logical(path, op string, depth int, sc *Scope) (*filter, error) {
	if err := p.openList(path, depth); err != nil {
		return nil, err
	}
	f := &filter{op: op}
	for i := 0; p.dec.More(); i++ {
		ip := fmt.Sprintf("%s[%d]", path, i)
		tok, err := p.dec.Token()
		if err != nil {
			return nil, &filterError{ip, "not JSON: " + err.Error()}
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return nil, &filterError{ip, "want a filter object, got " + describe(tok)}
		}
		sub, err := p.object(ip, depth+1, sc)
		if err != nil {
			return nil, err
		}
		f.subs = append(f.subs, sub)
	}
	if _, err := p.dec.Token(); err != nil { // ']'
		return nil, &filterError{path, "not JSON: " + err.Error()}
	}
	if len(f.subs) == 0 {
		return nil, &filterError{path, "want at least one filter object"}
	}
	return f, nil
}

// condition parses the value of a metadata key: a plain value (equality,
// "*" presence) or an operator object.
func (p *filterParser) condition(path, key string, depth int) (*filter, error) {
	if err := checkDepth(path, depth); err != nil {
		return nil, err
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, &filterError{path, "not JSON: " + err.Error()}
	}
	switch d := tok.(type) {
	case json.Delim:
		if d == '[' {
			return nil, &filterError{path, `a list is not a value to equal: {"in": [...]} matches any of its values`}
		}
	case string:
		if err := p.count(path); err != nil {
			return nil, err
		}
		if d == "*" {
			return &filter{op: "present", key: key}, nil
		}
		return &filter{op: "eq", key: key, val: scalar(tok)}, nil
	case json.Number:
		if err := p.count(path); err != nil {
			return nil, err
		}
		v, err := operand(path, tok)
		if err != nil {
			return nil, err
		}
		return &filter{op: "eq", key: key, val: v}, nil
	default:
		if err := p.count(path); err != nil {
			return nil, err
		}
		return &filter{op: "eq", key: key, val: scalar(tok)}, nil
	}
	// An operator object: its operators ANDed.
	and := &filter{op: "and"}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, &filterError{path, "not JSON: " + err.Error()}
		}
		op := tok.(string)
		op2 := path + metadataKey(op)
		if err := p.count(op2); err != nil {
			return nil, err
		}
		tok, err = p.dec.Token()
		if err != nil {
			return nil, &filterError{op2, "not JSON: " + err.Error()}
		}
		d, isDelim := tok.(json.Delim)
		switch op {
		case "eq", "ne":
			if isDelim {
				return nil, &filterError{op2, "want a string, number, boolean or null, got " + describe(d)}
			}
			v, err := operand(op2, tok)
			if err != nil {
				return nil, err
			}
			and.subs = append(and.subs, &filter{op: op, key: key, val: v})
		case "gt", "gte", "lt", "lte":
			v, err := operand(op2, tok)
			if err != nil {
				return nil, err
			}
			if v.kind != 's' && v.kind != 'n' {
				return nil, &filterError{op2, "want a number or a string, got " + describe(tok)}
			}
			and.subs = append(and.subs, &filter{op: op, key: key, val: v})
		case "contains", "icontains":
			s, ok := tok.(string)
			if !ok {
				return nil, &filterError{op2, "want a string, got " + describe(tok)}
			}
			and.subs = append(and.subs, &filter{op: op, key: key, val: fval{kind: 's', s: s}})
		case "in", "nin":
			if !isDelim || d != '[' {
				return nil, &filterError{op2, "want a list of values, got " + describe(tok)}
			}
			f := &filter{op: op, key: key}
			for i := 0; p.dec.More(); i++ {
				ep := fmt.Sprintf("%s[%d]", op2, i)
				if err := p.count(ep); err != nil {
					return nil, err
				}
				tok, err := p.dec.Token()
				if err != nil {
					return nil, &filterError{ep, "not JSON: " + err.Error()}
				}
				if _, ok := tok.(json.Delim); ok {
					return nil, &filterError{ep, "want a string, number, boolean or null, got " + describe(tok)}
				}
				v, err := operand(ep, tok)
				if err != nil {
					return nil, err
				}
				f.vals = append(f.vals, v)
			}
			if _, err := p.dec.Token(); err != nil { // ']'
				return nil, &filterError{op2, "not JSON: " + err.Error()}
			}
			and.subs = append(and.subs, f)
		default:
			return nil, &filterError{op2, fmt.Sprintf("unknown operator %q: want eq, ne, gt, gte, lt, lte, in, nin, contains or icontains", truncate(op))}
		}
	}
	if _, err := p.dec.Token(); err != nil { // '}'
		return nil, &filterError{path, "not JSON: " + err.Error()}
	}
	if len(and.subs) == 0 {
		return nil, &filterError{path, `an empty operator object: want e.g. {"eq": value}`}
	}
	return and, nil
}

func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	s = s[:64]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// operand is scalar for a filter's operand: a number scalar cannot read
// (an exponent of more than maxExpDigits digits) is refused, not a value
// that equals nothing.
func operand(path string, tok json.Token) (fval, error) {
	v := scalar(tok)
	if _, isNum := tok.(json.Number); isNum && v.kind != 'n' {
		return v, &filterError{path, fmt.Sprintf("a number with an exponent of more than %d digits", maxExpDigits)}
	}
	return v, nil
}

// scalar turns a JSON token (not a delimiter) into an fval.
func scalar(tok json.Token) fval {
	switch v := tok.(type) {
	case string:
		return fval{kind: 's', s: v}
	case json.Number:
		d, ok := parseDecimal(string(v))
		if !ok {
			return fval{kind: 'x'}
		}
		return fval{kind: 'n', num: d}
	case bool:
		return fval{kind: 'b', b: v}
	case nil:
		return fval{kind: 'z'}
	}
	return fval{kind: 'x'}
}

// metaValue turns a metadata value (json.Number after a decode; the Go
// types of an in-process Metadata) into an fval.
func metaValue(v any) fval {
	switch x := v.(type) {
	case string:
		return fval{kind: 's', s: x}
	case json.Number:
		return scalar(x)
	case float64:
		return scalar(json.Number(strconv.FormatFloat(x, 'g', -1, 64)))
	case float32:
		return scalar(json.Number(strconv.FormatFloat(float64(x), 'g', -1, 32)))
	case int:
		return scalar(json.Number(strconv.FormatInt(int64(x), 10)))
	case int64:
		return scalar(json.Number(strconv.FormatInt(x, 10)))
	case int32:
		return scalar(json.Number(strconv.FormatInt(int64(x), 10)))
	case uint64:
		return scalar(json.Number(strconv.FormatUint(x, 10)))
	case uint:
		return scalar(json.Number(strconv.FormatUint(uint64(x), 10)))
	case bool:
		return fval{kind: 'b', b: x}
	case nil:
		return fval{kind: 'z'}
	}
	return fval{kind: 'x'}
}

// equal: same kind and value (numbers by value: 1 == 1.0 == 1e0).
func (a fval) equal(b fval) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case 's':
		return a.s == b.s
	case 'n':
		return a.num.cmp(b.num) == 0
	case 'b':
		return a.b == b.b
	case 'z':
		return true
	}
	return false
}

// order compares a with b: ok is false unless both are numbers or both
// strings.
func (a fval) order(b fval) (c int, ok bool) {
	switch {
	case a.kind == 'n' && b.kind == 'n':
		return a.num.cmp(b.num), true
	case a.kind == 's' && b.kind == 's':
		return strings.Compare(a.s, b.s), true
	}
	return 0, false
}

// match reports whether memory m passes f: its metadata, and its own
// times for created_at and updated_at.
func (f *filter) match(m *Memory) bool {
	switch f.op {
	case "and":
		for _, s := range f.subs {
			if !s.match(m) {
				return false
			}
		}
		return true
	case "or":
		for _, s := range f.subs {
			if s.match(m) {
				return true
			}
		}
		return false
	case "not":
		for _, s := range f.subs {
			if s.match(m) {
				return false
			}
		}
		return true
	}
	if f.at {
		if f.key == "created_at" {
			return f.matchTime(m.CreatedAt)
		}
		return f.matchTime(m.UpdatedAt)
	}
	raw, present := m.Metadata[f.key]
	switch f.op {
	case "present":
		return present
	case "ne":
		return !present || !metaValue(raw).equal(f.val)
	case "nin":
		return !present || !inList(metaValue(raw), f.vals)
	}
	if !present {
		return false
	}
	v := metaValue(raw)
	switch f.op {
	case "eq":
		return v.equal(f.val)
	case "in":
		return inList(v, f.vals)
	case "contains":
		return v.kind == 's' && strings.Contains(v.s, f.val.s)
	case "icontains":
		return v.kind == 's' && strings.Contains(strings.ToLower(v.s), strings.ToLower(f.val.s))
	}
	c, ok := v.order(f.val)
	if !ok {
		return false
	}
	switch f.op {
	case "gt":
		return c > 0
	case "gte":
		return c >= 0
	case "lt":
		return c < 0
	case "lte":
		return c <= 0
	}
	return false
}

func inList(v fval, vals []fval) bool {
	for _, w := range vals {
		if v.equal(w) {
			return true
		}
	}
	return false
}

// maxExpDigits bounds the exponent of a number that compares (1e400 is
// three digits; a googolplex's exponent has 101).
const maxExpDigits = 1000

// decimal is a JSON number as sign * 0.digits * 10^exp, digits without
// leading or trailing zeros (zero: no digits), compared exactly without
// building the number (1e999999999 costs nothing).
type decimal struct {
	neg    bool
	digits string
	exp    *big.Int
}

// parseDecimal reads a JSON number's text.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	if strings.HasPrefix(s, "-") {
		d.neg, s = true, s[1:]
	}
	mant, ex, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return d, false
	}
	e := new(big.Int)
	if hasExp {
		ex = strings.TrimPrefix(ex, "+")
		if len(strings.TrimLeft(strings.TrimPrefix(ex, "-"), "0")) > maxExpDigits {
			// Reading it costs quadratic time in its length, and a
			// metadata number is read at every comparison: such a
			// metadata value compares with nothing.
			return d, false
		}
		if _, ok := e.SetString(ex, 10); !ok {
			return d, false
		}
	}
	digits := intPart + frac
	e.Add(e, big.NewInt(int64(len(intPart))))
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	digits = digits[lead:]
	e.Sub(e, big.NewInt(int64(lead)))
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return decimal{exp: new(big.Int)}, true // zero, -0 included
	}
	d.digits, d.exp = digits, e
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cmp compares d with o: -1, 0 or 1.
func (d decimal) cmp(o decimal) int {
	ds, os := d.sign(), o.sign()
	if ds != os {
		if ds < os {
			return -1
		}
		return 1
	}
	if ds == 0 {
		return 0
	}
	c := d.exp.Cmp(o.exp)
	if c == 0 {
		c = strings.Compare(d.digits, o.digits)
	}
	return c * ds
}

func (d decimal) sign() int {
	switch {
	case d.digits == "":
		return 0
	case d.neg:
		return -1
	}
	return 1
}
