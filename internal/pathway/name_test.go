package pathway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestExtractName: "I am Alex" / "I'm Alex" are the user's name, stored as
// Mem0 stores it, "Name is Alex" (it was "Is Alex", which no later name
// replaced); what someone is rather than who ("tired", "a teacher",
// "British", "OK") stays "Is ..." (ADR-153).
func TestExtractName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"I am Alex", "Name is Alex"},
		{"I'm Alex.", "Name is Alex"},
		{"I’m Alex", "Name is Alex"},
		{"Hi, I am Alex Smith", "Name is Alex Smith"},
		{"My name is Alex", "Name is Alex"},
		{"I'm Mary-Jane", "Name is Mary-Jane"},
		{"I am Sam and I live in Oslo", "Name is Sam|Lives in Oslo"},
		// Not names.
		{"I am tired", "Is tired"},
		{"I am a teacher", "Is a teacher"},
		{"I'm British", "Is British"},
		{"I am OK", "Is OK"},
		{"I'm in Paris", "Is in Paris"},
		{"I am Alex and Sam's father, a teacher from the North", "Is Alex and Sam's father, a teacher from the North"},
	} {
		if got := strings.Join(extractFacts(c.in), "|"); got != c.want {
			t.Errorf("extractFacts(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAddNameReplaced: a new name said as "I am <Name>" replaces the old
// one (an attribute subject, ADR-148), and saying it again is NONE.
func TestAddNameReplaced(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.jsonl"))
	defer s.Close(ctx)
	u := Scope{UserID: "u"}
	for _, c := range []struct{ in, want string }{
		{"I am Alex", "ADD m001 Name is Alex"},
		{"I am tired", "ADD m002 Is tired"},
		{"Actually, I'm Alexander", "UPDATE m001 Name is Alexander (was Name is Alex)"},
		{"My name is Alexander", "NONE m001 Name is Alexander"},
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
