package pathway

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDecisionKeepsFacts: each case adds the seed texts one request at a
// time, then the new text, and checks the new text's events and the
// memories left. High cosine alone never turns a fact with new content
// words into NONE, nor replaces a memory (ADR-053).
func TestDecisionKeepsFacts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		seed  []string
		add   string
		want  string // events of the last add
		after string // memories left, sorted, "|"-joined
	}{
		{"exact duplicate", []string{"I like pizza"}, "I like pizza",
			"NONE m001 Likes pizza", "Likes pizza"},
		{"canonical duplicate", []string{"I like pizza!"}, "i LIKE   pizza",
			"NONE m001 Likes pizza", "Likes pizza"},
		{"paraphrase identical", []string{"I'm a vegetarian"}, "I am a vegetarian.",
			"NONE m001 Is a vegetarian", "Is a vegetarian"},
		{"paraphrase with filler words", []string{"I like pizza"}, "I really like the pizza",
			"NONE m001 Likes pizza", "Likes pizza"},
		{"said already, with more", []string{"I like black coffee"}, "I like coffee",
			"NONE m001 Likes black coffee", "Likes black coffee"},
		{"changed single-valued attribute", []string{"My favorite color is blue"}, "My favorite color is red",
			"UPDATE m001 Favorite color is red (was Favorite color is blue)", "Favorite color is red"},
		{"changed name", []string{"My name is John"}, "My name is Bob",
			"UPDATE m001 Name is Bob (was Name is John)", "Name is Bob"},
		{"moved", []string{"I live in Paris"}, "I live in Berlin",
			"UPDATE m001 Lives in Berlin (was Lives in Paris)", "Lives in Berlin"},
		{"more detail of the same fact", []string{"I play tennis"}, "I play tennis on Sundays",
			"UPDATE m001 Plays tennis on Sundays (was Plays tennis)", "Plays tennis on Sundays"},
		{"multi-valued has", []string{"I have a dog named Rex"}, "I have a cat named Tom",
			"ADD m002 Has a cat named Tom", "Has a cat named Tom|Has a dog named Rex"},
		{"multi-valued has, same kind", []string{"I have a dog named Rex"}, "I have a dog named Max",
			"ADD m002 Has a dog named Max", "Has a dog named Max|Has a dog named Rex"},
		{"multi-valued likes, close vectors", []string{"I like red wine"}, "I like white wine",
			"ADD m002 Likes white wine", "Likes red wine|Likes white wine"},
		{"multi-valued is", []string{"I'm a vegetarian"}, "I'm a software engineer",
			"ADD m002 Is a software engineer", "Is a software engineer|Is a vegetarian"},
		{"unrelated", []string{"I like pizza"}, "I live in Paris",
			"ADD m002 Lives in Paris", "Likes pizza|Lives in Paris"},
		{"retraction", []string{"I like red wine", "I like white wine"}, "I don't like red wine anymore",
			"DELETE m001 Likes red wine", "Likes white wine"},
		{"retraction of a fuller memory", []string{"I play tennis on Sundays"}, "I no longer play tennis",
			"DELETE m001 Plays tennis on Sundays", ""},
		{"retraction of another fact", []string{"I like white wine"}, "I don't like red wine anymore",
			"ADD m002 I don't like red wine anymore", "I don't like red wine anymore|Likes white wine"},
		// Whose fact it is: a fact about someone else never collapses
		// into, replaces or retracts the user's (and the other way round).
		{"sister's name, then mine", []string{"My sister's name is Anna."}, "My name is Anna.",
			"ADD m002 Name is Anna", "Name is Anna|Sister's name is Anna"},
		{"brother's city, then mine", []string{"My brother lives in Paris."}, "I live in Paris.",
			"ADD m002 Lives in Paris", "Brother lives in Paris|Lives in Paris"},
		{"wife's employer, then mine", []string{"My wife works at Google."}, "I work at Google.",
			"ADD m002 Works at Google", "Wife works at Google|Works at Google"},
		{"my city, then brother's", []string{"I live in Paris."}, "My brother lives in Paris.",
			"ADD m002 Brother lives in Paris", "Brother lives in Paris|Lives in Paris"},
		{"my taste, then sister's", []string{"I like pizza."}, "My sister likes pizza.",
			"ADD m002 Sister likes pizza", "Likes pizza|Sister likes pizza"},
		{"my name, then friend's", []string{"My name is John."}, "My friend's name is John Smith.",
			"ADD m002 Friend's name is John Smith", "Friend's name is John Smith|Name is John"},
		{"named person's city, then mine", []string{"Anna lives in Paris."}, "I live in Paris.",
			"ADD m002 Lives in Paris", "Anna lives in Paris|Lives in Paris"},
		{"sister's city moved", []string{"My sister lives in Paris."}, "My sister lives in Berlin.",
			"UPDATE m001 Sister lives in Berlin (was Sister lives in Paris)", "Sister lives in Berlin"},
		{"retraction of someone else's fact", []string{"My sister likes pizza."}, "I no longer like pizza.",
			"ADD m002 I no longer like pizza", "I no longer like pizza|Sister likes pizza"},
		{"retraction of the sister's fact", []string{"My sister likes pizza.", "I like pizza."}, "My sister no longer likes pizza.",
			"DELETE m001 Sister likes pizza", "Likes pizza"},
		// A third party's "is" holds many values, as the user's does
		// (ADR-134: the second replaced the first).
		{"named person is two things", []string{"Emma is a graphic designer."}, "Emma is training for a triathlon.",
			"ADD m002 Emma is training for a triathlon", "Emma is a graphic designer|Emma is training for a triathlon"},
		{"sister is two things", []string{"My sister is a nurse."}, "My sister is very tall.",
			"ADD m002 Sister is very tall", "Sister is a nurse|Sister is very tall"},
		{"named person moved", []string{"Emma lives in Berlin."}, "Emma lives in Munich.",
			"UPDATE m001 Emma lives in Munich (was Emma lives in Berlin)", "Emma lives in Munich"},
		// A compound sentence is one memory per clause (ADR-134): a move
		// updates the city and keeps the job (the sentence was one memory,
		// and the move an ADD beside it: two cities).
		{"moved, compound kept the job", []string{"I live in Paris and work at Google."}, "I live in Berlin.",
			"UPDATE m001 Lives in Berlin (was Lives in Paris)", "Lives in Berlin|Works at Google"},
		// Polarity: a stored negative and a new positive are a change.
		{"negative, then positive", []string{"I no longer live in Paris."}, "I live in Paris.",
			"UPDATE m001 Lives in Paris (was I no longer live in Paris)", "Lives in Paris"},
		{"don't anymore, then positive", []string{"I don't eat meat anymore."}, "I eat meat.",
			"UPDATE m001 Eats meat (was I don't eat meat anymore)", "Eats meat"},
		{"negative repeated", []string{"I no longer live in Paris."}, "I no longer live in Paris.",
			"NONE m001 I no longer live in Paris", "I no longer live in Paris"},
		{"positive, then never", []string{"I eat meat."}, "I never eat meat.",
			"UPDATE m001 I never eat meat (was Eats meat)", "I never eat meat"},
		{"narrower negative keeps the positive", []string{"I like pizza."}, "I never like pizza with olives.",
			"ADD m002 I never like pizza with olives", "I never like pizza with olives|Likes pizza"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "state.jsonl"))
			defer s.Close(ctx)
			u := Scope{UserID: "u"}
			for _, text := range tc.seed {
				if _, err := s.Add(ctx, AddRequest{Text: text, Scope: u}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Add(ctx, AddRequest{Text: tc.add, Scope: u})
			if err != nil {
				t.Fatal(err)
			}
			if got := events(res); got != tc.want {
				t.Errorf("events:\n got %s\nwant %s", got, tc.want)
			}
			lr, _ := s.List(ctx, u, ListOptions{})
			ms := lr.Results
			var left []string
			for _, m := range ms {
				left = append(left, m.Memory)
			}
			slices.Sort(left)
			if got := strings.Join(left, "|"); got != tc.after {
				t.Errorf("memories:\n got %s\nwant %s", got, tc.after)
			}
		})
	}
}

