package builtin_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"lakehouse-go/internal/embed/builtin"
	"lakehouse-go/internal/errs"
)

func provider(t testing.TB) *builtin.Provider {
	t.Helper()
	p, err := builtin.New()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func embed(t testing.TB, p *builtin.Provider, texts ...string) [][]float32 {
	t.Helper()
	v, err := p.Embed(context.Background(), builtin.Model, texts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cos(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i] * b[i])
	}
	return s
}

func norm(v []float32) float64 { return math.Sqrt(cos(v, v)) }

func TestTableLoaded(t *testing.T) {
	p := provider(t)
	if p.Words() != 50000 {
		t.Errorf("words = %d", p.Words())
	}
	ms, _ := p.Models(context.Background())
	if len(ms) != 1 || ms[0].Name != "builtin-glove-100d" || ms[0].Dims != 100 || ms[0].Provider != "builtin" {
		t.Errorf("models = %+v", ms)
	}
}

func TestVectorsAreUnitAndDeterministic(t *testing.T) {
	p := provider(t)
	texts := []string{"hello world", "getUserName", "xqzzyv", "!!!", "The cat sat.", strings.Repeat("lorem ipsum dolor ", 6000)}
	a, b := embed(t, p, texts...), embed(t, p, texts...)
	for i := range texts {
		if len(a[i]) != builtin.Dims {
			t.Fatalf("%q: dims %d", texts[i], len(a[i]))
		}
		if n := norm(a[i]); math.Abs(n-1) > 1e-4 {
			t.Errorf("%q: norm %v", texts[i], n)
		}
		for d := range a[i] {
			if a[i][d] != b[i][d] {
				t.Fatalf("%q: not deterministic", texts[i])
			}
		}
	}
}

// TestSimilarity checks that the vectors carry meaning: each pair's first
// text is closer to the second than to the third.
func TestSimilarity(t *testing.T) {
	p := provider(t)
	tests := []struct{ a, near, far string }{
		{"The cat rested on the carpet.", "The kitten slept on the rug.", "Stock prices fell on Wall Street."},
		{"stock markets fell sharply", "shares dropped on wall street", "my dog likes to play fetch"},
		{"the government announced a new policy", "the govenment anounced a new polcy", "a recipe for chocolate cake"},
		{"the hotel accommodation was excellent", "hotel accomodation was definately excelent", "the stock market crashed"},
		{"getUserName", "get the user name", "delete all invoices"},
		{"customer_id", "customer identifier", "weather forecast"},
		{"football match tonight", "soccer game this evening", "quantum physics lecture"},
	}
	for _, tt := range tests {
		t.Run(tt.a, func(t *testing.T) {
			v := embed(t, p, tt.a, tt.near, tt.far)
			near, far := cos(v[0], v[1]), cos(v[0], v[2])
			if near <= far+0.1 {
				t.Errorf("cos(near) = %.3f, cos(far) = %.3f", near, far)
			}
		})
	}
}

func TestUnknownWordsCount(t *testing.T) {
	p := provider(t)
	v := embed(t, p, "zxqv1 report", "wqpt7 report", "zxqv1 report")
	if cos(v[0], v[1]) > 0.999 {
		t.Error("different unknown words give the same vector")
	}
	if cos(v[0], v[2]) < 0.9999 {
		t.Error("same unknown word, different vectors")
	}
}

func TestEdgeCases(t *testing.T) {
	p := provider(t)
	v := embed(t, p, "", "...", "???")
	for _, x := range v[0] {
		if x != 0 {
			t.Fatal("empty text: want the zero vector")
		}
	}
	if math.Abs(norm(v[1])-1) > 1e-4 || cos(v[1], v[2]) > 0.9999 {
		t.Error("punctuation-only texts: want distinct unit vectors")
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := provider(t).Embed(context.Background(), "nomic-embed-text", []string{"x"})
	if !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "builtin-glove-100d") {
		t.Errorf("err = %v", err)
	}
}

func TestEmbedOneNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	p := provider(t)
	dst := make([]float32, builtin.Dims)
	p.EmbedOne("warm up the pool", dst)
	n := testing.AllocsPerRun(200, func() {
		p.EmbedOne("The quick brown fox's getUserName jumps over the lazy goverment dog 42 times", dst)
	})
	if n != 0 {
		t.Errorf("%v allocs per sentence", n)
	}
}

var sentences = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Stock markets fell sharply after the central bank raised interest rates.",
	"Please reset the password for user_id 4821 before Monday.",
	"The new library supports streaming uploads and resumable downloads.",
	"getUserName returns an empty string when the session has expired",
	"Our customers in Berlin reported slow page loads this morning.",
	"She couldn't find the recieve button on the invoice screen.",
	"Weather forecast: light rain in the afternoon, clearing by evening.",
}

func BenchmarkEmbedOne(b *testing.B) {
	p := provider(b)
	dst := make([]float32, builtin.Dims)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.EmbedOne(sentences[i%len(sentences)], dst)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
}

func BenchmarkEmbedOneParallel(b *testing.B) {
	p := provider(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]float32, builtin.Dims)
		i := 0
		for pb.Next() {
			p.EmbedOne(sentences[i%len(sentences)], dst)
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
}

// TestUnicodeEquivalents: texts Unicode holds equal embed as one: composed
// and decomposed accents ("naïve" as written on Linux, "nai" + U+0308 as
// macOS writes file names), fullwidth letters and ligatures (NFKC, as the
// SentencePiece tokenizer of nomic-embed-text v2 normalises). Before, the
// decomposed "naïve" split into "nai" and "ve" (cosine 0.08 with the
// composed one) and "ｈｅｌｌｏ ｗｏｒｌｄ" was unrelated to "hello world"
// (-0.05), so the same word typed twice was not found by search. A
// decomposed text still allocates nothing once the pool is warm.
func TestUnicodeEquivalents(t *testing.T) {
	p := provider(t)
	for _, c := range [][2]string{
		{"naïve café résumé", "nai\u0308ve cafe\u0301 re\u0301sume\u0301"},
		{"hello world", "ｈｅｌｌｏ ｗｏｒｌｄ"},
		{"file a claim", "ﬁle a claim"},
		{"Ångström unit", "A\u030angstro\u0308m unit"},
	} {
		a, b := make([]float32, builtin.Dims), make([]float32, builtin.Dims)
		p.EmbedOne(c[0], a)
		p.EmbedOne(c[1], b)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%q and %q: dim %d %v != %v", c[0], c[1], i, a[i], b[i])
			}
		}
	}
	if raceEnabled {
		return
	}
	dst := make([]float32, builtin.Dims)
	text := "Cafe\u0301 de\u0301ja\u0300 vu, ｆｕｌｌｗｉｄｔｈ and ascii"
	p.EmbedOne(text, dst)
	if n := testing.AllocsPerRun(100, func() { p.EmbedOne(text, dst) }); n != 0 {
		t.Errorf("%v allocs per decomposed sentence", n)
	}
}
