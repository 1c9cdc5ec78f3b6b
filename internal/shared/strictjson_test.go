package shared

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
)

// storeDaemon keeps what DecodeJSON gave it, as a daemon stores a memory
// text, a metadata value or a SQL string.
type storeReq struct {
	Text  string         `json:"text"`
	SQL   string         `json:"sql"`
	Meta  map[string]any `json:"meta"`
	Items []any          `json:"items"`
	K     int            `json:"k"`
	Opts  *struct {
		Limit int `json:"limit"`
	} `json:"opts"`
	Rows []struct {
		ID string `json:"id"`
	} `json:"rows"`
}

func startStore(t *testing.T) (*Server, func() []storeReq) {
	t.Helper()
	var mu sync.Mutex
	var stored []storeReq
	d := func(_ context.Context, env *Env) (*Daemon, error) {
		return &Daemon{Routes: func(r chi.Router) {
			r.Post("/v1/store", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				var req storeReq
				if err := DecodeJSON(r, &req); err != nil {
					return err
				}
				mu.Lock()
				stored = append(stored, req)
				mu.Unlock()
				return WriteJSON(w, 200, req)
			}))
		}}, nil
	}
	s, err := Start(context.Background(), "storaged", testConfig(t), d, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, func() []storeReq {
		mu.Lock()
		defer mu.Unlock()
		return append([]storeReq(nil), stored...)
	}
}

