// Package token is the tokenizer and character n-gram hasher of the
// built-in embedder. It is shared by the runtime provider
// (internal/embed/builtin) and by the table generator
// (internal/embed/builtin/gen), so a word is split, normalised and hashed
// the same way when the table is built and when text is embedded.
//
// Rules: a token is a maximal run of Unicode letters, digits and
// apostrophes (' U+2019 U+02BC, all written as '), lowercased; apostrophes
// at either end are dropped. A run is cut every MaxTokenBytes bytes, so a
// 100k-character blob without spaces costs O(n) and never one huge token.
// Tokenizer records lower->upper case changes ("getUserName") as camel
// boundaries, which the embedder uses only when the whole word is unknown.
//
// The hot path allocates nothing: a Tokenizer owns its buffers and is meant
// to be reused (one per goroutine).
package token

import (
	"unicode"
	"unicode/utf8"
)

// MaxTokenBytes is the longest token; longer runs are cut into pieces.
const MaxTokenBytes = 64

// maxCamel is how many camel boundaries a token remembers.
const maxCamel = 8

// Tokenizer iterates over the tokens of a text. The zero value is ready
// after Reset.
type Tokenizer struct {
	s      string
	i      int
	buf    [MaxTokenBytes + 4]byte
	n      int
	camel  [maxCamel]uint8
	ncamel int
}

// Reset starts tokenizing s.
func (t *Tokenizer) Reset(s string) { t.s, t.i = s, 0 }

// isWordRune reports whether r belongs to a token; apostrophe-like runes
// are reported separately.
func isApos(r rune) bool { return r == '\'' || r == '\u2019' || r == '\u02bc' }

// Next returns the next token, lowercased, valid until the next call, or
// ok=false at the end of the text.
func (t *Tokenizer) Next() (tok []byte, ok bool) {
	for {
		if !t.scan() {
			return nil, false
		}
		if t.n > 0 {
			return t.buf[:t.n], true
		}
	}
}

// Camel returns the byte offsets inside the last token where a lowercase
// letter was followed by an uppercase one.
func (t *Tokenizer) Camel() []uint8 { return t.camel[:t.ncamel] }

// scan reads one run into buf (possibly empty after trimming apostrophes).
// It returns false when the text is exhausted.
func (t *Tokenizer) scan() bool {
	s := t.s
	// skip separators
	for t.i < len(s) {
		c := s[t.i]
		if c < utf8.RuneSelf {
			if asciiWord[c] != 0 {
				break
			}
			t.i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[t.i:])
		if isApos(r) || unicode.IsLetter(r) || unicode.IsDigit(r) {
			break
		}
		t.i += size
	}
	if t.i >= len(s) {
		return false
	}
	n, nc := 0, 0
	prevLower := false
	for t.i < len(s) {
		c := s[t.i]
		if c < utf8.RuneSelf {
			k := asciiWord[c]
			if k == 0 {
				break
			}
			if n+1 > MaxTokenBytes {
				break
			}
			if k == 'U' {
				if prevLower && nc < maxCamel && n > 0 {
					t.camel[nc] = uint8(n)
					nc++
				}
				c += 'a' - 'A'
				prevLower = false
			} else {
				prevLower = k == 'l'
			}
			t.buf[n] = c
			n++
			t.i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[t.i:])
		switch {
		case isApos(r):
			r = '\''
			prevLower = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) {
				if prevLower && nc < maxCamel && n > 0 {
					t.camel[nc] = uint8(n)
					nc++
				}
				prevLower = false
				r = unicode.ToLower(r)
			} else {
				prevLower = unicode.IsLower(r)
			}
		default:
			goto done
		}
		if n+utf8.RuneLen(r) > MaxTokenBytes {
			goto done
		}
		n += utf8.EncodeRune(t.buf[n:], r)
		t.i += size
	}
done:
	// trim apostrophes at both ends, shifting camel offsets
	start := 0
	for start < n && t.buf[start] == '\'' {
		start++
	}
	for n > start && t.buf[n-1] == '\'' {
		n--
	}
	if start > 0 {
		copy(t.buf[:], t.buf[start:n])
		n -= start
		j := 0
		for _, c := range t.camel[:nc] {
			if int(c) > start && int(c)-start < n {
				t.camel[j] = c - uint8(start)
				j++
			}
		}
		nc = j
	} else {
		j := 0
		for _, c := range t.camel[:nc] {
			if int(c) < n {
				t.camel[j] = c
				j++
			}
		}
		nc = j
	}
	t.n, t.ncamel = n, nc
	return true
}

// asciiWord classifies ASCII bytes: 0 separator, 'l' lowercase letter,
// 'U' uppercase letter, 'd' digit, 'a' apostrophe.
var asciiWord = func() (a [utf8.RuneSelf]byte) {
	for c := 'a'; c <= 'z'; c++ {
		a[c] = 'l'
	}
	for c := 'A'; c <= 'Z'; c++ {
		a[c] = 'U'
	}
	for c := '0'; c <= '9'; c++ {
		a[c] = 'd'
	}
	a['\''] = 'a'
	return a
}()

// Words returns the tokens of s as strings (for tests and the generator;
// allocates).
func Words(s string) []string {
	var t Tokenizer
	t.Reset(s)
	var out []string
	for {
		tok, ok := t.Next()
		if !ok {
			return out
		}
		out = append(out, string(tok))
	}
}

// NGramConfig fixes the character n-grams of unknown words: the word is
// wrapped as "<word>" and every byte n-gram with MinN <= n <= MaxN is
// hashed (FNV-1a, 32 bit) into one of Buckets buckets.
type NGramConfig struct {
	MinN, MaxN int
	Buckets    uint32
}

// MaxNGrams bounds the n-grams taken from one token.
const MaxNGrams = 3 * (MaxTokenBytes + 2)

// AppendBuckets appends the bucket ids of tok's n-grams to out and returns
// it. It allocates nothing when out has room for MaxNGrams ids.
func (c NGramConfig) AppendBuckets(out []uint32, tok []byte) []uint32 {
	if c.Buckets == 0 {
		return out
	}
	var w [MaxTokenBytes + 2]byte
	w[0] = '<'
	m := copy(w[1:MaxTokenBytes+1], tok) + 2
	w[m-1] = '>'
	word := w[:m]
	for n := c.MinN; n <= c.MaxN; n++ {
		for i := 0; i+n <= len(word); i++ {
			h := uint32(2166136261)
			for _, b := range word[i : i+n] {
				h ^= uint32(b)
				h *= 16777619
			}
			out = append(out, h%c.Buckets)
		}
	}
	return out
}
