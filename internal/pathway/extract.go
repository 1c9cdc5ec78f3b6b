package pathway

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fact extraction without an LLM (ADR-053): the user's messages are split
// into sentences; questions and pleasantries are dropped; each remaining
// sentence is normalised into a short third-person fact the way Mem0's
// extraction phrases them ("I like pizza" -> "Likes pizza", "My name is
// John" -> "Name is John"); anything the rules do not cover is kept
// verbatim, trimmed.

// maxFactBytes bounds one extracted fact; longer sentences are cut at a word.
const maxFactBytes = 1000

// filler sentences carry no memory.
var filler = map[string]bool{
	"hi": true, "hello": true, "hey": true, "thanks": true, "thank you": true, "thx": true,
	"ok": true, "okay": true, "yes": true, "no": true, "sure": true, "bye": true,
	"goodbye": true, "great": true, "cool": true, "nice": true, "good morning": true,
	"good night": true, "good evening": true, "yeah": true, "yep": true, "nope": true,
}

// verbs that "I <verb> ..." turns into "<Verb>s ...".
var thirdPerson = map[string]string{
	"am": "Is", "have": "Has", "do": "Does", "go": "Goes",
}

var regularVerbs = map[string]bool{
	"like": true, "love": true, "prefer": true, "hate": true, "dislike": true, "enjoy": true,
	"live": true, "work": true, "want": true, "need": true, "use": true, "own": true,
	"speak": true, "play": true, "study": true, "teach": true, "drive": true, "eat": true,
	"drink": true, "read": true, "watch": true, "visit": true, "plan": true, "know": true,
	"believe": true, "think": true, "feel": true, "wish": true, "hope": true, "run": true,
	"write": true, "cook": true, "code": true, "travel": true, "avoid": true, "support": true,
	"follow": true, "collect": true, "listen": true, "attend": true, "manage": true, "lead": true,
}

