package pathway

import (
	"slices"
	"strings"
)

// What the decision (ADR-053) reads from a fact or a memory's text: its
// canonical text, content words, subject, whose fact it is (holder) and
// whether it is negative. A memory's shape is computed once, when its entry
// is created or its text changes, never per decision.
type shape struct {
	canon  string
	words  []string // content words, sorted, without negation markers
	subj   string   // subject(canon)
	single bool     // the subject is single-valued (!isMultiValued)
	attr   bool     // the subject names one attribute (attributeSubject): a new value replaces the old whatever their cosine
	holder string   // whose fact: "" = the user, else the third party ("sister", "best friend", "john")
	neg    bool     // a negative statement ("I no longer live in Paris", "I don't eat meat anymore")
}

func shapeOf(text string) shape {
	c := canonical(text)
	w := strings.Fields(c)
	sh := shape{canon: c, subj: subject(c), holder: holderOf(w), neg: negative(w)}
	// A third party's subject is read past the holder: "Emma is a
	// designer" and "Emma is training for a triathlon" are two facts, as
	// "Is a designer" and "Is training ..." are the user's (ADR-134; the
	// second replaced the first). "Emma lives in" stays single-valued.
	subj := sh.subj
	if sh.holder != "" {
		if rest, ok := strings.CutPrefix(strings.TrimPrefix(c, "my "), sh.holder+" "); ok {
			subj = subject(rest)
			sh.subj = sh.holder + " " + subj
		}
	}
	// A sentence kept as said ("I visited Porto": no rewrite) has "i" for
	// its subject: it names no attribute, so it is never single-valued
	// ("I visited Tokyo" replaced it when the cosine of the two was 0.60 or
	// more; ADR-148). Containment and polarity still apply.
	sh.single = !isMultiValued(subj) && subj != "i" && !strings.HasPrefix(subj, "i ")
	sh.attr = sh.single && attributeSubject(subj)
	sh.words = contentWords(w, sh.neg)
	return sh
}

// multiValued subjects hold lists (one likes many things): a different
// object is a new memory, not a change (ADR-053). A subject that starts
// with one of these verbs ("has a dog named") is multi-valued too, and so is
// a bare "is" (one is vegetarian and an engineer).
var multiValued = map[string]bool{
	"is": true, "likes": true, "loves": true, "enjoys": true, "has": true, "speaks": true, "plays": true,
	"visits": true, "visited": true, "owns": true, "uses": true, "eats": true, "drinks": true,
	"reads": true, "watches": true, "collects": true, "knows": true, "follows": true,
	"supports": true, "studies": true, "travels": true, "needs": true, "wants": true,
	"hates": true, "dislikes": true, "avoids": true, "listens": true, "went": true, "is allergic to": true,
}

// attributeSubjects hold one value at a time by their meaning: a person
// lives in one place, works at one employer, is from one place (ADR-148).
var attributeSubjects = map[string]bool{
	"lives in": true, "works at": true, "works for": true, "is from": true, "comes from": true,
	"was born in": true, "is married to": true, "is based in": true, "grew up in": true,
}

// attributeSubject reports whether subj (a single-valued subject) names
// one attribute of its holder: one of attributeSubjects, or "<attribute>
// ... is" ("name is", "favorite color is", "job is"). A new value for it
// replaces the old one whatever their cosine: the values' own words make
// that cosine anything from 0.3 to 0.8 with the built-in embedder ("Lives
// in Porto"/"Lives in Tokyo" 0.33, ".../Berlin" 0.48, "Paris"/"Berlin"
// 0.74), so a cosine gate kept both values of half the changes.
func attributeSubject(subj string) bool {
	if attributeSubjects[subj] {
		return true
	}
	w := strings.Fields(subj)
	if len(w) < 2 {
		return false
	}
	if w[0] == "s" { // a third party's "s name is" ("Sister's name is Anna")
		w = w[1:]
	}
	switch w[len(w)-1] {
	case "is", "are", "was":
		return len(w) >= 2 && userAttributes[w[0]]
	}
	return false
}

var subjectMarkers = map[string]bool{
	"is": true, "are": true, "am": true, "was": true, "in": true, "at": true, "as": true,
	"for": true, "to": true, "of": true, "named": true, "called": true, "from": true,
}

// isMultiValued reports whether subject subj holds a list (multiValued).
func isMultiValued(subj string) bool {
	if multiValued[subj] {
		return true
	}
	first, _, more := strings.Cut(subj, " ")
	return more && first != "is" && multiValued[first]
}

// stopWords carry no content of their own (contentWords).
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "is": true, "are": true, "am": true, "was": true, "were": true,
	"be": true, "been": true, "i": true, "me": true, "my": true, "mine": true, "to": true, "of": true,
	"and": true, "really": true, "very": true, "also": true, "just": true, "so": true, "too": true,
	"it": true, "that": true, "this": true,
}

// negationWords say that a statement is negative; they are not content of
// a negative fact ("I no longer live in Paris" says "live in Paris", negated).
// "t" is what canonical leaves of "n't" ("don't" -> "don t").
var negationWords = map[string]bool{
	"not": true, "never": true, "no": true, "longer": true, "anymore": true, "cannot": true, "t": true,
	"don": true, "doesn": true, "didn": true, "isn": true, "aren": true, "wasn": true, "weren": true,
	"won": true, "can": true, "couldn": true, "shouldn": true, "wouldn": true, "haven": true, "hasn": true,
	"hadn": true, "ain": true,
}

