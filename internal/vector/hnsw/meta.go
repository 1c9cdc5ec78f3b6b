package hnsw

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"lakehouse-go/internal/errs"
)

// Metadata holds an item's fields: JSON scalars only (string, number, bool).
// Numbers are kept as float64, as encoding/json decodes them. A field whose
// value is null (nil) is no field: it is dropped on upsert, like a null
// metadata object, and stored, shown and matched as absent.
type Metadata map[string]any

// Filter selects items by metadata: every field must match. A value is either
// a scalar (equality), a list ([]any, []string, []float64, []int, ...) of
// scalars ("in": any of them) or a numeric range: a Range, or on the wire an
// object of "gt", "gte", "lt", "lte" numbers (Qdrant's range). A number
// matches a number of the same value; a range matches only numbers, never
// an item whose field is missing or holds a string or a bool.
type Filter map[string]any

// Range is a filter field's numeric range: every bound given must hold.
// At least one bound, each a finite number.
type Range struct {
	Gt  *float64 `json:"gt,omitempty"`
	Gte *float64 `json:"gte,omitempty"`
	Lt  *float64 `json:"lt,omitempty"`
	Lte *float64 `json:"lte,omitempty"`
}

// contains reports whether x lies in r.
func (r *Range) contains(x float64) bool {
	return (r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte) &&
		(r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte)
}

// check refuses a range without a bound or with a bound that is no finite
// number.
func (r *Range) check(op, field string) error {
	n := 0
	for _, b := range []*float64{r.Gt, r.Gte, r.Lt, r.Lte} {
		if b == nil {
			continue
		}
		n++
		if math.IsNaN(*b) || math.IsInf(*b, 0) {
			return errs.Errorf(op, errs.Invalid, "filter field %q: range bounds must be finite numbers", field)
		}
	}
	if n == 0 {
		return errs.Errorf(op, errs.Invalid, "filter field %q: a range needs at least one of gt, gte, lt, lte", field)
	}
	return nil
}

// parseRange reads a filter field's JSON object as a Range: only the keys
// gt, gte, lt, lte, each a finite number (json.Number, float64 or an int
// from Go callers).
func parseRange(op, field string, m map[string]any) (*Range, error) {
	r := &Range{}
	for _, k := range slices.Sorted(maps.Keys(m)) { // a bad key named the same every time
		v := m[k]
		var dst **float64
		switch k {
		case "gt":
			dst = &r.Gt
		case "gte":
			dst = &r.Gte
		case "lt":
			dst = &r.Lt
		case "lte":
			dst = &r.Lte
		default:
			return nil, errs.Errorf(op, errs.Invalid, "filter field %q: range key %q: want gt, gte, lt or lte (an object in a filter is a numeric range)", field, cutKey(k))
		}
		nv, ok := normScalar(v)
		f, isNum := nv.(float64)
		if !ok || !isNum {
			if n, isN := v.(json.Number); isN && inexactInt(n) {
				// Not scalarProblem's "send it as a string": a range
				// never matches a string. A bound in float form is taken.
				f, _ := strconv.ParseFloat(string(n), 64)
				return nil, errs.Errorf(op, errs.Invalid, "filter field %q: range %s: integer %s is beyond what a number holds exactly (2^53); a range compares float64 values: write the bound as one (%s)", field, k, n, strconv.FormatFloat(f, 'e', -1, 64))
			}
			return nil, errs.Errorf(op, errs.Invalid, "filter field %q: range %s must be a finite number", field, k)
		}
		*dst = &f
	}
	if err := r.check(op, field); err != nil {
		return nil, err
	}
	return r, nil
}

// cutKey cuts a key named in a message to 64 bytes.
func cutKey(k string) string {
	if len(k) <= 64 {
		return k
	}
	return k[:64] + "..."
}

