package pathway

import (
	"container/heap"
	"slices"
	"strings"

	"lakehouse-go/internal/embed/builtin/token"
)

// Memory search (ADR-134). The built-in embedder averages word vectors, so
// a question's vector is pulled by its question words and by any memory
// that shares a frequent word ("Where does Alice live?" found "Bob is
// married to Carol"). A search therefore fuses two scores of each memory:
//
//	score = VectorWeight * cosine(query, memory) + (1 - VectorWeight) * keyword
//
// keyword is the weighted share of the query's content words that the
// memory holds: question words and stop words are dropped, words are
// stemmed on both sides ("lives", "living", "lived" = "live"), and a word
// that names a kind of fact ("job", "live", "pet", "allergic") is expanded
// to the words memories state it with ("works", "nurse"; "lives", "based";
// "dog", "cat"): an exact word counts 1, an expansion ExpansionCredit.
// Both parts depend on the query and the memory alone — no corpus
// statistics — so a memory's score does not move when other memories are
// added, and search pages (score/id cursors) and thresholds keep their
// meaning (ADR-053, ADR-088). A query without content words is ranked by
// cosine alone.
const (
	VectorWeight    = 0.5
	ExpansionCredit = 0.6
	// selfCredit is what a first-person query ("where do I live?") gives a
	// memory of the user's own (holder "", "Lives in Amsterdam") against
	// one naming someone else ("Alice lives in Lisbon").
	selfCredit = 0.5
)

// searchStop are the words a search does not match on: function words,
// question words, auxiliaries and fillers of a question. "from", "name"
// and numbers stay: "where is Bob from?", "what is my name?".
var searchStop = wordSet(`a an and are as at be been being but by for has have had he her hers him his i if
	in into is it its of on or our ours she so than that the their theirs them then there these they this
	those to was were which who whom whose will with you your yours me my mine myself we us what where
	when why how do does did doing done can could would should shall may might must please tell
	know remember any anything something some kind type sort about there's what's who's where's
	i'm i've i'd i'll you're am also just really very too usually ever currently now still`)

// selfWords in a query make it a question about the user.
var selfWords = wordSet(`i me my mine myself i'm i've i'd`)

// expansions are the kinds of fact a question asks about, each as the words
// a question names it with and the words a memory states it with. A query
// word in a group matches a memory holding any word of that group (at
// ExpansionCredit). Words are stemmed when the table is built.
var expansions = [][]string{
	// where one lives
	strings.Fields(`live reside resident home address city town village country based located location
		moved move neighborhood neighbourhood apartment flat stays`),
	// origin
	strings.Fields(`from born hometown grew raised native origin birthplace`),
	// work
	strings.Fields(`job work works working occupation profession career employer employed company
		role position nurse doctor engineer developer programmer teacher
		professor pilot designer analyst manager lawyer accountant chef architect consultant
		scientist researcher writer journalist artist musician mechanic electrician plumber driver
		pharmacist dentist therapist firefighter officer salesperson cashier waiter student intern
		freelancer founder ceo cto director editor photographer translator veterinarian farmer`),
	// age and birthday
	strings.Fields(`age old years born birthday birth`),
	// pets
	strings.Fields(`pet pets dog cat puppy kitten animal parrot rabbit hamster fish bird horse`),
	// family
	strings.Fields(`married marry wife husband spouse partner wedding`),
	strings.Fields(`kids kid children child son daughter daughters sons baby`),
	strings.Fields(`sibling siblings sister brother`),
	// education
	strings.Fields(`study studied school university college degree major graduate graduated student campus`),
	// food and drink
	strings.Fields(`food eat eats cuisine dish meal diet vegetarian vegan meat cook cooking`),
	strings.Fields(`drink drinks beverage coffee tea juice wine beer`),
	strings.Fields(`allergic allergy allergies intolerant`),
	// pastimes
	strings.Fields(`hobby hobbies enjoy enjoys fun pastime weekend weekends spare leisure`),
	strings.Fields(`sport sports run runs running marathon marathons climb climbing swim swimming cycling
		tennis football soccer basketball golf hiking yoga ski skiing surf triathlon gym`),
	strings.Fields(`instrument instruments play plays guitar piano cello violin drums flute saxophone bass sing choir band music`),
	strings.Fields(`language languages speak speaks fluent bilingual`),
	strings.Fields(`travel trip vacation holiday visit fly flies flight flights`),
	strings.Fields(`car drive drives vehicle ride rides bike bicycle commute motorcycle scooter`),
	strings.Fields(`like likes love loves favorite favourite prefer prefers enjoy`),
	strings.Fields(`dislike dislikes hate hates avoid`),
	strings.Fields(`afraid scared fear fears phobia frightened`),
	strings.Fields(`film films movie movies`),
	strings.Fields(`color colour`),
	strings.Fields(`name named called call`),
	strings.Fields(`phone number mobile cell`),
	strings.Fields(`vet veterinarian`),
	strings.Fields(`client clients customer customers`),
}

