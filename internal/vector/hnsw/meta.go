package hnsw

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
// a scalar (equality) or a list ([]any, []string, []float64, []int, ...) of
// scalars ("in": any of them). A number matches a number of the same value.
type Filter map[string]any

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
		if x == 0 { // -0 == 0
			x = 0
		}
		return "n" + strconv.FormatFloat(x, 'g', -1, 64)
	}
	return ""
}

// cleanMetadata validates md and returns a private normalised copy without
// its null fields (nil when no field is left).
func cleanMetadata(op string, md Metadata, what string) (Metadata, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(Metadata, len(md))
	for k, v := range md {
		if k == "" {
			return nil, errs.Errorf(op, errs.Invalid, "%s has an empty metadata field name", what)
		}
		if v == nil {
			continue // JSON null: no value, the field is absent
		}
		nv, ok := normScalar(v)
		if !ok {
			return nil, errs.Errorf(op, errs.Invalid, "%s metadata field %q %s", what, k, scalarProblem(v))
		}
		out[k] = nv
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
}

func compileFilter(op string, f Filter) (compiledFilter, error) {
	cf := make(compiledFilter, 0, len(f))
	for field, v := range f {
		if field == "" {
			// Metadata never has one (cleanMetadata refuses it): a wrong
			// filter, not one that matches nothing.
			return nil, errs.Errorf(op, errs.Invalid, "filter has an empty field name; metadata field names are never empty")
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

// match returns the sorted live slots (of n slots) matching cf. The result
// may alias a posting list: callers must not modify it.
func (p postings) match(cf compiledFilter, n int) []uint32 {
	var acc []uint32
	for i, f := range cf {
		vals := p[f.name]
		var set []uint32
		switch len(f.keys) {
		case 1:
			set = vals[f.keys[0]]
		case 2:
			set = union(vals[f.keys[0]], vals[f.keys[1]])
		default:
			set = unionMany(vals, f.keys, n)
		}
		if i == 0 {
			acc = set
		} else {
			acc = intersect(acc, set)
		}
		if len(acc) == 0 {
			return nil
		}
	}
	return acc
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
