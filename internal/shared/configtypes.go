package shared

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// wrongTypes finds every value in a config file whose TOML type does not fit
// its key, for a file whose one-pass decode failed: BurntSushi's decoder stops
// at the first such value, so `-check` would name one mistake per run where
// ADR-118 promises every problem at once (ADR-193). Each key the Config knows
// is decoded on its own; each that fails is reported and left out of the
// returned table, which then decodes like a file without those keys (their
// defaults stand, and the rest of the file is still validated). Keys the
// Config does not know are left in: the decode of the returned table reports
// them as unknown. keys names each value left out as Config.wrongTyped
// takes it ("data_dir", "[report]", "[queryd].timeout"). err is a file that
// does not read or parse.
func wrongTypes(path string) (clean map[string]any, problems []error, keys []string, err error) {
	var raw map[string]any
	md, err := toml.DecodeFile(path, &raw)
	if err != nil {
		return nil, nil, nil, err
	}
	top := reflect.TypeOf(Config{})
	for _, k := range md.Keys() { // in the file's order
		switch len(k) {
		case 1:
			f, ok := tomlField(top, k[0])
			if !ok {
				continue
			}
			if isSection(f.Type) {
				if _, ok := raw[k[0]].(map[string]any); !ok {
					problems = append(problems, fmt.Errorf("[%s] %s: want a table ([%s] and its keys)", k[0], tomlValue(raw[k[0]]), k[0]))
					keys = append(keys, "["+k[0]+"]")
					delete(raw, k[0])
				}
				continue
			}
			if !decodesAs(map[string]any{k[0]: raw[k[0]]}) {
				problems = append(problems, fmt.Errorf("%s %s: want %s", k[0], tomlValue(raw[k[0]]), wantType(f.Type)))
				keys = append(keys, k[0])
				delete(raw, k[0])
			}
		case 2:
			sec, ok := tomlField(top, k[0])
			if !ok || !isSection(sec.Type) {
				continue
			}
			tbl, ok := raw[k[0]].(map[string]any)
			if !ok {
				continue // reported (and removed) as the section
			}
			f, ok := tomlField(sec.Type, k[1])
			if !ok {
				continue
			}
			v := tbl[k[1]]
			if !decodesAs(map[string]any{k[0]: map[string]any{k[1]: v}}) {
				problems = append(problems, fmt.Errorf("[%s].%s %s: want %s", k[0], k[1], tomlValue(v), wantType(f.Type)))
				keys = append(keys, "["+k[0]+"]."+k[1])
				delete(tbl, k[1])
			}
		}
	}
	return raw, problems, keys, nil
}

// decodesAs reports whether a one-key table decodes into a Config.
func decodesAs(probe map[string]any) bool {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(probe); err != nil {
		return false
	}
	_, err := toml.Decode(buf.String(), Default(""))
	return err == nil
}

// decodeTable decodes a table from wrongTypes into c, as toml.DecodeFile
// would decode the file it came from.
func decodeTable(tbl map[string]any, c *Config) (toml.MetaData, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(tbl); err != nil {
		return toml.MetaData{}, err
	}
	return toml.Decode(buf.String(), c)
}

var durationType = reflect.TypeOf(Duration{})

// isSection reports whether a Config field is a [section] (a struct other
// than a Duration).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// tomlField finds the field a key names in t, looking into embedded structs
// (every daemon section embeds ServerConfig) as the decoder does.
func tomlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if g, ok := tomlField(f.Type, key); ok {
				return g, true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// wantType says what a key of type t takes, in an operator's words.
func wantType(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration string such as "30s", "1m30s" or "0s" (units ns, us, ms, s, m, h)`
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return `a string ("...")`
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return `a list of strings such as ["a", "b"]`
	}
	return "a value of type " + t.String()
}

// tomlValue shows a decoded TOML value as the operator wrote it.
func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case map[string]any:
		return "(a table)"
	case []map[string]any:
		return "(an array of tables)"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = tomlValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