// negative reports whether canonical words w state a negation: "not",
// "never", "cannot", "no longer", or an "n't" contraction ("don t").
func negative(w []string) bool {
	for i, x := range w {
		switch {
		case x == "not" || x == "never" || x == "cannot":
			return true
		case x == "no" && i+1 < len(w) && w[i+1] == "longer":
			return true
		case x == "t" && i > 0 && negationWords[w[i-1]] && strings.HasSuffix(w[i-1], "n"):
			return true
		}
	}
	return false
}

// contentWords is the sorted set of canonical words w without stop words,
// a plural or third-person "s" cut ("likes" = "like"): what a fact says.
// For a negative fact (neg) the negation markers are left out too, so
// "I don't eat meat anymore" and "Eats meat" say the same words.
func contentWords(w []string, neg bool) []string {
	out := make([]string, 0, len(w))
	for i, x := range w {
		if stopWords[x] || neg && (negationWords[x] || x == "any" && i+1 < len(w) && w[i+1] == "more" ||
			x == "more" && i > 0 && w[i-1] == "any") {
			continue
		}
		if len(x) > 3 && strings.HasSuffix(x, "s") && !strings.HasSuffix(x, "ss") {
			x = x[:len(x)-1]
		}
		out = append(out, x)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// within reports whether a is non-empty and every word of a is in b (both
// sorted, as contentWords returns them).
func within(a, b []string) bool {
	if len(a) == 0 || len(a) > len(b) {
		return false
	}
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j == len(b) || b[j] != x {
			return false
		}
		j++
	}
	return true
}

// subject is the canonical words before a fact's value: up to and
// including the first marker word after the first word (within five
// words), else the first word. "name is john" -> "name is"; "lives in
// paris" -> "lives in"; "likes pizza" -> "likes".
func subject(canon string) string {
	w := strings.Fields(canon)
	if len(w) == 0 {
		return ""
	}
	for i := 1; i < len(w) && i < 5; i++ {
		if subjectMarkers[w[i]] {
			return strings.Join(w[:i+1], " ")
		}
	}
	return w[0]
}

// relations are the people (and pets) a user's sentence may be about:
// "My sister likes pizza" is the sister's fact, not the user's.
var relations = wordSet(`sister sisters brother brothers sibling siblings mother mom mum mommy mama
	father dad daddy papa parent parents wife husband spouse partner boyfriend girlfriend fiance
	fiancee son sons daughter daughters child children kid kids baby friend friends bestie boss
	manager colleague colleagues coworker coworkers cousin cousins aunt uncle niece nephew grandma
	grandmother grandpa grandfather grandparents grandson granddaughter roommate flatmate housemate
	neighbor neighbour neighbors neighbours family dog dogs cat cats pet pets puppy kitten horse
	teacher doctor therapist mentor landlord team`)

// relationModifiers may come before a relation ("my best friend", "my
// older sister").
var relationModifiers = wordSet(`best older younger little big elder eldest oldest youngest twin step
	ex late new old close baby`)

// userAttributes are what "My X is Y" says about the user ("Name is John",
// "Job is teacher"): X is then not a third party.
var userAttributes = wordSet(`name age job birthday email phone address hometown occupation profession
	title role nationality height weight nickname surname username major degree salary goal hobby
	diet timezone pronouns religion gender language budget plan dream passion favorite favourite
	number location city country home work`)

// notHolders start a sentence without naming a third party.
var notHolders = wordSet(`i me we us you it this that there here what who where when how why which
	let everything nothing something`)

// verbs3 are third-person verb forms: after a name they make the name the
// fact's holder ("John lives in Paris"); first, they are the user's fact
// ("Lives in Paris", as extraction phrases it).
var verbs3 = func() map[string]bool {
	m := wordSet(`is was has had does goes went said will would can could should may might must
		no never doesn didn isn wasn won cannot`)
	for v := range regularVerbs {
		m[strings.ToLower(conjugate(v))] = true
	}
	return m
}()

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// holderOf is whose fact canonical words w state: "" for the user ("Likes
// pizza", "Name is Anna", "I no longer live in Paris"), else the third
// party it opens with: a relation ("sister likes pizza", "my best friend
// lives in rome"), a possessive ("john s birthday is", "dog s name is") or a
// name before a verb ("anna lives in paris"). Different holders never
// collapse in a decision.
func holderOf(w []string) string {
	if len(w) == 0 || w[0] == "i" {
		return ""
	}
	i := 0
	if w[0] == "my" {
		i = 1
	}
	j := i
	for j < len(w) && j < i+2 && relationModifiers[w[j]] {
		j++
	}
	if j < len(w) && relations[w[j]] {
		return strings.Join(w[i:j+1], " ")
	}
	if i+1 >= len(w) {
		return ""
	}
	x, next := w[i], w[i+1]
	if notHolders[x] || stopWords[x] || verbs3[x] || negationWords[x] {
		return ""
	}
	switch {
	case next == "s" && !userAttributes[x]: // "john s birthday" (canonical of "John's")
		return x
	case (next == "is" || next == "was" || next == "has" || next == "had") && userAttributes[x]:
		return "" // "name is anna"
	case verbs3[next]:
		return x
	}
	return ""
}