// splitSentences splits text at sentence ends (. ! ? ; or a line break).
// A '.' between two non-space characters (3.5, e.g.) does not split.
func splitSentences(text string) []string {
	var out []string
	start := 0
	for i, r := range text {
		end := false
		switch r {
		case '\n', '!', '?', ';':
			end = true
		case '.':
			next, _ := utf8.DecodeRuneInString(text[i+1:])
			end = i+1 >= len(text) || unicode.IsSpace(next)
		}
		if end {
			seg := text[start : i+utf8.RuneLen(r)]
			out = append(out, seg)
			start = i + utf8.RuneLen(r)
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// extractFacts turns one user message into normalised facts, a compound
// sentence into one fact per clause (splitClauses, ADR-134).
func extractFacts(text string) []string { return extract(text, true) }

// extract is extractFacts; clauses false keeps a compound sentence one
// fact, as before ADR-134 (the baseline of TestSearchEval).
func extract(text string, clauses bool) []string {
	var facts []string
	for _, s := range splitSentences(text) {
		parts := []string{s}
		if clauses {
			parts = splitClauses(s)
		}
		for _, c := range parts {
			if f := normalizeFact(c); f != "" {
				facts = append(facts, f)
			}
		}
	}
	return facts
}

// normalizeFact cleans one sentence; "" means "not a fact".
func normalizeFact(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.HasSuffix(s, "?") {
		return "" // a question is not a fact about the user
	}
	s = strings.TrimRight(s, ".!;, ")
	s = strings.TrimLeft(s, "-*•> ")
	if !strings.ContainsFunc(s, unicode.IsLetter) || len(s) < 3 {
		return ""
	}
	if filler[strings.ToLower(strings.TrimRight(s, "!.,"))] {
		return ""
	}
	if s = stripLeadIn(s); filler[strings.ToLower(strings.TrimRight(s, "!.,"))] {
		return "" // "No, thanks"
	}
	s = thirdPersonFact(s)
	if len(s) > maxFactBytes {
		cut := strings.LastIndexByte(s[:maxFactBytes], ' ')
		if cut < maxFactBytes/2 {
			cut = maxFactBytes
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			if cut == 0 { // no rune start at all: bytes that are not UTF-8
				cut = maxFactBytes
			}
		}
		s = s[:cut]
	}
	return upperFirst(s)
}

// leadIns open a sentence before its fact, followed by a comma ("Hi, I'm
// Alex", "Well, I live in Porto"), and, for the time words, without one
// ("Now I live in Berlin"). A filler word followed by a comma is one too.
var leadIns = map[string]bool{
	"well": true, "oh": true, "so": true, "anyway": true, "btw": true, "by the way": true,
	"actually": true, "hi there": true, "hello there": true, "hey there": true,
	"now": true, "currently": true, "nowadays": true, "these days": true, "lately": true,
}

// timeLeadIns may open a first-person fact without a comma.
var timeLeadIns = []string{"now ", "currently ", "nowadays ", "these days ", "lately "}

// stripLeadIn cuts the greetings and lead-ins before a sentence's fact
// (ADR-148): "Hi, I am Alex" was kept as said, and "Now I live in Berlin"
// was not rewritten to "Lives in Berlin", so neither matched the facts it
// repeats or replaces. What is left must still be a sentence (3 bytes with
// a letter), else s is kept.
func stripLeadIn(s string) string {
	for range 3 {
		head, tail, ok := strings.Cut(s, ",")
		h := strings.ToLower(strings.TrimSpace(head))
		tail = strings.TrimSpace(tail)
		if ok && (filler[h] || leadIns[h]) && len(tail) >= 3 && strings.ContainsFunc(tail, unicode.IsLetter) {
			s = tail
			continue
		}
		lower := asciiLower(s)
		cut := false
		for _, p := range timeLeadIns {
			if rest, ok := strings.CutPrefix(lower, p); ok && (strings.HasPrefix(rest, "i ") || strings.HasPrefix(rest, "i'") ||
				strings.HasPrefix(rest, "i’") || strings.HasPrefix(rest, "my ")) {
				s, cut = s[len(p):], true
				break
			}
		}
		if !cut {
			break
		}
	}
	return s
}

// factAdverbs between "I" and a verb do not change the fact: "I now live
// in Berlin" is "Lives in Berlin".
var factAdverbs = map[string]bool{
	"now": true, "currently": true, "still": true, "also": true, "really": true, "actually": true,
	"nowadays": true,
}

// thirdPersonFact rewrites a leading first person: "I like X" -> "Likes X",
// "I'm X" / "I am X" -> "Is X", "I've X" -> "Has X", "My X is Y" -> "X is Y".
func thirdPersonFact(s string) string {
	words := strings.SplitN(s, " ", 3)
	first := strings.ToLower(words[0])
	rest := func(from int) string { return strings.Join(words[from:], " ") }
	switch {
	case (first == "i'm" || first == "i’m") && len(words) > 1 && isName(rest(1)),
		first == "i" && len(words) > 2 && strings.ToLower(words[1]) == "am" && isName(rest(2)):
		// "I am Alex" is the user's name, as Mem0 stores it (ADR-153):
		// "Name is", an attribute subject, so a new name replaces it.
		if first == "i" {
			return "Name is " + rest(2)
		}
		return "Name is " + rest(1)
	case first == "i'm" || first == "i’m":
		if len(words) > 1 {
			return "Is " + rest(1)
		}
	case first == "i've" || first == "i’ve":
		if len(words) > 1 {
			return "Has " + rest(1)
		}
	case first == "my" && len(words) > 1:
		return rest(1)
	case first == "i" && len(words) > 2 && factAdverbs[strings.ToLower(words[1])]:
		if f := thirdPersonFact("I " + words[2]); !strings.HasPrefix(f, "I ") {
			return f
		}
	case first == "i" && len(words) > 1:
		verb := strings.ToLower(words[1])
		if v, ok := thirdPerson[verb]; ok {
			return v + " " + rest(2)
		}
		if regularVerbs[verb] {
			return conjugate(verb) + " " + rest(2)
		}
	}
	return s
}

// notNames are capitalised words that say what someone is, not who:
// "I am British" stays "Is British".
var notNames = wordSet(`american british english french german italian spanish portuguese dutch swiss
irish scottish welsh canadian mexican brazilian argentinian chilean colombian peruvian cuban russian
ukrainian polish czech greek turkish swedish norwegian danish finnish icelandic austrian belgian
hungarian romanian bulgarian serbian croatian chinese japanese korean vietnamese thai indian pakistani
bangladeshi nepali filipino indonesian malaysian australian african nigerian kenyan egyptian moroccan
israeli iranian iraqi arab arabic lebanese syrian saudi european asian latino latina hispanic jewish
muslim christian catholic protestant buddhist hindu sikh atheist agnostic mormon vegan vegetarian
ok okay fine here back done sorry`)

// isName reports whether s is a person's name as said after "I am": one
// to three words, each a capital letter and then lower-case letters
// ("Alex", "Mary-Jane", "O'Brien"), none of them a word of notNames. "I am
// tired", "I am a teacher", "I am British" and "I'm OK" are not names.
func isName(s string) bool {
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 3 {
		return false
	}
	for _, w := range words {
		if notNames[strings.ToLower(w)] || w == "I" {
			return false
		}
		prev := ' '
		for _, r := range w {
			switch {
			case prev == ' ' || prev == '-' || prev == '\'' || prev == '’':
				if !unicode.IsUpper(r) { // a word, and each part after - or ', begins with a capital
					return false
				}
			case unicode.IsLower(r), r == '-', r == '\'', r == '’':
			default:
				return false
			}
			prev = r
		}
		if prev == '-' || prev == '\'' || prev == '’' {
			return false
		}
	}
	return true
}

func conjugate(verb string) string {
	switch {
	case strings.HasSuffix(verb, "s"), strings.HasSuffix(verb, "sh"), strings.HasSuffix(verb, "ch"),
		strings.HasSuffix(verb, "x"), strings.HasSuffix(verb, "z"):
		verb += "es"
	case strings.HasSuffix(verb, "y") && len(verb) > 1 && !strings.ContainsRune("aeiou", rune(verb[len(verb)-2])):
		verb = verb[:len(verb)-1] + "ies"
	default:
		verb += "s"
	}
	return upperFirst(verb)
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// canonical is the text used for exact-duplicate detection: lower case,
// letters and digits only, single spaces.
func canonical(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			space = false
		} else {
			space = true
		}
	}
	return b.String()
}

// hashText is a memory's "hash" (Mem0 keeps an md5; this is sha256 of the
// canonical text, 32 hex characters).
func hashText(s string) string {
	sum := sha256.Sum256([]byte(canonical(s)))
	return hex.EncodeToString(sum[:16])
}

// negation recognises "I no longer X", "I don't X anymore", "I stopped X-ing"
// style retractions and returns the positive statement they retract.
func negation(fact string) (positive string, ok bool) {
	// ASCII lower case only: the phrases are ASCII, and the indexes found
	// in l must be the same in fact. strings.ToLower changes byte lengths
	// ("Ⱥ" 2 -> 3 bytes, an invalid byte -> U+FFFD), and then slicing fact
	// panicked: "ȺȺȺȺȺȺȺȺ no longer x" was a 500.
	l := asciiLower(fact)
	for _, p := range []struct{ from, to string }{
		{"no longer ", ""}, {"don't ", ""}, {"do not ", ""}, {"doesn't ", ""}, {"does not ", ""},
		{"am not ", "am "}, {"is not ", "is "}, {"isn't ", "is "},
	} {
		i := strings.Index(l, p.from)
		if i < 0 {
			continue
		}
		if p.from != "no longer " && !strings.Contains(l, "anymore") && !strings.Contains(l, "any more") {
			continue
		}
		pos := fact[:i] + p.to + fact[i+len(p.from):]
		pos = strings.NewReplacer(" anymore", "", " any more", "").Replace(pos)
		return normalizeFact(pos), true
	}
	return "", false
}

// asciiLower lower-cases the ASCII letters of s, byte for byte: the result
// has the same length and the same byte offsets as s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
