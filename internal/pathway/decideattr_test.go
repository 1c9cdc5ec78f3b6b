package pathway

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDecisionAttributeValues: a new value of a single-valued attribute
// (where one lives, works, is from; a name, a favorite) replaces the old
// one, as Mem0 does, whatever the built-in embedder's cosine of the two
// texts (ADR-148). The subject rule needed cosine >= 0.60, which the
// values' own letters decide: "Lives in Paris" -> "Berlin" (0.74) was an
// UPDATE, but "Porto" -> "Tokyo" (0.33), "Berlin" -> "Porto" (0.48) and 66
// of 135 city pairs kept both values, so the user lived in two places.
// Lists, other holders and other subjects still add, and a sentence kept
// as said ("I visited Porto") is no longer replaced by another one that
// shares its first words.
func TestDecisionAttributeValues(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		seed, add, want, after string
	}{
		{"I live in Porto", "I live in Tokyo",
			"UPDATE m001 Lives in Tokyo (was Lives in Porto)", "Lives in Tokyo"},
		{"I live in Berlin", "I live in Porto",
			"UPDATE m001 Lives in Porto (was Lives in Berlin)", "Lives in Porto"},
		{"I live in Porto", "I live in Berlin now",
			"UPDATE m001 Lives in Berlin now (was Lives in Porto)", "Lives in Berlin now"},
		{"I work at Porto Editora", "I work at Tokyo Electron",
			"UPDATE m001 Works at Tokyo Electron (was Works at Porto Editora)", "Works at Tokyo Electron"},
		{"My name is Porto", "My name is Tokyo",
			"UPDATE m001 Name is Tokyo (was Name is Porto)", "Name is Tokyo"},
		{"My favorite city is Porto", "My favorite city is Tokyo",
			"UPDATE m001 Favorite city is Tokyo (was Favorite city is Porto)", "Favorite city is Tokyo"},
		{"My sister lives in Porto", "My sister lives in Tokyo",
			"UPDATE m001 Sister lives in Tokyo (was Sister lives in Porto)", "Sister lives in Tokyo"},
		{"My sister's name is Porto", "My sister's name is Tokyo",
			"UPDATE m001 Sister's name is Tokyo (was Sister's name is Porto)", "Sister's name is Tokyo"},
		// Not one attribute: kept apart.
		{"I live in Porto", "My brother lives in Tokyo",
			"ADD m002 Brother lives in Tokyo", "Brother lives in Tokyo|Lives in Porto"},
		{"I like Porto", "I like Tokyo",
			"ADD m002 Likes Tokyo", "Likes Porto|Likes Tokyo"},
		// A sentence kept as said names no attribute: "I visited Tokyo"
		// replaced "I visited Porto" (cosine >= 0.60 on "i visited").
		{"I visited Porto", "I visited Tokyo",
			"ADD m002 I visited Tokyo", "I visited Porto|I visited Tokyo"},
		{"I adopted a cat in Porto", "I adopted a dog in Tokyo",
			"ADD m002 I adopted a dog in Tokyo", "I adopted a cat in Porto|I adopted a dog in Tokyo"},
		{"I live in Porto", "I work at Tokyo Electron",
			"ADD m002 Works at Tokyo Electron", "Lives in Porto|Works at Tokyo Electron"},
	} {
		t.Run(tc.seed+" -> "+tc.add, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "state.jsonl"))
			defer s.Close(ctx)
			u := Scope{UserID: "u"}
			if _, err := s.Add(ctx, AddRequest{Text: tc.seed, Scope: u}); err != nil {
				t.Fatal(err)
			}
			res, err := s.Add(ctx, AddRequest{Text: tc.add, Scope: u})
			if err != nil {
				t.Fatal(err)
			}
			if got := events(res); got != tc.want {
				t.Errorf("events:\n got %s\nwant %s", got, tc.want)
			}
			lr, _ := s.List(ctx, u, ListOptions{})
			var left []string
			for _, m := range lr.Results {
				left = append(left, m.Memory)
			}
			slices.Sort(left)
			if got := strings.Join(left, "|"); got != tc.after {
				t.Errorf("memories:\n got %s\nwant %s", got, tc.after)
			}
		})
	}
}
