package ollama

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// answer is Ollama's /api/embed answer as embedd reads it. The official
// client decodes into [][]float32, where a null element silently becomes
// 0 (a vector of nulls a zero vector, which cosine search cannot rank) and
// a 200 carrying {"error":...} decodes as no embeddings at all; vector
// refuses anything but numbers within float32's range, and Error keeps
// the message of such an answer.
type answer struct {
	Model      string   `json:"model"`
	Embeddings []vector `json:"embeddings"`
	Error      string   `json:"error"`
}

// vector is one embedding: a JSON array of numbers.
type vector []float32

// errNotVector says what an element of an embedding was instead of a
// number.
type errNotVector struct{ what string }

func (e *errNotVector) Error() string { return "an embedding holds " + e.what + ", want numbers" }

// UnmarshalJSON implements json.Unmarshaler. encoding/json has checked b
// is one valid JSON value.
func (v *vector) UnmarshalJSON(b []byte) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return &errNotVector{what: describeValue(b[i:])}
	}
	out := (*v)[:0]
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		*v = out
		return nil
	}
	for i < len(b) {
		i = skipSpace(b, i)
		j := i
		for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || (b[j] >= '0' && b[j] <= '9')) {
			j++
		}
		if j == i {
			return &errNotVector{what: describeValue(b[i:])}
		}
		f, err := strconv.ParseFloat(string(b[i:j]), 32)
		if err != nil || math.IsInf(f, 0) {
			return &errNotVector{what: fmt.Sprintf("%.40s (beyond float32)", b[i:j])}
		}
		out = append(out, float32(f))
		i = skipSpace(b, j)
		if i >= len(b) {
			break
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			*v = out
			return nil
		default:
			return errors.New("malformed embedding")
		}
	}
	return errors.New("malformed embedding")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// describeValue names the JSON value that starts b.
func describeValue(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "something else"
}

// decodeAnswer parses the body of a 2xx /api/embed answer. Errors say what
// was wrong with it, for a 502 naming Ollama.
func decodeAnswer(body []byte) (answer, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		var nv *errNotVector
		if errors.As(err, &nv) {
			return answer{}, nv
		}
		return answer{}, fmt.Errorf("the answer is not Ollama's JSON (%v): %.80q", err, body)
	}
	if a.Error != "" {
		return answer{}, errors.New("answered an error: " + a.Error)
	}
	return a, nil
}
