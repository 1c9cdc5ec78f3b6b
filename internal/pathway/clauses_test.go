package pathway

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSplitClauses: a compound sentence is one fact per clause, with the
// shared subject; lists, infinitives, conditions and questions stay whole
// (ADR-134).
func TestSplitClauses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Alice lives in Lisbon and works as a nurse.", "Alice lives in Lisbon|Alice works as a nurse"},
		{"Alice lives in Lisbon and she works as a nurse.", "Alice lives in Lisbon|Alice works as a nurse"},
		{"Alice lives in Lisbon, works as a nurse, and plays the cello.", "Alice lives in Lisbon|Alice works as a nurse|Alice plays the cello"},
		{"I live in Lisbon and work as a nurse", "Lives in Lisbon|Works as a nurse"},
		{"Hi! I'm vegetarian and I live in Lisbon.", "Is vegetarian|Lives in Lisbon"},
		{"My name is Sam and I work at a bank.", "Name is Sam|Works at a bank"},
		{"I like tea but hate coffee.", "Likes tea|Hates coffee"},
		{"I'm a teacher and also love hiking.", "Is a teacher|Loves hiking"}, // the adverb cut (ADR-148)
		{"I no longer like pizza and now love pasta.", "I no longer like pizza|Loves pasta"},
		{"I don't smoke and don't drink alcohol.", "I don't smoke|I don't drink alcohol"},
		{"My sister lives in Rome and she is a chef.", "Sister lives in Rome|Sister is a chef"},
		{"I live in Paris and she lives in Rome.", "Lives in Paris|She lives in Rome"},
		{"Carol is a pilot and flies to Tokyo twice a month.", "Carol is a pilot|Carol flies to Tokyo twice a month"},
		{"My birthday is in April and May is my favorite month.", "Birthday is in April|May is my favorite month"},
		// Not split.
		{"I like pizza and pasta.", "Likes pizza and pasta"},
		{"Alice speaks Portuguese and Spanish.", "Alice speaks Portuguese and Spanish"},
		{"Bob and Carol have a house in the mountains.", "Bob and Carol have a house in the mountains"},
		{"Bob has two daughters, Mia and Zoe.", "Bob has two daughters, Mia and Zoe"},
		{"I like to read and write.", "Likes to read and write"},
		{"I have a cat and no dog.", "Has a cat and no dog"},
		{"When I was young, I lived in Rome and worked in a bar.", "When I was young, I lived in Rome and worked in a bar"},
		{"Alice, who lives in Lisbon, works as a nurse.", "Alice, who lives in Lisbon, works as a nurse"},
		{"Do you live in Paris and work there?", ""},
		{"I like tea and eat.", "Likes tea and eat"},
	} {
		if got := strings.Join(extractFacts(c.in), "|"); got != c.want {
			t.Errorf("extractFacts(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// FuzzSplitClauses: any sentence splits without a panic into non-blank
// clauses that keep every word but the joining "and"/"but" (and a he/she/
// they that took the subject's place), in valid UTF-8 when the input was;
// a sentence that does not split comes back unchanged.
func FuzzSplitClauses(f *testing.F) {
	for _, s := range []string{
		"Alice lives in Lisbon and works as a nurse.",
		"Alice lives in Lisbon, works as a nurse, and plays the cello.",
		"My sister lives in Rome and she is a chef", "I’m a nurse and work nights",
		"I no longer like pizza and now love pasta", "and and and but ,, and",
		"I like to read and write", "Ⱥ lives in X and works, and \xff plays", "I'm and I've and",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := splitClauses(s)
		if len(parts) == 0 {
			t.Fatalf("no clause of %q", s)
		}
		if len(parts) == 1 && parts[0] != s {
			t.Fatalf("unsplit %q came back as %q", s, parts[0])
		}
		if len(parts) == 1 {
			return
		}
		kept := map[string]bool{}
		for _, p := range parts {
			if strings.TrimSpace(p) == "" {
				t.Fatalf("blank clause of %q: %q", s, parts)
			}
			if utf8.ValidString(s) && !utf8.ValidString(p) {
				t.Fatalf("clause %q of %q is not UTF-8", p, s)
			}
			for _, w := range strings.Fields(p) {
				kept[strings.TrimRight(w, ",")] = true
			}
		}
		for _, w := range strings.Fields(s) {
			switch clauseWord(w) {
			case "and", "but", "he", "she", "they":
				continue
			}
			if w = strings.TrimRight(w, ","); w != "" && !kept[w] {
				t.Fatalf("%q lost the word %q: %q", s, w, parts)
			}
		}
	})
}

// FuzzSearchPlan: any query is read without a panic into at most
// maxQueryTerms terms, and any memory text then scores a keyword share in
// [0, 1] and a fused score within the cosine's bounds, the same twice
// (ADR-134).
func FuzzSearchPlan(f *testing.F) {
	for _, s := range []string{
		"Where does Alice live?", "What does Bob do for a living?", "how old am I", "what does he do",
		"Ⱥ's \xff living'", "'''s", "I I I my my", strings.Repeat("job work ", 40),
	} {
		f.Add(s, "Alice lives in Lisbon")
	}
	f.Fuzz(func(t *testing.T, q, memory string) {
		p := planQuery(q)
		if len(p.terms) > maxQueryTerms {
			t.Fatalf("%q: %d terms", q, len(p.terms))
		}
		mt := memoryTerms(memory)
		sh := shapeOf(memory)
		k := p.keywordScore(&mt, sh.holder)
		if !(k >= 0 && k <= 1) {
			t.Fatalf("%q against %q: keyword score %v", q, memory, k)
		}
		for _, cos := range []float64{-1, 0, 1} {
			sc := p.searchScore(cos, &mt, sh.holder)
			if !(sc >= -1 && sc <= 1) || sc != p.searchScore(cos, &mt, sh.holder) {
				t.Fatalf("%q against %q: score %v for cosine %v", q, memory, sc, cos)
			}
		}
		if !slices.IsSorted(mt.stems) {
			t.Fatalf("memory terms of %q not sorted: %q", memory, mt.stems)
		}
		for _, s := range mt.stems {
			if mt.mask&stemBit(s) == 0 {
				t.Fatalf("memory terms of %q: mask lacks %q", memory, s)
			}
		}
	})
}
