package convert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestJSONDocuments: a JSON array of objects and objects written over
// several lines are read as JSONL is — types, exact big integers, late
// fractions, appends by name (ADR-023 "JSON arrays and pretty-printed
// objects").
func TestJSONDocuments(t *testing.T) {
	c := newConv(t)
	many := func(n int, elem, last string) string {
		var b strings.Builder
		b.WriteString("[\n")
		for i := 0; i < n; i++ {
			b.WriteString("  " + elem + ",\n")
		}
		b.WriteString("  " + last + "\n]\n")
		return b.String()
	}
	dataset := []Column{{Name: "id", Type: "BIGINT"}, {Name: "price", Type: "DOUBLE"}, {Name: "note", Type: "VARCHAR"}}
	cases := []struct {
		name, data string
		in         []Column
		format     string // what it was read as
		rows       int64
		schema     string
		values     string // all rows as text ("" not checked)
	}{
		{"array", `[{"a":1,"b":"x"},{"a":2,"b":null}]`, nil, "json", 2, "a BIGINT,b VARCHAR", "1|x;2|NULL"},
		{"pretty array", "[\n  {\n    \"a\": 1,\n    \"b\": \"x\"\n  },\n  {\n    \"a\": 2,\n    \"b\": \"y\"\n  }\n]\n", nil, "json", 2, "a BIGINT,b VARCHAR", "1|x;2|y"},
		{"pretty objects", "{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}\n", nil, "json", 2, "a BIGINT", "1;2"},
		{"objects on one line", `{"a":1} {"a":2}` + "\n", nil, "json", 2, "a BIGINT", "1;2"},
		{"jsonl as json", "{\"a\":1}\n{\"a\":2}\n", nil, "jsonl", 2, "a BIGINT", "1;2"},
		{"jsonl then pretty", "{\"a\":1}\n{\n\"a\":2}\n", nil, "json", 2, "a BIGINT", "1;2"},
		{"bom and blanks", "\ufeff \r\n\t[ {\"a\" : 1} , {\"a\":2} ] \n\n", nil, "json", 2, "a BIGINT", "1;2"},
		{"strings kept", `[{"s":"a]}\"{[\n\u00e9 \\"}]`, nil, "json", 1, "s VARCHAR", "a]}\"{[\né \\"},
		{"null element", `[{"a":1},null,{"a":3}]`, nil, "json", 3, "a BIGINT", "1;NULL;3"},
		{"big integers exact", "[\n {\"v\": 18446744073709551617},\n {\"v\": -1}\n]", nil, "json", 2, "v DECIMAL(38,0)", "18446744073709551617;-1"},
		{"late fraction", many(30000, `{"a": 1}`, `{"a": 7.5}`), nil, "json", 30001, "a DOUBLE", ""},
		{"late key", many(30000, `{"a": 1}`, `{"a": 2, "late": "x"}`), nil, "json", 30001, "a BIGINT,late VARCHAR", ""},
		{"append by name", "[\n {\"price\": 3, \"id\": 2},\n {\"id\": 3, \"note\": \"n\"}\n]", dataset, "json", 2, "id BIGINT,price DOUBLE,note VARCHAR", "2|3.0|NULL;3|NULL|n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, err := c.Convert(context.Background(), Input{Path: write(t, "in.json", []byte(tc.data)), Format: "json", Schema: tc.in}, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tc.format || res.Rows != tc.rows {
				t.Fatalf("format %q rows %d, want %q %d", res.Format, res.Rows, tc.format, tc.rows)
			}
			var sch []string
			for _, col := range res.Schema {
				sch = append(sch, col.Name+" "+col.Type)
			}
			if strings.Join(sch, ",") != tc.schema {
				t.Fatalf("schema %v", sch)
			}
			if tc.values != "" {
				if got := dump(t, c, res); got != tc.values {
					t.Fatalf("values %q, want %q", got, tc.values)
				}
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "json-*"))
			if len(left) > 0 {
				t.Fatalf("rewrite left behind: %v", left)
			}
		})
	}
}