// normScalar returns v as one of string, float64, bool.
func normScalar(v any) (any, bool) {
	switch x := v.(type) {
	case json.Number: // vectord decodes requests with UseNumber
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || inexactInt(x) {
			return nil, false
		}
		return normScalar(f)
	case string:
		return x, true
	case bool:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return x, true
	case float32:
		return normScalar(float64(x))
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return nil, false
}

// inexactInt reports whether n is an integer literal that a float64 does
// not hold as written (beyond 2^53: 9007199254740993 would be stored, shown
// and matched as 9007199254740992).
func inexactInt(n json.Number) bool {
	lit := string(n)
	if strings.ContainsAny(lit, ".eE") {
		return false
	}
	f, err := strconv.ParseFloat(lit, 64)
	return err == nil && strconv.FormatFloat(f, 'f', -1, 64) != lit
}

// scalarProblem says why v is no metadata or filter value.
func scalarProblem(v any) string {
	if n, ok := v.(json.Number); ok && inexactInt(n) {
		return fmt.Sprintf("integer %s is beyond what a number holds exactly (2^53); send it as a string", n)
	}
	return "must be a string, a finite number or a bool"
}

// valueKey is the inverted index key of a normalised scalar.
func valueKey(v any) string {
	switch x := v.(type) {
	case string:
		return "s" + x
	case bool:
		if x {
			return "b1"
		}
		return "b0"
	case float64:
		return numKey(x)
	}
	return ""
}

// numKey is a number's value key: 'n' and its float64 bits, so a range
// reads the number back without parsing (keyNum).
func numKey(x float64) string {
	if x == 0 { // -0 == 0
		x = 0
	}
	var b [9]byte
	b[0] = 'n'
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(x))
	return string(b[:])
}

// keyNum is the number of a value key, ok false for a string's or a bool's.
func keyNum(key string) (float64, bool) {
	if len(key) != 9 || key[0] != 'n' {
		return 0, false
	}
	return math.Float64frombits(binary.BigEndian.Uint64([]byte(key[1:]))), true
}

// cleanMetadata validates md and returns a private normalised copy without
// its null fields (nil when no field is left).
func cleanMetadata(op string, md Metadata, what string) (Metadata, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(Metadata, len(md))
	// Of several bad fields, the one named is the first in name order (the
	// empty name first), not the first met: in map order the same request
	// was refused naming a different field from call to call.
	bad, badErr := "", error(nil)
	for k, v := range md {
		if badErr != nil && k >= bad {
			continue
		}
		if k == "" {
			bad, badErr = k, errs.Errorf(op, errs.Invalid, "%s has an empty metadata field name", what)
			continue
		}
		if v == nil {
			continue // JSON null: no value, the field is absent
		}
		nv, ok := normScalar(v)
		if !ok {
			bad, badErr = k, errs.Errorf(op, errs.Invalid, "%s metadata field %q %s", what, k, scalarProblem(v))
			continue
		}
		out[k] = nv
	}
	if badErr != nil {
		return nil, badErr
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// compiledFilter is a filter as value keys per field: an item matches when,
// for every field, its value has one of the field's keys.
type compiledFilter []filterField

type filterField struct {
	name string
	keys []string
	rng  *Range // a range instead of keys
}

// matches reports whether md passes every field of cf, as Index.match
// decides for the slots it indexes (scroll's per-item check).
func (cf compiledFilter) matches(md Metadata) bool {
	for _, f := range cf {
		v, ok := md[f.name]
		if !ok {
			return false
		}
		if f.rng != nil {
			x, isNum := v.(float64)
			if !isNum || !f.rng.contains(x) {
				return false
			}
			continue
		}
		if !slices.Contains(f.keys, valueKey(v)) {
			return false
		}
	}
	return true
}

func compileFilter(op string, f Filter) (compiledFilter, error) {
	cf := make(compiledFilter, 0, len(f))
	// Fields in name order: of several bad ones, the same is named every
	// time (in map order the same filter was refused naming a different
	// field from call to call).
	for _, field := range slices.Sorted(maps.Keys(f)) {
		v := f[field]
		if field == "" {
			// Metadata never has one (cleanMetadata refuses it): a wrong
			// filter, not one that matches nothing.
			return nil, errs.Errorf(op, errs.Invalid, "filter has an empty field name; metadata field names are never empty")
		}
		var rng *Range
		switch x := v.(type) {
		case map[string]any:
			r, err := parseRange(op, field, x)
			if err != nil {
				return nil, err
			}
			rng = r
		case Range:
			rng = &x
		case *Range:
			if x == nil {
				return nil, errs.Errorf(op, errs.Invalid, "filter field %q: null is no value to match", field)
			}
			c := *x
			rng = &c
		}
		if rng != nil {
			if err := rng.check(op, field); err != nil {
				return nil, err
			}
			cf = append(cf, filterField{name: field, rng: rng})
			continue
		}
		var keys []string
		add := func(x any) error {
			if x == nil {
				// As Qdrant's match refuses null: a null metadata field is
				// stored as absent, so there is no null value to match.
				return errs.Errorf(op, errs.Invalid, "filter field %q: null is no value to match (a null metadata field is stored as absent); want strings, finite numbers or bools", field)
			}
			nv, ok := normScalar(x)
			if !ok {
				if n, isNum := x.(json.Number); isNum && inexactInt(n) {
					return errs.Errorf(op, errs.Invalid, "filter field %q: %s", field, scalarProblem(x))
				}
				return errs.Errorf(op, errs.Invalid, "filter field %q: values must be strings, finite numbers or bools", field)
			}
			keys = append(keys, valueKey(nv))
			return nil
		}
		var err error
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if err = add(e); err != nil {
					break
				}
			}
		case []string:
			for _, e := range x {
				keys = append(keys, valueKey(e))
			}
		case []float64:
			for _, e := range x {
				if err = add(e); err != nil {
					break
				}
			}
		case []int:
			for _, e := range x {
				keys = append(keys, valueKey(float64(e)))
			}
		case []bool:
			for _, e := range x {
				keys = append(keys, valueKey(e))
			}
		default:
			err = add(v)
		}
		if err != nil {
			return nil, err
		}
		cf = append(cf, filterField{name: field, keys: keys})
	}
	return cf, nil
}

