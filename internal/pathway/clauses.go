package pathway

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Compound sentences (ADR-134). Mem0's add answers one entry per fact it
// extracts; "Alice lives in Lisbon and works as a nurse" holds two, and a
// search for "what is Alice's job?" should find the one about her work. A
// sentence is split where "and", "but" or a comma joins a clause that has
// its own verb:
//
//   - a verb phrase that shares the first clause's subject gets that
//     subject: "Alice lives in Lisbon and works as a nurse" -> "Alice lives
//     in Lisbon", "Alice works as a nurse"; "I like tea but hate coffee" ->
//     "I like tea", "I hate coffee" (-> "Likes tea", "Hates coffee");
//   - after "and"/"but" only, a clause with its own subject (a pronoun, a
//     possessive or a capitalised name, then a verb within four words)
//     stands alone: "My name is Sam and I work at a bank"; a leading he,
//     she or they takes the first clause's subject.
//
// Nothing else splits: "I like pizza and pasta", "Bob and Carol have a
// house", "I like to read and write" (an infinitive before "and"), a
// question, or a sentence that opens with if/when/because/... (a
// condition is not a fact on its own). Every word but the joining "and",
// "but" or comma is kept in some clause, so no text is lost.

// clauseVerbs are the verb forms that may open a joined verb phrase or
// follow a clause's subject: auxiliaries, and the base, third-person and
// past forms of common verbs.
var clauseVerbs = func() map[string]bool {
	m := wordSet(`am is are was were has have had do does did can could will would should might must
		i'm i've i'd i'll he's she's we're they're we've they've don't doesn't didn't can't won't isn't
		aren't wasn't weren't hasn't haven't never
		went grew flew rode swam sang ate drank drove wrote ran taught bought spoke became began brought
		met left lost won made took got gave came kept spent wore sold slept woke paid thought felt knew
		saw heard told said found built`)
	base := wordSet(`fly sing ride swim grow move stay make take get give go come bake paint dance climb
		hike ski surf build design volunteer walk cycle commute spend keep practice train learn sleep
		wake wear buy sell rent share care miss worry fear try start stop finish join leave lose win
		meet marry graduate help call text email become begin bring raise save earn pay belong tend
		moved teach`)
	for v := range regularVerbs {
		base[v] = true
	}
	for v := range base {
		m[v] = true
		m[strings.ToLower(conjugate(v))] = true
		switch {
		case strings.HasSuffix(v, "e"):
			m[v+"d"] = true
		case strings.HasSuffix(v, "y") && len(v) > 2 && !strings.ContainsRune("aeiou", rune(v[len(v)-2])):
			m[v[:len(v)-1]+"ied"] = true
		default:
			m[v+"ed"] = true
		}
	}
	for _, v := range []string{"planned", "stopped", "shopped", "jogged"} {
		m[v] = true
	}
	return m
}()

// clauseAdverbs may stand between a joining word and its verb ("and also
// works"), or end a subject ("I no longer like").
var clauseAdverbs = wordSet(`also now still usually often sometimes always never really just then currently
	recently mostly even no longer not only rarely occasionally already`)

// pronouns that open a clause of their own; he/she/they take the first
// clause's subject.
var clausePronouns = wordSet(`i i'm i've i'd i'll he she they we you he's she's they're we're we've
	they've my his her their our`)

// subordinators open a sentence that is one condition or circumstance.
var subordinators = wordSet(`if when whenever because although though while unless since after before
	once until whether`)

// clauseWord is w lower-cased with surrounding punctuation trimmed and
// curly apostrophes made straight, for the word tests above.
func clauseWord(w string) string {
	w = strings.ReplaceAll(w, "’", "'")
	w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' })
	return strings.ToLower(w)
}

// maxSubjectWords bounds where the first clause's verb may be: a sentence
// whose first verb comes later is not split.
const maxSubjectWords = 8