// expansionOf maps a stem to the stems of every group holding it.
var expansionOf = func() map[string][]string {
	m := map[string][]string{}
	for _, g := range expansions {
		var stems []string
		for _, w := range g {
			stems = append(stems, stemWord(w))
		}
		slices.Sort(stems)
		stems = slices.Compact(stems)
		for _, s := range stems {
			m[s] = append(m[s], stems...)
		}
	}
	for k, v := range m {
		slices.Sort(v)
		m[k] = slices.Compact(v)
	}
	return m
}()

// irregular maps irregular forms to the stem of their base word.
var irregular = map[string]string{
	"went": "go", "gone": "go", "grew": "grow", "grown": "grow", "flew": "fly", "flown": "fly",
	"taught": "teach", "bought": "buy", "spoke": "speak", "spoken": "speak", "ran": "run",
	"drove": "drive", "driven": "drive", "ate": "eat", "eaten": "eat", "wrote": "write",
	"written": "write", "children": "child", "wives": "wife", "people": "person", "men": "man",
	"women": "woman", "made": "make", "met": "meet", "left": "leave", "got": "get", "gotten": "get",
	"kept": "keep", "felt": "feel", "sang": "sing", "sung": "sing", "swam": "swim", "rode": "ride",
	"ridden": "ride", "became": "become", "began": "begin", "begun": "begin", "paid": "pay",
	"said": "say", "sold": "sell", "thought": "think", "brought": "bring", "caught": "catch",
	"took": "take", "taken": "take", "gave": "give", "given": "give", "saw": "see", "seen": "see",
	"favourite": "favorite", "colour": "color", "neighbour": "neighbor", "neighbourhood": "neighborhood",
	"mum": "mom", "mom's": "mom",
}

// stemWord reduces a lower-case token to a crude stem, the same way for a
// query and a memory: a trailing "'s" dropped, irregular forms mapped, then
// plural/third-person s (Harman's S-stemmer, as matrixd's keyword index),
// -ing and -ed (with a doubled consonant undone), and a final e, so
// "lives", "living", "lived" and "live" are one stem, and "nurse" and
// "nursing". Words of three letters or fewer are kept.
func stemWord(w string) string {
	w = strings.TrimSuffix(w, "'s")
	w = strings.Trim(w, "'")
	if b, ok := irregular[w]; ok {
		w = b
	}
	n := len(w)
	if n <= 3 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && n > 4:
		w = w[:n-3] + "y"
	case strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "aes") && !strings.HasSuffix(w, "ees") &&
		!strings.HasSuffix(w, "oes"):
		w = w[:n-1]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "ss") &&
		!strings.HasSuffix(w, "is"):
		w = w[:n-1]
	}
	n = len(w)
	switch {
	case strings.HasSuffix(w, "ied") && n > 4:
		w = w[:n-3] + "y"
	case strings.HasSuffix(w, "ing") && n >= 6:
		w = undouble(w[:n-3])
	case strings.HasSuffix(w, "ed") && n >= 5 && !strings.HasSuffix(w, "eed"):
		w = undouble(w[:n-2])
	}
	if n = len(w); n > 3 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	return w
}

// undouble turns "runn" (of running) into "run"; "ll", "ss", "zz" stay
// ("called" -> "call").
func undouble(w string) string {
	n := len(w)
	if n >= 3 && w[n-1] == w[n-2] && !strings.ContainsRune("aeioulsz", rune(w[n-1])) {
		return w[:n-1]
	}
	return w
}

// terms is what the keyword part of a search matches a memory on: the
// sorted set of the stems of its words, stop words left out, and a 64-bit
// mask of their hashes, so a memory that shares no stem with a query is
// passed over without a lookup. Computed once per memory text (entry),
// never per search.
type terms struct {
	stems []string
	mask  uint64
}

