package pathway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestExtractLeadIns: a greeting or lead-in before a fact ("Hi, I'm Alex",
// "Well, my name is Bob", "Now I live in Berlin") and an adverb after "I"
// ("I now live in Berlin") no longer keep the sentence as said: the fact is
// rewritten as Mem0 phrases it (ADR-148), so it matches the memory it
// repeats or replaces.
func TestExtractLeadIns(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hi, I'm Alex.", "Name is Alex"},
		{"Hello, I like hiking", "Likes hiking"},
		{"Well, my name is Bob", "Name is Bob"},
		{"Hey there, I work at ACME", "Works at ACME"},
		{"Thanks, I live in Lisbon", "Lives in Lisbon"},
		{"Now I live in Berlin", "Lives in Berlin"},
		{"Now, I live in Berlin", "Lives in Berlin"},
		{"These days I work at Meta", "Works at Meta"},
		{"I now live in Berlin", "Lives in Berlin"},
		{"I currently work at Meta", "Works at Meta"},
		{"I also love jazz", "Loves jazz"},
		{"Ok, hi, I am a nurse", "Is a nurse"},
		// Unchanged: no fact after the lead-in, no rewrite after the adverb,
		// or not a lead-in.
		{"No, thanks", ""},
		{"Ok, bye!", ""},
		{"I still don't eat meat", "I still don't eat meat"},
		{"Now is the time", "Now is the time"},
		{"Nowhere, I think", "Nowhere, I think"},
		{"Paris, I love it", "Paris, I love it"},
	} {
		if got := strings.Join(extractFacts(c.in), "|"); got != c.want {
			t.Errorf("extractFacts(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAddLeadInMove: the move a user reports the way people say it
// replaces where they lived, and a greeting before a repeated fact is NONE.
func TestAddLeadInMove(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.jsonl"))
	defer s.Close(ctx)
	u := Scope{UserID: "u"}
	for _, c := range []struct{ in, want string }{
		{"I live in Paris. I like jazz.", "ADD m001 Lives in Paris; ADD m002 Likes jazz"},
		{"Hi! Now I live in Berlin.", "UPDATE m001 Lives in Berlin (was Lives in Paris)"},
		{"Hello, I like jazz", "NONE m002 Likes jazz"},
		{"I currently live in Lisbon", "UPDATE m001 Lives in Lisbon (was Lives in Berlin)"},
	} {
		res, err := s.Add(ctx, AddRequest{Text: c.in, Scope: u})
		if err != nil {
			t.Fatal(err)
		}
		if got := events(res); got != c.want {
			t.Errorf("add %q:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}