// splitClauses splits one sentence into the clauses described above; a
// sentence that does not split comes back whole (as one element).
func splitClauses(s string) []string {
	words := strings.Fields(s)
	if len(words) < 4 || strings.HasSuffix(strings.TrimSpace(s), "?") || subordinators[clauseWord(words[0])] {
		return []string{s}
	}
	clean := make([]string, len(words))
	for i, w := range words {
		clean[i] = clauseWord(w)
	}
	subj, fv := clauseSubject(words, clean, true)
	if fv < 0 {
		return []string{s}
	}
	for _, c := range clean[:fv] {
		if c == "who" || c == "which" || c == "that" || c == "whose" {
			return []string{s} // "Alice, who lives in Lisbon, works as a nurse"
		}
	}
	var out []string
	start := 0   // first word of the current clause
	prefix := "" // subject to put before it ("" = none)
	for i := fv + 1; i < len(words); i++ {
		joint := clean[i] == "and" || clean[i] == "but"
		comma := !joint && strings.HasSuffix(words[i-1], ",")
		if !joint && !comma {
			continue
		}
		r := i
		if joint {
			r = i + 1
			// "I like to read and write": an infinitive, not a clause.
			if i >= 2 && clean[i-2] == "to" {
				continue
			}
		}
		v := r
		for v < len(words) && clauseAdverbs[clean[v]] && clean[v] != "never" {
			v++
		}
		if v+1 >= len(words) {
			break // nothing after the verb: "I like tea and eat"
		}
		next, newStart := "", r
		switch {
		case clauseVerbs[clean[v]] && startsLower(words[v]):
			next = subj // a verb phrase of the same subject
		case joint && (clausePronouns[clean[r]] || startsUpper(words[r]) && !clauseVerbs[clean[r]]):
			s2, fv2 := clauseSubject(words[r:], clean[r:], false)
			if fv2 < 0 || fv2 > 4 {
				continue
			}
			switch clean[r] {
			case "he", "she", "they":
				if subj != "" && !clausePronouns[strings.ToLower(subj)] {
					next, newStart, s2 = subj, r+1, subj // "Alice ... and she works" -> "Alice works"
				}
			}
			subj = s2
		default:
			continue
		}
		if piece := joinClause(prefix, words[start:i]); piece != "" {
			out = append(out, piece)
		}
		start, prefix = newStart, next
	}
	if len(out) == 0 {
		return []string{s}
	}
	if piece := joinClause(prefix, words[start:]); piece != "" {
		out = append(out, piece)
	}
	return out
}

// clauseSubject finds the first verb of the clause words (clean: their
// clauseWord) within maxSubjectWords, and returns the subject before it
// (adverbs and negations at its end left out; "I" for "I'm", "I've" ...)
// and the verb's index, or -1. For the sentence's first clause (first), a
// capitalised verb first means no subject ("Likes pizza and plays tennis").
func clauseSubject(words, clean []string, first bool) (string, int) {
	for i := 0; i < len(words) && i < maxSubjectWords; i++ {
		c := clean[i]
		if !clauseVerbs[c] {
			continue
		}
		if p, _, ok := strings.Cut(words[i], "'"); clausePronouns[c] && strings.Contains(c, "'") {
			// "I'm a nurse and work nights": the subject is the pronoun.
			if !ok {
				p, _, _ = strings.Cut(words[i], "’")
			}
			return strings.TrimSpace(strings.Join(words[:i], " ") + " " + p), i
		}
		if i == 0 {
			if first {
				return "", 0
			}
			return "", -1
		}
		j := i
		for j > 0 && (clauseAdverbs[clean[j-1]] || negationWords[clean[j-1]]) {
			j--
		}
		return strings.Join(words[:j], " "), i
	}
	return "", -1
}

// joinClause is prefix and words as one clause, without the joining comma.
func joinClause(prefix string, words []string) string {
	c := strings.TrimRight(strings.Join(words, " "), ", ")
	if c == "" {
		return ""
	}
	if prefix != "" {
		return prefix + " " + c
	}
	return c
}

func startsUpper(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r)
}

func startsLower(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsLower(r)
}