// TestStrictJSONBodies: a request body with invalid UTF-8, an unpaired
// surrogate escape, a key twice in one object (at any depth, however it
// is escaped), a byte order mark or data after its value is a 400
// invalid naming the byte (and the key and its path), and nothing is
// stored. encoding/json stored "caf\xe9" as "caf\ufffd" and took the last
// of {"sql":"SELECT 1","sql":"DROP ..."}.
func TestStrictJSONBodies(t *testing.T) {
	s, stored := startStore(t)
	manyKeys := func(dup string) string {
		var b strings.Builder
		b.WriteString(`{"meta":{`)
		for i := 0; i < 40; i++ {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		b.WriteString(dup + `}}`)
		return b.String()
	}
	for _, tc := range []struct{ name, body, want string }{
		{"latin1", "{\"text\":\"caf\xe9\"}", `request body is not valid JSON: invalid UTF-8 at byte 12: JSON text must be UTF-8`},
		{"cut sequence", "{\"text\":\"caf\xc3\"}", `invalid UTF-8 at byte 12`},
		{"surrogate encoded in UTF-8", "{\"text\":\"\xed\xa0\x80\"}", `invalid UTF-8 at byte 9`},
		{"overlong", "{\"text\":\"\xc0\xaf\"}", `invalid UTF-8 at byte 9`},
		{"invalid UTF-8 in a key", "{\"meta\":{\"k\xff\":1}}", `invalid UTF-8 at byte 11`},
		{"lone high surrogate", `{"text":"a\ud800"}`, `unpaired UTF-16 surrogate escape \ud800 at byte 10`},
		{"high then other escape", `{"text":"\ud800\n"}`, `unpaired UTF-16 surrogate escape \ud800 at byte 9`},
		{"two highs", `{"text":"\uD800\uDBFF"}`, `unpaired UTF-16 surrogate escape \ud800 at byte 9`},
		{"lone low surrogate", `{"text":"\udc00"}`, `unpaired UTF-16 surrogate escape \udc00 at byte 9`},
		{"duplicate sql", `{"sql":"SELECT 1","sql":"DROP TABLE t"}`, `request body is not valid JSON: duplicate key "sql" at $.sql (byte 18): a key may appear once in an object`},
		{"duplicate metadata", `{"meta":{"k":1,"k":10}}`, `duplicate key "k" at $.meta.k (byte 15)`},
		{"escaped duplicate", `{"text":"a","\u0074ext":"b"}`, `duplicate key "text" at $.text (byte 12)`},
		{"surrogate pair duplicate", `{"meta":{"😀":1,"\ud83d\ude00":2}}`, `duplicate key "😀" at $.meta["😀"]`},
		{"deep", `{"items":[{"a":1},{"b":{"x y":[{"q":1},{"q":2,"r":[],"q":3}]}}]}`, `duplicate key "q" at $.items[1].b["x y"][1].q (byte 53)`},
		{"many keys", manyKeys(`"k7":1`), `duplicate key "k7" at $.meta.k7`},
		{"empty key", `{"meta":{"":1,"":2}}`, `duplicate key "" at $.meta[""]`},
		{"case variant of a field", `{"sql":"SELECT 1","SQL":"DROP TABLE t"}`, `request body is not valid JSON: key "SQL" at $.SQL (byte 18) is not a field: field names are case-sensitive ("sql")`},
		{"case variant alone", `{"Text":"a"}`, `key "Text" at $.Text (byte 1) is not a field`},
		{"long s folds to s", `{"\u017fql":"DROP TABLE t"}`, `key "ſql" at $["ſql"] (byte 1) is not a field: field names are case-sensitive ("sql")`},
		{"nested struct", `{"opts":{"LIMIT":1}}`, `key "LIMIT" at $.opts.LIMIT (byte 9) is not a field`},
		{"struct in a list", `{"rows":[{"id":"a"},{"Id":"b"}]}`, `key "Id" at $.rows[1].Id (byte 21) is not a field: field names are case-sensitive ("id")`},
		{"byte order mark", "\xef\xbb\xbf{\"text\":\"a\"}", `request body is not valid JSON: a UTF-8 byte order mark (EF BB BF) at byte 0: send JSON without one (RFC 8259 section 8.1)`},
		{"closing bracket after", `{"text":"a"}]`, `request body has data after the JSON value (at byte 12)`},
		{"second value", `{"text":"a"} {"text":"b"}`, `request body has data after the JSON value (at byte 13)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(s.URL()+"/v1/store", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Fatalf("%d %s, want 400", resp.StatusCode, b)
			}
			if e := errBody(t, b); e.Kind != errs.Invalid || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("error %s %q, want %q in it", e.Kind, e.Message, tc.want)
			}
		})
	}
	if got := stored(); len(got) != 0 {
		t.Fatalf("refused bodies stored: %+v", got)
	}

	// What stays accepted, exactly as sent: non-ASCII text, surrogate
	// pairs, keys differing in case only, the same key in two objects.
	body := `{"text":"café \ud83d\ude00 ü","sql":"SELECT 'x'","meta":{"a":1,"A":2,"o":{"a":3,"A":4}},"items":[{"a":1},{"a":2,"A":3}],"k":3,"opts":{"limit":2},"rows":[{"id":"x"}]}`
	resp, err := http.Post(s.URL()+"/v1/store", "application/json", strings.NewReader(body+"\n \t"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	got := stored()
	if len(got) != 1 || got[0].Text != "café 😀 ü" || got[0].Meta["A"] != 2.0 || got[0].Meta["a"] != 1.0 || len(got[0].Items) != 2 || got[0].Opts.Limit != 2 || got[0].Rows[0].ID != "x" {
		t.Fatalf("stored %+v", got)
	}
}

// TestStrictJSONChunks: the verdict and its offset do not depend on where
// the reads cut the body (one byte at a time, a multi-byte character or
// an escape cut in two).
func TestStrictJSONChunks(t *testing.T) {
	for _, body := range []string{
		"{\"text\":\"caf\xe9\"}",
		"{\"text\":\"é😀\xf0\x9f\x98\"}",
		`{"a":{"b\u00e9":1,"b` + "é" + `":2}}`,
		`{"t":"\ud83d\ude00\ud800x"}`,
		`{"a":[1,2.5e-3,-0,true,false,null,{"x":1}],"a":1}`,
		"\xef\xbb\xbf{}",
		`{"x":1} 7`,
	} {
		whole := CheckJSON([]byte(body))
		if whole == nil {
			t.Fatalf("%q: accepted", body)
		}
		for _, r := range []io.Reader{iotest.OneByteReader(strings.NewReader(body)), iotest.HalfReader(strings.NewReader(body))} {
			_, err := io.ReadAll(StrictJSON(r))
			if err == nil || err.Error() != whole.Error() {
				t.Errorf("%q: %v in pieces, %v whole", body, err, whole)
			}
		}
	}
}

// TestStrictJSONTooLarge: past the body limit stays a 413, not a 400 from
// the strict reader.
func TestStrictJSONTooLarge(t *testing.T) {
	cfg := testConfig(t)
	cfg.Storaged.MaxBodyBytes = 1000
	d := func(_ context.Context, env *Env) (*Daemon, error) {
		return &Daemon{Routes: func(r chi.Router) {
			r.Post("/v1/store", env.Handle(func(w http.ResponseWriter, r *http.Request) error {
				var req storeReq
				if err := DecodeJSON(r, &req); err != nil {
					return err
				}
				return WriteJSON(w, 200, req)
			}))
		}}, nil
	}
	s, err := Start(context.Background(), "storaged", cfg, d, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, body := range []string{`{"text":"` + strings.Repeat("é", 1000) + `"}`, `{"text":"a"}` + strings.Repeat(" ", 2000)} {
		resp, err := http.Post(s.URL()+"/v1/store", "application/json", io.MultiReader(strings.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || errBody(t, b).Kind != errs.TooLarge {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
}

// fuzzT is a struct target for FuzzStrictJSON: nested structs, lists and
// maps of them, an embedded struct, a field json leaves alone.
type fuzzT struct {
	A    int              `json:"a"`
	S    string           `json:"s,omitempty"`
	Sub  *fuzzT           `json:"sub"`
	List []fuzzT          `json:"list"`
	M    map[string]fuzzT `json:"m"`
	Raw  json.RawMessage  `json:"raw"`
	Skip int              `json:"-"`
	Inner
}

// Inner is embedded in fuzzT: its fields are fuzzT's.
type Inner struct {
	ID  string `json:"id"`
	Any any    `json:"any"`
}

var foldRefusal = regexp.MustCompile(`key ("(?:[^"\\]|\\.)*") at .* is not a field: field names are case-sensitive \((".*")\)$`)

var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F]`)

// strictOracle says independently of the checker whether data, which
// encoding/json accepts, has a fault the checker must refuse.
func strictOracle(data []byte) (badUTF8, surrogate bool, dups []string) {
	badUTF8 = !utf8.Valid(data)
	surrogate = surrogateEscape.Match(data)
	if badUTF8 || surrogate {
		return
	}
	// Walk the tokens, keeping the keys of each open object.
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj      bool
		keys     map[string]bool
		expected bool // an object: the next string is a key
	}
	var st []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		var top *frame
		if len(st) > 0 {
			top = st[len(st)-1]
		}
		isKey := top != nil && top.obj && top.expected
		if top != nil && top.obj {
			top.expected = !top.expected
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				st = append(st, &frame{obj: true, keys: map[string]bool{}, expected: true})
			case '[':
				st = append(st, &frame{})
			default:
				st = st[:len(st)-1]
			}
		case string:
			if isKey {
				if top.keys[v] {
					dups = append(dups, v)
				}
				top.keys[v] = true
			}
		}
	}
}

// FuzzStrictJSON compares the strict decoding of a body with
// encoding/json's: a body it accepts decodes to what json.Unmarshal gives;
// a body json.Unmarshal refuses it refuses; one it refuses that
// json.Unmarshal accepts has the fault it names (invalid UTF-8, a lone
// surrogate, a duplicate key, by an independent check). The verdict does
// not depend on how the reads cut the body, and the checker's grammar is
// JSON's (json.Valid).
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":2}]}}`, "{\"a\":\"\xe9\"}", `"\ud800"`,
		`"\ud83d\ude00"`, `{"\u0061":1,"a":2}`, "\xef\xbb\xbf{}", `[1,2,3] x`, `-0.5e+10`, `01`, `{"a":tru}`,
		`{"a":"\x01"}`, `[` + strings.Repeat(`"x",`, 30) + `1]`, `{"a" : 1 , "b" : [ ] , "c" : { } }`, ``, ` `,
		`{"a":1,"A":2}`, `{"sub":{"list":[{"id":"x","ID":"y"}]}}`, `{"m":{"K":{"s":"x"}},"raw":{"A":1,"a":2}}`, `{"any":{"ID":1},"iD":2}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		uerr := json.Unmarshal(data, &want)

		var got any
		serr := decodeBody(bytes.NewReader(data), &got, false)
		for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(data)), iotest.HalfReader(bytes.NewReader(data))} {
			var g any
			if err := decodeBody(r, &g, false); (err == nil) != (serr == nil) {
				t.Fatalf("%q: %v read whole, %v in pieces", data, serr, err)
			}
		}
		switch {
		case serr == nil && uerr != nil:
			t.Fatalf("%q: accepted, encoding/json refuses: %v", data, uerr)
		case serr == nil && !reflect.DeepEqual(got, want):
			t.Fatalf("%q: decoded %#v, encoding/json %#v", data, got, want)
		case serr != nil && uerr == nil:
			var se *StrictJSONError
			cerr := CheckJSON(data)
			if !errors.As(cerr, &se) {
				t.Fatalf("%q: refused (%v), encoding/json accepts, the checker finds nothing", data, serr)
			}
			bad, sur, dups := strictOracle(data)
			switch {
			case strings.HasPrefix(se.Reason, "invalid UTF-8"):
				if !bad {
					t.Fatalf("%q: %v, but it is valid UTF-8", data, se)
				}
			case strings.HasPrefix(se.Reason, "unpaired"):
				if !sur {
					t.Fatalf("%q: %v, but has no surrogate escape", data, se)
				}
			case strings.HasPrefix(se.Reason, "duplicate key"):
				if !bad && !sur && len(dups) == 0 {
					t.Fatalf("%q: %v, but no key is there twice", data, se)
				}
			default:
				t.Fatalf("%q: refused for %v, encoding/json accepts", data, se)
			}
		}
		// Into a struct (field names matched by the checker too): what it
		// accepts decodes as encoding/json decodes it; what it refuses
		// that encoding/json takes has one of its faults.
		var wantT, gotT fuzzT
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		terr := dec.Decode(&wantT)
		if _, err := dec.Token(); terr == nil && err != io.EOF {
			terr = errors.New("data after the value")
		}
		serrT := decodeBody(iotest.HalfReader(bytes.NewReader(data)), &gotT, false)
		switch {
		case serrT == nil && terr != nil:
			t.Fatalf("%q: accepted into a struct, encoding/json refuses: %v", data, terr)
		case serrT == nil && !reflect.DeepEqual(gotT, wantT):
			t.Fatalf("%q: decoded %+v, encoding/json %+v", data, gotT, wantT)
		case serrT != nil && terr == nil:
			msg := errs.Message(serrT)
			strict := false
			for _, r := range []string{"invalid UTF-8 at byte", "unpaired UTF-16 surrogate escape", "duplicate key", "is not a field: field names are case-sensitive"} {
				strict = strict || strings.HasPrefix(msg, "request body is not valid JSON: ") && strings.Contains(msg, r)
			}
			if !strict {
				t.Fatalf("%q: refused into a struct (%v), encoding/json takes it", data, serrT)
			}
			if m := foldRefusal.FindStringSubmatch(msg); m == nil && strings.Contains(msg, "is not a field") {
				t.Fatalf("%q: %q: no key and field in the message", data, msg)
			} else if m != nil {
				var key, field string
				json.Unmarshal([]byte(m[1]), &key)
				json.Unmarshal([]byte(m[2]), &field)
				if key == field || !strings.EqualFold(key, field) {
					t.Fatalf("%q: %v: %q is not %q but for case", data, serrT, key, field)
				}
			}
		}

		// The bare checker: same verdict whole or byte by byte, and when
		// it finds nothing its view of the syntax is json.Valid's.
		var whole, pieces jsonChecker
		werr := whole.check(data)
		var perr error
		for i := range data {
			if perr = pieces.check(data[i : i+1]); perr != nil {
				break
			}
		}
		if fmt.Sprint(werr) != fmt.Sprint(perr) || (werr == nil && whole.st != pieces.st) {
			t.Fatalf("%q: %v / state %d whole, %v / state %d byte by byte", data, werr, whole.st, perr, pieces.st)
		}
		if werr == nil {
			complete := whole.st == jsTrail || len(whole.stack) == 0 && (whole.st == jsZero || whole.st == jsInt || whole.st == jsFrac || whole.st == jsExp)
			if v := json.Valid(data); v != complete || v && whole.st == jsDead {
				t.Fatalf("%q: json.Valid %v, checker ends in state %d (depth %d)", data, v, whole.st, len(whole.stack))
			}
		}
	})
}

// TestStructFieldsAsJSON: the field names the checker knows for a struct
// are encoding/json's (embedded structs and pointers promoted, tags, "-",
// a shallower name hiding a deeper one).
func TestStructFieldsAsJSON(t *testing.T) {
	type deep struct {
		Name  string `json:"name"`
		Other int
	}
	type emb struct {
		deep
		Name  string `json:"name"` // hides deep's
		Level int    `json:"level"`
	}
	type outer struct {
		*emb
		Inner
		Tagged  Inner `json:"tagged"`
		Skipped int   `json:"-"`
		Dash    int   `json:"-,"`
		Plain   bool
		private int
	}
	v := outer{emb: &emb{}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	var want []string
	for k := range m {
		want = append(want, k)
	}
	got := append([]string(nil), structFields(reflect.TypeFor[outer]()).names...)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("checker knows %q, encoding/json %q", got, want)
	}
	_ = v.private
}