// postings is the inverted index: field -> value key -> sorted live slots.
type postings map[string]map[string][]uint32

func (p postings) add(slot uint32, md Metadata) {
	for k, v := range md {
		m := p[k]
		if m == nil {
			m = make(map[string][]uint32)
			p[k] = m
		}
		key := valueKey(v)
		l := m[key]
		if n := len(l); n == 0 || l[n-1] < slot {
			m[key] = append(l, slot)
			continue
		}
		i, found := slices.BinarySearch(l, slot)
		if !found {
			m[key] = slices.Insert(l, i, slot)
		}
	}
}

func (p postings) remove(slot uint32, md Metadata) {
	for k, v := range md {
		m := p[k]
		if m == nil {
			continue
		}
		key := valueKey(v)
		l := m[key]
		if i, found := slices.BinarySearch(l, slot); found {
			l = slices.Delete(l, i, i+1)
			if len(l) == 0 {
				delete(m, key)
				if len(m) == 0 {
					delete(p, k)
				}
			} else {
				m[key] = l
			}
		}
	}
}

// rangeSet is the sorted slots whose number in a field (vals: its value
// keys) lies in r: the field's distinct numbers are read from their keys
// (no parsing) and their posting lists merged.
func rangeSet(vals map[string][]uint32, r *Range, n int) []uint32 {
	var bits []uint64
	var first []uint32 // the only list in range, while there is one
	lists, total := 0, 0
	for k, l := range vals {
		if x, ok := keyNum(k); !ok || !r.contains(x) {
			continue
		}
		lists++
		total += len(l)
		if lists == 1 {
			first = l
			continue
		}
		if bits == nil {
			bits = make([]uint64, (n+63)/64)
			for _, s := range first {
				bits[s>>6] |= 1 << (s & 63)
			}
		}
		for _, s := range l {
			bits[s>>6] |= 1 << (s & 63)
		}
	}
	if lists <= 1 {
		return first
	}
	out := make([]uint32, 0, total)
	for w, x := range bits {
		for x != 0 {
			out = append(out, uint32(w*64+bits64TrailingZeros(x)))
			x &= x - 1
		}
	}
	return out
}

