package vector

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// wireVector is a vector as a request body writes it (an upsert item's or
// a search's "vector"). It reads what encoding/json reads into a
// []float32 — numbers rounded to float32 as strconv does, a null element
// refused (encoding/json read it as 0),
// anything else the same "want ..., got a JSON ..." error — but a number
// beyond float32's range is kept aside, as written, with its position, so
// the answer can say what is wrong and where: encoding/json said `field
// "items.vector": want a number, got a JSON number 1e39` (ADR-154).
type wireVector struct {
	v   []float32
	big string // the first number beyond float32's range, as written ("" when none)
	at  int    // its index in the vector
	// null is 1 + the index of the first null element (0 when none):
	// encoding/json read it as 0, a vector silently unlike the one sent.
	null int
}

// maxFloat32Text is float32's largest finite value as the range errors
// write it.
const maxFloat32Text = "±3.4028235e38"

var (
	float32Type      = reflect.TypeFor[float32]()
	float32SliceType = reflect.TypeFor[[]float32]()
)

// UnmarshalJSON implements json.Unmarshaler. b is one valid JSON value
// (encoding/json has scanned it whole before the call).
func (w *wireVector) UnmarshalJSON(b []byte) error {
	*w = wireVector{}
	i := skipSpace(b, 0)
	if i == len(b) {
		return &json.UnmarshalTypeError{Value: "value", Type: float32SliceType}
	}
	switch b[i] {
	case 'n':
		return nil // null: no vector, as for a []float32
	case '[':
	default:
		return &json.UnmarshalTypeError{Value: jsonKind(b[i]), Type: float32SliceType}
	}
	n := 1
	for _, c := range b {
		if c == ',' {
			n++
		}
	}
	v := make([]float32, 0, n)
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		switch c := b[i]; {
		case c == 'n': // null: refused by rangeError (encoding/json read 0)
			if w.null == 0 {
				w.null = len(v) + 1
			}
			v = append(v, 0)
			i += len("null")
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(b) && b[j] != ',' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
				j++
			}
			f, err := strconv.ParseFloat(string(b[i:j]), 32)
			if err != nil {
				if !errors.Is(err, strconv.ErrRange) || !math.IsInf(f, 0) {
					return &json.UnmarshalTypeError{Value: "number " + string(b[i:j]), Type: float32Type}
				}
				if w.big == "" {
					w.big, w.at = string(b[i:j]), len(v)
				}
			}
			v = append(v, float32(f))
			i = j
		default:
			return &json.UnmarshalTypeError{Value: jsonKind(c), Type: float32Type}
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	w.v = v
	return nil
}

// rangeError is the 400 for a vector with a number beyond float32's range
// or a null element; what names the vector ("items[3] (id \"a\"): vector");
// nil when none.
func (w *wireVector) rangeError(op, what string) error {
	if w.null > 0 && (w.big == "" || w.null-1 < w.at) {
		return errs.Errorf(op, errs.Invalid, "%s[%d] is null: want a number (a null was read as 0)", what, w.null-1)
	}
	if w.big == "" {
		return nil
	}
	return errs.Errorf(op, errs.Invalid, "%s[%d] = %s: out of float32 range (%s)", what, w.at, shared.CutEcho(w.big), maxFloat32Text)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonKind names the JSON value starting with c as encoding/json's
// UnmarshalTypeError does.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// upsertBody is UpsertRequest as sent (ADR-154: vectors read as
// wireVector).
type upsertBody struct {
	Items []upsertItem `json:"items"`
}

type upsertItem struct {
	Item
	Vector wireVector `json:"vector"`
}

// Validate implements shared.Validator: the first vector number beyond
// float32's range, by item and element.
func (b *upsertBody) Validate() error {
	for i := range b.Items {
		it := &b.Items[i]
		if err := it.Vector.rangeError("vector.upsert", fmt.Sprintf("items[%d] (id %q): vector", i, it.ID)); err != nil {
			return err
		}
	}
	return nil
}

// items is the upsert's items.
func (b *upsertBody) items() []Item {
	out := make([]Item, len(b.Items))
	for i := range b.Items {
		out[i] = b.Items[i].Item
		out[i].Vector = b.Items[i].Vector.v
	}
	return out
}