// TestJSONDocumentErrors: what is not an array of objects or objects is a
// located 400, and so is every value the JSONL path refuses, named by the
// element and the line of the file where it starts; nothing is left.
func TestJSONDocumentErrors(t *testing.T) {
	c := newConv(t)
	bigint := []Column{{Name: "id", Type: "BIGINT"}}
	cases := []struct {
		name, data string
		in         []Column
		want       []string
	}{
		{"scalar number", "42\n", nil, []string{"line 1, byte 1", "holds a number", "not JSON objects"}},
		{"scalar string", "\n  \"x\"", nil, []string{"line 2, byte 3", "holds a string"}},
		{"scalar boolean", "true", nil, []string{"line 1, byte 1", "a boolean"}},
		{"not json", "id,name\n1,a\n", nil, []string{"line 1, byte 1", "malformed JSON"}},
		{"array of numbers", "[1, 2]", nil, []string{"line 1, byte 2", "array element 1 is a number, not a JSON object"}},
		{"array of arrays", "[\n {\"a\":1},\n [1]\n]", nil, []string{"line 3, byte 2", "array element 2 is an array"}},
		{"array of strings", `[{"a":1},"x"]`, nil, []string{"array element 2 is a string"}},
		{"object then scalar", "{\"a\":1}\n7\n", nil, []string{"line 2", "not a JSON object", "number"}}, // read as JSONL
		{"pretty object then scalar", "{\n\"a\":1}\n7\n", nil, []string{"line 3, byte 1", "object 2 is a number"}},
		{"malformed inside", "[\n {\"a\": 1,\n  \"b\": }\n]", nil, []string{"line 3, byte 8", "malformed JSON in array element 1", "invalid character '}'"}},
		{"malformed pretty object", "{\n \"a\": 1\n}\n{\n \"a\" 2\n}\n", nil, []string{"line 5, byte 6", "malformed JSON in object 2"}},
		{"not closed", "[{\"a\":1},\n{\"a\":2}", nil, []string{"line 2", "not closed"}},
		{"element not closed", "[{\"a\":1},\n{\"a\":2", nil, []string{"line 2, byte 1", "array element 2 is not closed"}},
		{"trailing comma", "[{\"a\":1},\n]", nil, []string{"line 2, byte 1", "a comma before the ]"}},
		{"missing comma", "[{\"a\":1} {\"a\":2}]", nil, []string{"line 1, byte 10", `'{' after array element 1`}},
		{"after the array", "[{\"a\":1}]\n[{\"a\":2}]", nil, []string{"line 2, byte 1", "after the end of the JSON array"}},
		{"empty array", " [ ] ", nil, []string{"the JSON array is empty"}},
		{"blank", " \n ", nil, []string{"empty"}},
		{"empty objects", "[{}, {}]", nil, []string{"no column", "empty ({}) or null"}},
		{"empty object and null", "[{},\nnull]", nil, []string{"no column"}},
		{"pretty empty objects", "{\n}\n{\n}\n", nil, []string{"no column"}},
		{"bad literal", "[{\"a\":1}, nul]", nil, []string{"line 1, byte 11", "malformed JSON", `"nul"`}},
		// The JSONL path's refusals, relocated.
		{"append fraction", "[\n {\"id\": 1},\n {\"id\": 7.5}\n]", bigint, []string{"array element 2 at line 3", `column "id" (1)`, `value "7.5" is not a whole number`}},
		{"append unknown key", "[{\"id\": 1, \"x\": 2}]", bigint, []string{`column "x" is not in the dataset`}},
		{"out of range", "[\n {\"a\": 1.5},\n\n {\"a\": 1e400}\n]", nil, []string{"array element 2 at line 4", "number 1e400 is out of range"}},
		{"case keys", "{\n \"a\": 1\n}\n{\n \"A\": 2\n}\n", nil, []string{"object 2 at line 4", `key "A" differs from key "a" (object 1 at line 1)`}},
		{"empty key", "[{\"a\":1},\n{\"\":2}]", nil, []string{"array element 2 at line 2", "empty key"}},
		{"big fraction", "[\n{\"v\": 12345678901234567891.5}]", nil, []string{"array element 1 at line 2", "17 significant digits"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := c.Convert(context.Background(), Input{Path: write(t, "in.json", []byte(tc.data)), Format: "json", Schema: tc.in}, out)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want invalid, got %v (%s)", err, errs.KindOf(err))
			}
			msg := errs.Message(err)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "/tmp") || strings.Contains(msg, ".jsonl") {
				t.Fatalf("message leaks a path: %q", msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output left behind")
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "json-*")); len(left) > 0 {
				t.Fatalf("rewrite left behind: %v", left)
			}
		})
	}
}

