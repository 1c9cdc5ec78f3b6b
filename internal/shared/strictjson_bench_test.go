package shared

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchBodies are ~10 MB request bodies: 768-d vectors (a vectord upsert)
// and texts (an embed batch, some of them not ASCII).
func benchBodies() map[string][]byte {
	var nb bytes.Buffer
	nb.WriteString(`{"items":[`)
	for i := 0; nb.Len() < 10<<20; i++ {
		if i > 0 {
			nb.WriteByte(',')
		}
		fmt.Fprintf(&nb, `{"id":"v%d","vector":[`, i)
		for j := 0; j < 768; j++ {
			if j > 0 {
				nb.WriteByte(',')
			}
			fmt.Fprintf(&nb, "%.6f", float32((i*768+j)%1000)/997-0.5)
		}
		nb.WriteString(`]}`)
	}
	nb.WriteString(`]}`)
	var sb bytes.Buffer
	sb.WriteString(`{"texts":[`)
	for i := 0; sb.Len() < 10<<20; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		t := "The quick brown fox jumps over the lazy dog, line " + fmt.Sprint(i)
		if i%10 == 0 {
			t = "Ein Café in Zürich, naïve façade — 東京 😀 " + fmt.Sprint(i)
		}
		sb.WriteString(`"` + strings.Repeat(t+" ", 4) + `"`)
	}
	sb.WriteString(`]}`)
	return map[string][]byte{"numbers": nb.Bytes(), "strings": sb.Bytes()}
}

type benchNumbers struct {
	Items []struct {
		ID     string    `json:"id"`
		Vector []float32 `json:"vector"`
	} `json:"items"`
}

type benchStrings struct {
	Texts []string `json:"texts"`
}

// oldDecode is decodeJSON before StrictJSON: encoding/json alone.
func oldDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after")
	}
	return nil
}

// BenchmarkDecodeJSON: DecodeJSON's cost on ~10 MB bodies before
// (encoding/json) and after (through StrictJSON); and the check alone.
func BenchmarkDecodeJSON(b *testing.B) {
	bodies := benchBodies()
	for _, kind := range []string{"numbers", "strings"} {
		body := bodies[kind]
		target := func() any {
			if kind == "numbers" {
				return &benchNumbers{}
			}
			return &benchStrings{}
		}
		b.Run(kind+"/encoding_json", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := oldDecode(body, target()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/strict", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
				if err := DecodeJSON(r, target()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/check_only", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := CheckJSON(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