// keysSet is the union of the posting lists of keys.
func keysSet(vals map[string][]uint32, keys []string, n int) []uint32 {
	var set []uint32
	switch len(keys) {
	case 0:
	case 1:
		set = vals[keys[0]]
	case 2:
		set = union(vals[keys[0]], vals[keys[1]])
	default:
		set = unionMany(vals, keys, n)
	}
	return set
}

// unionMany merges many posting lists through a bitset: O(total + n/64).
func unionMany(vals map[string][]uint32, keys []string, n int) []uint32 {
	bits := make([]uint64, (n+63)/64)
	total := 0
	for _, k := range keys {
		l := vals[k]
		total += len(l)
		for _, s := range l {
			bits[s>>6] |= 1 << (s & 63)
		}
	}
	out := make([]uint32, 0, total)
	for w, x := range bits {
		for x != 0 {
			out = append(out, uint32(w*64+bits64TrailingZeros(x)))
			x &= x - 1
		}
	}
	return out
}

func union(a, b []uint32) []uint32 {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func intersect(a, b []uint32) []uint32 {
	out := make([]uint32, 0, min(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// Metadata binary codec, shared by LHV1 and the WAL:
//
//	uvarint nfields, then per field (sorted by name):
//	uvarint len, name bytes, tag byte, value
//	tag 's': uvarint len, UTF-8 bytes; 'n': float64 bits, 8 bytes little-endian;
//	tag 't' / 'f': bool true / false (no value bytes)

// AppendMetadata appends the binary encoding of md (already validated) to b.
// Null fields are left out (they are absent), so md encodes exactly as its
// cleaned copy does: the WAL logs a batch as it came in.
func AppendMetadata(b []byte, md Metadata) []byte {
	keys := make([]string, 0, len(md))
	for k, v := range md {
		if v != nil {
			keys = append(keys, k)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	slices.Sort(keys)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = appendValue(b, md[k])
	}
	return b
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		b = append(b, 's')
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...)
	case float64:
		b = append(b, 'n')
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	}
	if nv, ok := normScalar(v); ok {
		return appendValue(b, nv)
	}
	return appendValue(b, "")
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

var errMetaCorrupt = errors.New("corrupt metadata encoding")

// DecodeMetadata decodes one encoded Metadata from the start of b and returns
// it with the number of bytes used. An empty field set decodes to nil.
func DecodeMetadata(b []byte) (Metadata, int, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, 0, errMetaCorrupt
	}
	off := w
	if n == 0 {
		return nil, off, nil
	}
	md := make(Metadata, n)
	for range n {
		kl, w := binary.Uvarint(b[off:])
		if w <= 0 || kl == 0 || kl > uint64(len(b)-off-w) {
			return nil, 0, errMetaCorrupt
		}
		off += w
		k := string(b[off : off+int(kl)])
		off += int(kl)
		if _, dup := md[k]; dup {
			return nil, 0, errMetaCorrupt
		}
		if off >= len(b) {
			return nil, 0, errMetaCorrupt
		}
		tag := b[off]
		off++
		switch tag {
		case 's':
			sl, w := binary.Uvarint(b[off:])
			if w <= 0 || sl > uint64(len(b)-off-w) {
				return nil, 0, errMetaCorrupt
			}
			off += w
			md[k] = string(b[off : off+int(sl)])
			off += int(sl)
		case 'n':
			if len(b)-off < 8 {
				return nil, 0, errMetaCorrupt
			}
			f := math.Float64frombits(binary.LittleEndian.Uint64(b[off:]))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, 0, errMetaCorrupt
			}
			md[k] = f
			off += 8
		case 't':
			md[k] = true
		case 'f':
			md[k] = false
		default:
			return nil, 0, errMetaCorrupt
		}
	}
	return md, off, nil
}

func bits64TrailingZeros(x uint64) int { return bits.TrailingZeros64(x) }