func memoryTerms(text string) terms {
	var tk token.Tokenizer
	tk.Reset(text)
	var out []string
	for {
		tok, ok := tk.Next()
		if !ok {
			break
		}
		w := string(tok)
		if searchStop[w] {
			continue
		}
		if s := stemWord(w); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	var m uint64
	for _, s := range out {
		m |= stemBit(s)
	}
	return terms{stems: out, mask: m}
}

// stemBit is a stem's bit in a terms mask (FNV-1a, mod 64).
func stemBit(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return 1 << (h % 64)
}

// queryPlan is a search query read for keyword matching.
type queryPlan struct {
	text  string // the query's content words as typed (embedded in place of the query)
	terms []queryTerm
	self  bool    // the query asks about the user ("my", "I")
	total float64 // the most a memory can score (the sum of the weights)
	// exact maps a stem to the term it is; alt a stem to the terms it is
	// an expansion of. A memory's score reads its few stems here.
	exact map[string]int
	alt   map[string][]int
	mask  uint64 // stemBit of every stem in exact and alt
}

type queryTerm struct {
	stem string
	alt  []string // the expansions of stem (sorted), or nil
}

// maxQueryTerms bounds the terms a query is matched on (a longer query
// keeps its first ones: a search is a question, not a document).
const maxQueryTerms = 32

// planQuery reads a search query: its content stems, each with its
// expansions, and whether it is about the user. Phrases that say a kind of
// fact with stop words only are named first: "do for a living" and "what
// does X do" ask for a job, "how old" for an age.
func planQuery(q string) queryPlan {
	var tk token.Tokenizer
	tk.Reset(q)
	var words []string
	for {
		tok, ok := tk.Next()
		if !ok {
			break
		}
		words = append(words, string(tok))
	}
	var p queryPlan
	var content []string
	seen := map[string]bool{}
	add := func(stem string) {
		if stem == "" || seen[stem] || len(p.terms) == maxQueryTerms {
			return
		}
		seen[stem] = true
		p.terms = append(p.terms, queryTerm{stem: stem, alt: expansionOf[stem]})
	}
	n := len(words)
	for i, w := range words {
		switch {
		case selfWords[w]:
			p.self = true
		case w == "living" && i >= 2 && words[i-1] == "a" && words[i-2] == "for":
			add("job") // "what does she do for a living"
			continue
		case w == "old" && i >= 1 && words[i-1] == "how":
			add("age")
			continue
		}
		if searchStop[w] {
			continue
		}
		content = append(content, w)
		add(stemWord(w))
	}
	p.text = strings.Join(content, " ")
	if n >= 3 && words[0] == "what" && words[n-1] == "do" && (words[1] == "does" || words[1] == "do") {
		add("job") // "what does Bob do?"
	}
	p.total = float64(len(p.terms))
	p.exact, p.alt = map[string]int{}, map[string][]int{}
	for i, t := range p.terms {
		p.exact[t.stem] = i
		p.mask |= stemBit(t.stem)
		for _, a := range t.alt {
			if a != t.stem {
				p.alt[a] = append(p.alt[a], i)
				p.mask |= stemBit(a)
			}
		}
	}
	if p.self {
		p.total += selfCredit
	}
	return p
}

// keywordScore is the weighted share of the plan's terms that a memory
// with terms mt and holder holds, in [0, 1]: a term found as itself counts
// 1, else found through an expansion ExpansionCredit.
func (p *queryPlan) keywordScore(mt *terms, holder string) float64 {
	if p.total == 0 {
		return 0
	}
	var got float64
	if p.self && holder == "" {
		got += selfCredit
	}
	if mt.mask&p.mask == 0 {
		return got / p.total // no stem in common
	}
	var credit [maxQueryTerms]float64
	for _, w := range mt.stems {
		if i, ok := p.exact[w]; ok {
			credit[i] = 1
		}
		for _, i := range p.alt[w] {
			credit[i] = max(credit[i], ExpansionCredit)
		}
	}
	for _, c := range credit[:len(p.terms)] {
		got += c
	}
	return got / p.total
}

// searchScore fuses the cosine of a memory with its keyword score.
func (p *queryPlan) searchScore(cos float64, mt *terms, holder string) float64 {
	if len(p.terms) == 0 {
		return cos
	}
	return VectorWeight*cos + (1-VectorWeight)*p.keywordScore(mt, holder)
}

// topK returns the k first of xs in the order cmp (best first), sorted:
// a bounded heap, O(n log k), instead of sorting every match of a scope
// for one page. xs is reordered.
func topK[T any](xs []T, k int, cmp func(a, b T) int) []T {
	if len(xs) <= k {
		slices.SortFunc(xs, cmp)
		return xs
	}
	h := &boundedHeap[T]{xs: xs[:0:0], cmp: cmp}
	for _, x := range xs {
		if len(h.xs) < k {
			heap.Push(h, x)
		} else if cmp(x, h.xs[0]) < 0 {
			h.xs[0] = x
			heap.Fix(h, 0)
		}
	}
	slices.SortFunc(h.xs, cmp)
	return h.xs
}

// boundedHeap keeps the worst kept element on top.
type boundedHeap[T any] struct {
	xs  []T
	cmp func(a, b T) int
}

func (h *boundedHeap[T]) Len() int           { return len(h.xs) }
func (h *boundedHeap[T]) Less(i, j int) bool { return h.cmp(h.xs[i], h.xs[j]) > 0 }
func (h *boundedHeap[T]) Swap(i, j int)      { h.xs[i], h.xs[j] = h.xs[j], h.xs[i] }
func (h *boundedHeap[T]) Push(x any)         { h.xs = append(h.xs, x.(T)) }
func (h *boundedHeap[T]) Pop() any {
	x := h.xs[len(h.xs)-1]
	h.xs = h.xs[:len(h.xs)-1]
	return x
}
