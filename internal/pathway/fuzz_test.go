package pathway

import (
	"bytes"
	"strings"
	"testing"

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
