package pathway

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"lakehouse-go/internal/pathway/journal"
)

const (
	seedAdd    = `{"op":"add","ts":"2026-01-01T00:00:00Z","memory":{"id":"m1","memory":"Likes tea","hash":"h","user_id":"u","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}` + "\n"
	seedUpdate = `{"op":"update","ts":"2026-01-01T00:00:01Z","memory":{"id":"m1","memory":"Likes coffee","hash":"h2","user_id":"u","agent_id":"a","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:01Z"},"old":"Likes tea"}` + "\n"
	seedDelete = `{"op":"delete","ts":"2026-01-01T00:00:02Z","id":"m1","old":"Likes coffee"}` + "\n"
	seedStep   = `{"op":"step","ts":"2026-01-01T00:00:00Z","run_id":"r","step":{"index":7,"type":"tool","name":"x","input":{"a":[1,2]},"ts":"2026-01-01T00:00:00Z"}}` + "\n"
)

// FuzzReplay feeds arbitrary state.jsonl contents to the replay parser:
// it must never panic, must accept exactly the complete lines when it
// accepts (a torn tail is everything after the last newline), must name the
// damaged line when it refuses, and must leave a consistent state.
func FuzzReplay(f *testing.F) {
	for _, s := range []string{
		"",
		seedAdd,
		seedAdd + seedUpdate + seedDelete + seedStep,
		seedAdd + seedStep + seedStep[:40],                  // torn tail
		seedAdd + "{not json}\n" + seedStep,                 // damaged middle line
		seedUpdate,                                          // update of unknown memory
		seedAdd + seedAdd,                                   // duplicate add
		seedDelete,                                          // delete of unknown memory
		"\n\n" + seedStep + "   \n",                         // blank lines
		`{"op":"add","memory":{"id":"m"},"extra":1}` + "\n", // unknown field
		seedStep + "\x00\x00\x00",
		// Written before ADR-102: control characters in metadata and a
		// step's name still load.
		`{"op":"add","ts":"2026-01-01T00:00:00Z","memory":{"id":"m2","memory":"x","hash":"h","user_id":"u","metadata":{"a":{"b":"\u0000\u001b[1m"},"k\u0007":["\u0085"]},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}` + "\n" +
			`{"op":"step","ts":"2026-01-01T00:00:00Z","run_id":"r","step":{"index":0,"type":"l\u009b","name":"n\u0085","metadata":{"k":"\u0000"},"ts":"2026-01-01T00:00:00Z"}}` + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newState()
		info, err := journal.Replay(bytes.NewReader(data), "state.jsonl", s.replayLine)
		if err != nil {
			if !strings.Contains(err.Error(), "state.jsonl line ") || !strings.Contains(err.Error(), "is damaged") {
				t.Fatalf("refusal does not name the line: %v", err)
			}
			return
		}
		last := bytes.LastIndexByte(data, '\n')
		if info.Size != int64(last+1) || info.TornBytes != int64(len(data)-last-1) {
			t.Fatalf("info %+v for %d bytes with last newline at %d", info, len(data), last)
		}
		// Every live memory is indexed under each of its ids and has history.
		for id, e := range s.mems {
			if e.m.ID != id || len(s.history[id]) == 0 || s.history[id][0].Event != EventAdd {
				t.Fatalf("memory %q inconsistent: %+v", id, e.m)
			}
			for _, k := range []string{"u:" + e.m.UserID, "a:" + e.m.AgentID, "r:" + e.m.RunID} {
				if _, ok := s.idx[k][id]; len(k) > 2 && !ok {
					t.Fatalf("memory %q missing from index %q", id, k)
				}
			}
		}
		for k, set := range s.idx {
			for id := range set {
				if s.mems[id] == nil {
					t.Fatalf("index %q holds deleted memory %q", k, id)
				}
			}
		}
		for run, steps := range s.traces {
			for i, st := range steps {
				if st.Index != i {
					t.Fatalf("run %q step %d has index %d", run, i, st.Index)
				}
			}
		}
	})
}

// FuzzExtractFacts feeds any message text to the fact extraction and the
// shape every decision compares (ADR-053): no panic, no blank fact, valid
// UTF-8 in gives valid UTF-8 out, and a fact's canonical text and shape
// are the same when computed twice.
func FuzzExtractFacts(f *testing.F) {
	for _, s := range []string{
		"Hi! I'm vegetarian and I live in Lisbon.",
		"My sister's name is Anna. I no longer like pizza; I don't smoke anymore",
		"I like tea 3.5 times a day. ok. thanks!",
		"- * • > I've a dog named Rex\n\nMy name is John?",
		"I like \u0000 tea", "日本語が好きです。私は東京に住んでいます",
		"I'm not a vegetarian anymore", "\xff\xfe I like \xc3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, fact := range extractFacts(text) {
			if strings.TrimSpace(fact) == "" {
				t.Fatalf("blank fact from %q", text)
			}
			if utf8.ValidString(text) && !utf8.ValidString(fact) {
				t.Fatalf("fact %q of %q is not UTF-8", fact, text)
			}
			a, b := shapeOf(fact), shapeOf(fact)
			if a.canon != b.canon || a.subj != b.subj || a.holder != b.holder || a.neg != b.neg || canonical(fact) != canonical(fact) {
				t.Fatalf("shape of %q differs between two calls", fact)
			}
			if pos, ok := negation(fact); ok && pos != "" {
				_ = shapeOf(pos)
			}
		}
	})
}

