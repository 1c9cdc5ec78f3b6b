package convert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

func newConv(t *testing.T) *Converter {
	t.Helper()
	c, err := Open(Options{Threads: 2, TempDir: filepath.Join(t.TempDir(), "tmp"), MaxLineBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConvertOK(t *testing.T) {
	c := newConv(t)
	bigField := strings.Repeat("x", 10<<20)
	cases := []struct {
		name, format, data string
		rows               int64
		schema             string
	}{
		{"probe", CSV, "id,name,role\n1,Alice,Forklift Operator\n", 1, "id BIGINT,name VARCHAR,role VARCHAR"},
		{"crlf+bom", CSV, "\ufeffid,when\r\n1,2024-01-02\r\n2,2024-01-03\r\n", 2, "id BIGINT,when DATE"},
		{"semicolon", CSV, "a;b\n1;x,y\n", 1, "a BIGINT,b VARCHAR"},
		{"tab", CSV, "a\tb\n1.5\t\"q\"\"q\"\n", 1, "a DOUBLE,b VARCHAR"},
		{"quoted newline", CSV, "a,b\n1,\"two\nlines\"\n", 1, "a BIGINT,b VARCHAR"},
		{"10MB field", CSV, "a,b\n1,\"" + bigField + "\"\n", 1, "a BIGINT,b VARCHAR"},
		{"jsonl", JSONL, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n", 2, "a BIGINT,b VARCHAR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := write(t, "in", []byte(tc.data))
			out := filepath.Join(t.TempDir(), "out")
			res, err := c.Convert(context.Background(), Input{Path: in, Format: tc.format}, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != tc.rows {
				t.Fatalf("rows %d", res.Rows)
			}
			var sch []string
			for _, col := range res.Schema {
				sch = append(sch, col.Name+" "+col.Type)
			}
			if strings.Join(sch, ",") != tc.schema {
				t.Fatalf("schema %v", sch)
			}
		})
	}
}

func TestLateTypeChangeResniffs(t *testing.T) {
	c := newConv(t)
	var b strings.Builder
	b.WriteString("id,v\n")
	for i := 0; i < 30000; i++ {
		b.WriteString("1,2\n")
	}
	b.WriteString("3,abc\n")
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(b.String())), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 30001 || res.Schema[1].Type != "VARCHAR" {
		t.Fatalf("%+v", res.Schema)
	}
}

func TestSplitsFiles(t *testing.T) {
	c, err := Open(Options{Threads: 2, TempDir: t.TempDir(), RowGroupSize: 10000, FileRows: 30000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 0; i < 100000; i++ {
		b.WriteString("1,abc\n")
	}
	res, err := c.Convert(context.Background(), Input{Path: write(t, "in.csv", []byte(b.String())), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 3 || res.Rows != 100000 {
		t.Fatalf("%d files, %d rows", len(res.Files), res.Rows)
	}
	var sum int64
	for _, f := range res.Files {
		sum += f.Rows
		if f.Rows == 0 {
			t.Fatal("empty file kept")
		}
	}
	if sum != 100000 {
		t.Fatalf("sum %d", sum)
	}
}

func TestConvertErrors(t *testing.T) {
	c := newConv(t)
	var late strings.Builder
	late.WriteString("id,name\n")
	for i := 0; i < 30000; i++ {
		late.WriteString("1,n\n")
	}
	late.WriteString("30001,x,y\n")
	cases := []struct {
		name, format, data string
		schema             []Column
		want               []string
	}{
		{"empty", CSV, "", nil, []string{"empty"}},
		{"header only", CSV, "id,name\n", nil, []string{"no data rows"}},
		{"header only blank lines", CSV, "id,name\n\n\n", nil, []string{"no data rows"}},
		{"duplicate columns", CSV, "a,b,A\n1,2,3\n", nil, []string{"duplicate column name", "columns 1 and 3"}},
		{"empty column name", CSV, "a,,b\n1,2,3\n", nil, []string{"column 2", "empty column name"}},
		{"non-utf8 header", CSV, "a,\xff\n1,2\n", nil, []string{"line 1", "UTF-8"}},
		{"non-utf8 value", CSV, "id,name\n1,ok\n2,\xff\xfe\n", nil, []string{"line 3", "UTF-8"}},
		{"ragged in sample", CSV, "id,name\n1,a\n2,b,c\n3,d\n", nil, []string{"line 3", "expected 2 columns", "found 3"}},
		{"ragged after sample", CSV, late.String(), nil, []string{"line 30002", "expected 2 columns", "found 3"}},
		{"unterminated quote", CSV, "a,b\n1,\"open\n2,3\n", nil, []string{"line"}},
		{"bad jsonl", JSONL, "{\"a\":1}\n{a}\n", nil, []string{"line 2", "malformed JSON"}},
		{"not parquet", Parquet, "id,name\n1,x\n", nil, []string{"not a Parquet file"}},
		{"append bad value", CSV, "id,name\n1,a\nx,b\n", []Column{{"id", "BIGINT"}, {"name", "VARCHAR"}}, []string{"line 3", `column "id" (1)`, `value "x"`, "BIGINT"}},
		{"append other columns", CSV, "id,nom\n1,a\n", []Column{{"id", "BIGINT"}, {"name", "VARCHAR"}}, []string{`"nom"`, `"name" (VARCHAR, position 2) is missing`}},
		{"append jsonl types", JSONL, "{\"id\":\"a\",\"name\":\"b\"}\n", []Column{{"id", "BIGINT"}, {"name", "VARCHAR"}}, []string{`column "id" is VARCHAR, the dataset has BIGINT`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte(tc.data)), Format: tc.format, Schema: tc.schema}, out)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want invalid, got %v (%s)", err, errs.KindOf(err))
			}
			msg := errs.Message(err)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "/tmp") {
				t.Fatalf("message leaks a path: %q", msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output left behind")
			}
		})
	}
}

func TestTooLongLine(t *testing.T) {
	c, err := Open(Options{Threads: 2, TempDir: t.TempDir(), MaxLineBytes: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := "a,b\n1,\"" + strings.Repeat("y", 4<<20) + "\"\n"
	_, err = c.Convert(context.Background(), Input{Path: write(t, "in", []byte(data)), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "line 2") {
		t.Fatalf("%v", err)
	}
	t.Log(errs.Message(err))
}

func TestRaggedLastRow(t *testing.T) {
	c := newConv(t)
	_, err := c.Convert(context.Background(), Input{Path: write(t, "in", []byte("a,b\n1,2\n3,4,5\n")), Format: CSV}, filepath.Join(t.TempDir(), "o"))
	if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.Message(err), "line 3") {
		t.Fatalf("%v", err)
	}
}