// TestShapeHolderPolarity: whose fact a text states and whether it is
// negative, as the decision sees them.
func TestShapeHolderPolarity(t *testing.T) {
	for _, tc := range []struct {
		text, holder string
		neg          bool
	}{
		{"Likes pizza", "", false},
		{"Name is Anna", "", false},
		{"Favorite color is blue", "", false},
		{"Has a dog named Rex", "", false},
		{"I no longer live in Paris", "", true},
		{"I don't eat meat anymore", "", true},
		{"Is not a smoker anymore", "", true},
		{"Sister's name is Anna", "sister", false},
		{"My sister likes pizza", "sister", false},
		{"Best friend lives in Rome", "best friend", false},
		{"Friend's name is John Smith", "friend", false},
		{"Dog's name is Rex", "dog", false},
		{"John's birthday is May 5", "john", false},
		{"Anna lives in Paris", "anna", false},
		{"Sister no longer likes pizza", "sister", true},
		{"It's raining", "", false},
	} {
		sh := shapeOf(tc.text)
		if sh.holder != tc.holder || sh.neg != tc.neg {
			t.Errorf("%q: holder %q neg %v, want %q %v", tc.text, sh.holder, sh.neg, tc.holder, tc.neg)
		}
	}
}

// TestDecisionCostPerMemory: a decision reads each memory's words, holder
// and subject from its entry, computed once when the entry was made; it
// does not re-tokenise the scope (which cost ~10 allocations per memory
// and held the write lock for milliseconds with thousands of memories).
func TestDecisionCostPerMemory(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.jsonl"))
	defer s.Close(ctx)
	no := false
	u := Scope{UserID: "u"}
	const seeded = 2000
	for start := 0; start < seeded; start += MaxMessages {
		var msgs []Message
		for i := start; i < min(start+MaxMessages, seeded); i++ {
			msgs = append(msgs, Message{Role: "user", Content: fmt.Sprintf("My sister likes topic%d a lot", i)})
		}
		if _, err := s.Add(ctx, AddRequest{Messages: msgs, Infer: &no, Scope: u}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	allocs := testing.AllocsPerRun(20, func() {
		n++
		if _, err := s.Add(ctx, AddRequest{Text: fmt.Sprintf("I like thing%d", n), Scope: u}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > seeded/4 {
		t.Fatalf("one decision against %d memories: %.0f allocations, want < %d (per-memory work)", seeded, allocs, seeded/4)
	}
}
