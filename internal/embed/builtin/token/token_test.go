package token

import (
	"slices"
	"strings"
	"testing"
)

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  !!! ", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"don't stop", []string{"don't", "stop"}},
		{"John’s car", []string{"john's", "car"}},
		{"'quoted' words''", []string{"quoted", "words"}},
		{"user_id=42; e-mail", []string{"user", "id", "42", "e", "mail"}},
		{"Café ÜBER straße", []string{"café", "über", "straße"}},
		{"v2.0", []string{"v2", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Words(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCamel(t *testing.T) {
	var tk Tokenizer
	tk.Reset("getUserName HTTPServer plain")
	tok, _ := tk.Next()
	if string(tok) != "getusername" || !slices.Equal(tk.Camel(), []uint8{3, 7}) {
		t.Errorf("got %q %v", tok, tk.Camel())
	}
	tok, _ = tk.Next()
	if string(tok) != "httpserver" || len(tk.Camel()) != 0 {
		t.Errorf("got %q %v", tok, tk.Camel())
	}
	tok, _ = tk.Next()
	if string(tok) != "plain" || len(tk.Camel()) != 0 {
		t.Errorf("got %q %v", tok, tk.Camel())
	}
}

func TestLongRunIsCut(t *testing.T) {
	s := strings.Repeat("ab", 100_000)
	w := Words(s)
	if len(w) != (200_000+MaxTokenBytes-1)/MaxTokenBytes {
		t.Fatalf("%d tokens", len(w))
	}
	for _, x := range w {
		if len(x) > MaxTokenBytes {
			t.Fatalf("token of %d bytes", len(x))
		}
	}
	// multi-byte runes are never split
	for _, x := range Words(strings.Repeat("é", 1000)) {
		if !strings.HasPrefix(x, "é") || len(x)%2 != 0 {
			t.Fatalf("split rune: %q", x)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	var tk Tokenizer
	var c = NGramConfig{MinN: 3, MaxN: 5, Buckets: 1000}
	buf := make([]uint32, 0, MaxNGrams)
	n := testing.AllocsPerRun(100, func() {
		tk.Reset("The quick brown Fox jumps over the lazy dog's getUserName 12345")
		for {
			tok, ok := tk.Next()
			if !ok {
				break
			}
			buf = c.AppendBuckets(buf[:0], tok)
		}
	})
	if n != 0 {
		t.Errorf("%v allocs per run", n)
	}
}

func TestAppendBuckets(t *testing.T) {
	c := NGramConfig{MinN: 3, MaxN: 5, Buckets: 97}
	got := c.AppendBuckets(nil, []byte("word")) // "<word>": 4+3+2 n-grams
	if len(got) != 9 {
		t.Fatalf("%d n-grams", len(got))
	}
	if !slices.Equal(got, c.AppendBuckets(nil, []byte("word"))) {
		t.Fatal("not deterministic")
	}
	for _, b := range got {
		if b >= 97 {
			t.Fatalf("bucket %d", b)
		}
	}
}