// TestJSONElementLimit: an element over MaxLineBytes is refused with its
// line, before it is held whole in memory.
func TestJSONElementLimit(t *testing.T) {
	c, err := Open(Options{Threads: 1, TempDir: filepath.Join(t.TempDir(), "tmp"), MaxLineBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := "[{\"a\":1},\n{\"a\":\"" + strings.Repeat("x", 5000) + "\"}]"
	_, err = c.Convert(context.Background(), Input{Path: write(t, "in.json", []byte(data)), Format: JSON}, filepath.Join(t.TempDir(), "out"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "line 2, byte 1: array element 2 is longer than the limit of 4096 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestJSONRewriteStreams: the rewrite of a 64 MB array allocates a few MB
// (one element at a time), and every element is one line of the output.
func TestJSONRewriteStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	bw.WriteString("[\n")
	n := 0
	for written := 0; written < 64<<20; n++ {
		if n > 0 {
			bw.WriteString(",\n")
		}
		k, _ := fmt.Fprintf(bw, "  {\n    \"id\": %d,\n    \"note\": \"note %d with some text\"\n  }", n, n)
		written += k
	}
	bw.WriteString("\n]\n")
	bw.Flush()
	f.Close()
	var out countingWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	doc, err := transcodeJSON(context.Background(), path, &out, 64<<20, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if doc.count != n || out.lines != n || doc.layout != layoutArray {
		t.Fatalf("elements %d lines %d layout %s, want %d", doc.count, out.lines, doc.layout, n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 && !raceEnabled {
		t.Fatalf("the rewrite of a 64 MB array allocated %d bytes", alloc)
	}
}

type countingWriter struct{ lines int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// FuzzTranscodeJSON: the rewrite of any bytes either is refused as invalid
// input, or holds one line per element of the document Go's decoder reads
// (each an object or null, compacted, every byte of every value kept).
func FuzzTranscodeJSON(f *testing.F) {
	for _, s := range []string{
		`[{"a":1},{"a":2}]`,
		"[\n {\"a\": 1,\n  \"b\": \"x\\n]}\"\n }\n]",
		"{\"a\":1}\n{\n\"a\":2}\n",
		`[{"a":1},null]`,
		`[{"v":18446744073709551617.50}]`,
		"42",
		"[1,2]",
		"[{\"a\":1},]",
		"[]",
		"\ufeff[{}]",
		"{} {}",
		`[{"a":"\u00e9\"}"}] x`,
		"[]\x00",
		"[{\"a\":1}\x00]",
		"\x00",
		"{\"a\":1}\n\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Skip()
		}
		var out bytes.Buffer
		var starts []int
		doc, err := transcodeJSON(context.Background(), path, &out, 1<<20, func(n, line int) bool {
			starts = append(starts, line)
			return true
		})
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("%q: %v (%s), want invalid", data, err, errs.KindOf(err))
			}
			return
		}
		// Go's decoder reads the same elements.
		body := bytes.TrimPrefix(data, utf8BOM)
		var want []json.RawMessage
		if doc.layout == layoutArray {
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatalf("%q accepted as an array, Go: %v", data, err)
			}
		} else {
			dec := json.NewDecoder(bytes.NewReader(body))
			for {
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("%q accepted as objects, Go: %v", data, err)
					}
					break
				}
				want = append(want, v)
			}
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(want) || doc.count != len(want) || len(starts) != len(want) {
			t.Fatalf("%q: %d lines, %d elements, Go reads %d", data, len(lines), doc.count, len(want))
		}
		for i, w := range want {
			var c bytes.Buffer
			json.Compact(&c, w)
			if lines[i] != c.String() || !(lines[i] == "null" || strings.HasPrefix(lines[i], "{")) {
				t.Fatalf("%q: element %d is %q, Go reads %q", data, i+1, lines[i], c.String())
			}
			if starts[i] < 1 || starts[i] > bytes.Count(data, []byte{'\n'})+1 {
				t.Fatalf("%q: element %d starts on line %d", data, i+1, starts[i])
			}
		}
	})
}