// FuzzSearchCursor: any after value either is refused or decodes to a
// cursor whose next (String) decodes to the same cursor, and a cursor made
// from any score and valid id round-trips (ADR-053's search pages).
func FuzzSearchCursor(f *testing.F) {
	f.Add("0.75/3f0c9a2e-7d1b-4c55-9d7e-0b1f2a3c4d5e", 0.75, "m1")
	f.Add("-1/x", -1.0, "a:b")
	f.Add("1e-300/a%2Fb", 1e-300, "日本")
	f.Add("NaN/x", 0.0, "")
	f.Add("0.5//", 0.5, "id with space")
	f.Fuzz(func(t *testing.T, after string, score float64, id string) {
		if c, ok := parseSearchCursor(after); ok {
			d, ok := parseSearchCursor(c.String())
			if !ok || d.id != c.id || d.score != c.score {
				t.Fatalf("%q -> %+v -> %q -> %+v %v", after, c, c.String(), d, ok)
			}
		}
		if math.IsNaN(score) || math.IsInf(score, 0) || id == "" || checkID(id) != "" {
			return
		}
		c := searchCursor{score: score, id: id}
		d, ok := parseSearchCursor(c.String())
		if !ok || d.id != id || d.score != score {
			t.Fatalf("%+v -> %q -> %+v %v", c, c.String(), d, ok)
		}
	})
}

// FuzzRecentCursor: any after value of order=recent either is refused or
// decodes to a cursor whose next (String) decodes to the same cursor, and
// a cursor made from any time and valid id round-trips (ADR-088).
func FuzzRecentCursor(f *testing.F) {
	f.Add("2026-01-02T03:04:05.123456789Z/3f0c9a2e-7d1b-4c55-9d7e-0b1f2a3c4d5e", int64(1767323045), int64(123456789), "m1")
	f.Add("2026-01-02T03:04:05+02:00/x", int64(0), int64(0), "a:b")
	f.Add("0000-01-01T00:00:00+01:00/x", int64(-62167219200), int64(1), "日本")
	f.Add("9999-12-31T23:59:59-01:00/x", int64(253402300799), int64(999999999), "id with space")
	f.Add("x/", int64(1), int64(2), "")
	f.Fuzz(func(t *testing.T, after string, sec, nsec int64, id string) {
		if c, ok := parseRecentCursor(after); ok {
			d, ok := parseRecentCursor(c.String())
			if !ok || d.id != c.id || !d.t.Equal(c.t) {
				t.Fatalf("%q -> %+v -> %q -> %+v %v", after, c, c.String(), d, ok)
			}
		}
		tm := time.Unix(sec, nsec).UTC()
		if id == "" || checkID(id) != "" || tm.Year() < 0 || tm.Year() > 9999 {
			return
		}
		c := recentCursor{t: tm, id: id}
		d, ok := parseRecentCursor(c.String())
		if !ok || d.id != id || !d.t.Equal(tm) {
			t.Fatalf("%+v -> %q -> %+v %v", c, c.String(), d, ok)
		}
	})
}

// FuzzMetadataCharacters: any metadata object is refused by checkMetadata
// exactly when one of its keys or string values (read token by token, not
// by checkMetadata's walk) holds a control character other than tab, line
// feed and carriage return (ADR-102); a refusal names a path under
// "metadata" and a byte, and holds no control character itself (a key is
// quoted), so the 400 cannot carry what it refuses to a terminal.
func FuzzMetadataCharacters(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":"b"}`, `{"a":{"b":"x\u0000y"}}`, `{"tags":["ok","\u001b[31m"]}`,
		`{"k\u0007":1}`, `{"a.b":[{"c":"\u0085"}]}`, `{"t":"a\tb\r\n","he":"שלום\u200f"}`,
		`{"n":12345678901234567890,"x":null,"y":[true,false,[[]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Metadata
		if err := json.Unmarshal(data, &m); err != nil || len(m) == 0 {
			return
		}
		b, err := json.Marshal(m)
		if err != nil || len(b) > MaxMetadataSize {
			return
		}
		want := false
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			if s, ok := tok.(string); ok && strings.ContainsFunc(s, func(r rune) bool {
				return r != '\t' && r != '\n' && r != '\r' && unicode.Is(unicode.Cc, r)
			}) {
				want = true
			}
		}
		msg := checkMetadata(m)
		if (msg != "") != want {
			t.Fatalf("checkMetadata(%s) = %q, want a refusal: %v", b, msg, want)
		}
		if msg == "" {
			return
		}
		if !strings.HasPrefix(msg, "metadata") || !strings.Contains(msg, " at byte ") {
			t.Fatalf("refusal %q of %s does not name a path and a byte", msg, b)
		}
		if strings.ContainsFunc(msg, func(r rune) bool { return unicode.Is(unicode.Cc, r) }) {
			t.Fatalf("refusal %q holds a control character", msg)
		}
	})
}
