package pathway

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// FuzzFilter feeds arbitrary filters and metadata to the filter parser and
// evaluator (ADR-140): parsing never panics, refuses with a message that
// names a path under "filters", and an accepted filter evaluates the same
// way twice, its NOT the opposite way; two numbers compare as their exact
// values do.
func FuzzFilter(f *testing.F) {
	for _, s := range [][2]string{
		{`{"category":"food"}`, `{"category":"food"}`},
		{`{"price":{"gte":5,"lt":10}}`, `{"price":7}`},
		{`{"AND":[{"a":"*"},{"OR":[{"b":{"in":[1,"1",true,null]}},{"NOT":[{"c":{"icontains":"X"}}]}]}]}`, `{"a":null,"b":1.0,"c":"xyz"}`},
		{`{"big":{"gt":9007199254740992}}`, `{"big":9007199254740993}`},
		{`{"n":{"lte":-1e-400}}`, `{"n":-0.1e-399}`},
		{`{"user_id":"u","x":{"nin":[]}}`, `{}`},
		{`{"x":{"ne":"a"},"y":{"contains":""}}`, `{"y":"","x":[1]}`},
		{`{"AND":{}}`, `{}`},
		{`{"p":{"between":1}}`, `{}`},
		{`null`, `{}`},
		{`{"n":{"eq":1E+2}}`, `{"n":100.000}`},
		{`{"created_at":{"gte":"2024-07-01","lt":"2024-07-01T12:00:00.000000001Z"}}`, `{"created_at":"x"}`},
		{`{"OR":[{"updated_at":{"in":["2024-07-02","2024-07-02T00:00:00+02:00"]}},{"created_at":"*"}]}`, `{}`},
		{`{"updated_at":{"contains":"2024"}}`, `{}`},
		{`{"OR":[{"user_id":"a","c":1},{"user_id":"b"}],"AND":[{"agent_id":"x"}]}`, `{"c":1}`},
		{`{"AND":[{"OR":[{"run_id":"r"},{"x":"*"}]}]}`, `{}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ftext, mtext string) {
		var md Metadata
		if err := json.Unmarshal([]byte(mtext), &md); err != nil {
			md = Metadata{"a": json.Number("1"), "b": "x"}
		}
		flt, _, alts, err := parseFilterScopes(json.RawMessage(ftext))
		if err != nil {
			var fe *filterError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.path, "filters") || fe.msg == "" {
				t.Fatalf("refusal %v: want a filters path and a message", err)
			}
			return
		}
		m := &Memory{Metadata: md, CreatedAt: time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2024, 7, 2, 0, 0, 0, 1, time.UTC)}
		// An OR of scopes (ADR-153): every branch names a scope.
		for _, a := range alts {
			if a.sc.Empty() || !strings.HasPrefix(a.path, "filters") {
				t.Fatalf("%s: a branch without a scope: %+v", ftext, a)
			}
			if a.f != nil && a.f.match(m) != a.f.match(m) {
				t.Fatal("branch match not deterministic")
			}
		}
		if flt == nil {
			return
		}
		got := flt.match(m)
		if flt.match(m) != got {
			t.Fatal("match not deterministic")
		}
		// NOT of an accepted filter (without scope ids, which only the
		// top level takes) is its negation, when within the caps.
		if bytes.Contains([]byte(ftext), []byte("_id")) {
			return
		}
		neg, _, err := parseFilter(json.RawMessage(`{"NOT":[` + ftext + `]}`))
		if err != nil {
			return // one level deeper or one term more than the caps
		}
		if neg.match(m) == got {
			t.Fatalf("NOT %s on %v: %v, the filter itself %v", ftext, md, !got, got)
		}
		// Numbers: decimal order agrees with exact rationals (small exponents).
		for _, v := range md {
			n, ok := v.(json.Number)
			if !ok || len(n) > 40 || strings.ContainsAny(string(n), "eE") {
				continue
			}
			a, ok1 := parseDecimal(string(n))
			b, ok2 := parseDecimal("12.5")
			ra, ok3 := new(big.Rat).SetString(string(n))
			if !ok1 || !ok2 || !ok3 {
				t.Fatalf("number %s not read", n)
			}
			if a.cmp(b) != ra.Cmp(big.NewRat(25, 2)) {
				t.Fatalf("%s vs 12.5: %d, exact %d", n, a.cmp(b), ra.Cmp(big.NewRat(25, 2)))
			}
		}
	})
}
