package engine

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// encoder renders values of one DuckDB type (see the query package doc for
// the rules). It is built once per column from the statement's TypeInfo, so
// STRUCT fields keep their declared order and DATE, TIME and TIMESTAMP keep
// their own formats.
type encoder struct {
	t       duckdb.Type
	alias   string
	child   *encoder   // LIST, ARRAY
	fields  []string   // STRUCT
	fenc    []*encoder // STRUCT
	key     *encoder   // MAP
	val     *encoder   // MAP
	members map[string]*encoder
}

const maxSafeInt = 1 << 53

func newEncoder(ti duckdb.TypeInfo) encoder {
	e := encoder{t: ti.InternalType(), alias: ti.Alias()}
	switch d := ti.Details().(type) {
	case *duckdb.ListDetails:
		c := newEncoder(d.Child)
		e.child = &c
	case *duckdb.ArrayDetails:
		c := newEncoder(d.Child)
		e.child = &c
	case *duckdb.StructDetails:
		for _, entry := range d.Entries {
			c := newEncoder(entry.Info())
			e.fields = append(e.fields, entry.Name())
			e.fenc = append(e.fenc, &c)
		}
	case *duckdb.MapDetails:
		k, v := newEncoder(d.Key), newEncoder(d.Value)
		e.key, e.val = &k, &v
	case *duckdb.UnionDetails:
		e.members = map[string]*encoder{}
		for _, m := range d.Members {
			c := newEncoder(m.Type)
			e.members[m.Name] = &c
		}
	}
	return e
}

// encoderFromName is the encoder of a type known only by name (nested
// types then render with sorted STRUCT keys).
func encoderFromName(name string) encoder {
	switch name {
	case "DATE":
		return encoder{t: duckdb.TYPE_DATE}
	case "TIME":
		return encoder{t: duckdb.TYPE_TIME}
	case "TIME WITH TIME ZONE":
		return encoder{t: duckdb.TYPE_TIME_TZ}
	case "TIMESTAMP WITH TIME ZONE":
		return encoder{t: duckdb.TYPE_TIMESTAMP_TZ}
	case "TIMESTAMP_NS":
		return encoder{t: duckdb.TYPE_TIMESTAMP_NS}
	case "UUID":
		return encoder{t: duckdb.TYPE_UUID}
	case "JSON":
		return encoder{t: duckdb.TYPE_VARCHAR, alias: "JSON"}
	case "VARCHAR":
		return encoder{t: duckdb.TYPE_VARCHAR}
	}
	return encoder{}
}

// json appends v as JSON.
func (e *encoder) json(b []byte, v any) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	switch x := v.(type) {
	case bool:
		return strconv.AppendBool(b, x)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			b = append(b, '"')
			b = strconv.AppendInt(b, x, 10)
			return append(b, '"')
		}
		return strconv.AppendInt(b, x, 10)
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint64:
		if x > maxSafeInt {
			b = append(b, '"')
			b = strconv.AppendUint(b, x, 10)
			return append(b, '"')
		}
		return strconv.AppendUint(b, x, 10)
	case *big.Int:
		if x.IsInt64() && x.Int64() <= maxSafeInt && x.Int64() >= -maxSafeInt {
			return x.Append(b, 10)
		}
		b = append(b, '"')
		b = x.Append(b, 10)
		return append(b, '"')
	case float32:
		return appendFloat(b, float64(x), 32)
	case float64:
		return appendFloat(b, x, 64)
	case string:
		if e.alias == "JSON" && json.Valid([]byte(x)) {
			return append(b, x...)
		}
		return appendJSONString(b, x)
	case []any:
		b = append(b, '[')
		c := e.child
		if c == nil {
			c = &encoder{}
		}
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.json(b, el)
		}
		return append(b, ']')
	case map[string]any:
		b = append(b, '{')
		if len(e.fields) > 0 {
			for i, f := range e.fields {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, f)
				b = append(b, ':')
				b = e.fenc[i].json(b, x[f])
			}
			return append(b, '}')
		}
		first := true
		for k, el := range x {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = (&encoder{}).json(b, el)
		}
		return append(b, '}')
	case duckdb.OrderedMap:
		return e.jsonMap(b, x.Keys(), x.Values())
	case *duckdb.OrderedMap:
		return e.jsonMap(b, x.Keys(), x.Values())
	case duckdb.Union:
		c := e.members[x.Tag]
		if c == nil {
			c = &encoder{}
		}
		return c.json(b, x.Value)
	case duckdb.Interval:
		return fmt.Appendf(b, `{"months":%d,"days":%d,"micros":%d}`, x.Months, x.Days, x.Micros)
	}
	if s, ok := e.scalarText(v); ok {
		return appendJSONString(b, s)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return appendJSONString(b, fmt.Sprint(v))
	}
	return append(b, raw...)
}

func (e *encoder) jsonMap(b []byte, keys, vals []any) []byte {
	kenc, venc := e.key, e.val
	if kenc == nil {
		kenc = &encoder{}
	}
	if venc == nil {
		venc = &encoder{}
	}
	if kenc.t == duckdb.TYPE_VARCHAR {
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			s, _ := k.(string)
			b = appendJSONString(b, s)
			b = append(b, ':')
			b = venc.json(b, vals[i])
		}
		return append(b, '}')
	}
	b = append(b, '[')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = kenc.json(b, k)
		b = append(b, `,"value":`...)
		b = venc.json(b, vals[i])
		b = append(b, '}')
	}
	return append(b, ']')
}

// scalarText is the text form of scalar values that JSON carries as strings.
func (e *encoder) scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case duckdb.Decimal:
		return x.String(), true
	case *duckdb.Decimal:
		return x.String(), true
	case time.Time:
		if inf := infinity(e.t, x); inf != "" {
			return inf, true
		}
		switch e.t {
		case duckdb.TYPE_DATE:
			return x.Format("2006-01-02"), true
		case duckdb.TYPE_TIME:
			return x.Format("15:04:05.999999"), true
		case duckdb.TYPE_TIME_TZ:
			return x.Format("15:04:05.999999Z07:00"), true
		case duckdb.TYPE_TIMESTAMP_TZ:
			return x.UTC().Format(time.RFC3339Nano), true
		case duckdb.TYPE_TIMESTAMP_NS:
			return x.UTC().Format("2006-01-02T15:04:05.999999999"), true
		}
		return x.UTC().Format("2006-01-02T15:04:05.999999"), true
	case []byte:
		if e.t == duckdb.TYPE_UUID && len(x) == 16 {
			return uuidString(x), true
		}
		return base64.StdEncoding.EncodeToString(x), true
	case duckdb.UUID:
		return uuidString(x[:]), true
	case *duckdb.UUID:
		return uuidString(x[:]), true
	case fmt.Stringer:
		return x.String(), true
	}
	return "", false
}

// infinity is "infinity" or "-infinity" when x is the driver's reading of
// DuckDB's infinite DATE or TIMESTAMP of type t (the largest or smallest
// value of its unit, which DuckDB reserves for them), else "".
func infinity(t duckdb.Type, x time.Time) string {
	var v, max int64
	switch t {
	case duckdb.TYPE_DATE:
		v, max = x.Unix()/86400, math.MaxInt32
	case duckdb.TYPE_TIMESTAMP, duckdb.TYPE_TIMESTAMP_TZ:
		v, max = x.UnixMicro(), math.MaxInt64
	case duckdb.TYPE_TIMESTAMP_MS:
		v, max = x.UnixMilli(), math.MaxInt64
	case duckdb.TYPE_TIMESTAMP_NS:
		v, max = x.UnixNano(), math.MaxInt64
	default:
		return ""
	}
	switch v {
	case max:
		return "infinity"
	case -max:
		return "-infinity"
	}
	return ""
}

// text renders v for CSV: NULL is empty, scalars as text, nested as JSON.
func (e *encoder) text(v any) string {
	if v == nil {
		return ""
	}
	switch x := v.(type) {
	case []any, map[string]any, duckdb.OrderedMap, *duckdb.OrderedMap, duckdb.Interval:
		return string(e.json(nil, v))
	case duckdb.Union:
		c := e.members[x.Tag]
		if c == nil {
			c = &encoder{}
		}
		return c.text(x.Value)
	case *big.Int:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	if s, ok := e.scalarText(v); ok {
		return s
	}
	s := string(e.json(nil, v))
	if len(s) >= 2 && s[0] == '"' {
		var u string
		if json.Unmarshal([]byte(s), &u) == nil {
			return u
		}
	}
	return s
}

func uuidString(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:16])
	return string(buf[:])
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (invalid UTF-8 replaced).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
