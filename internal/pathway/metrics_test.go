package pathway_test

import (
	"context"
	"testing"

	"lakehouse-go/internal/pathway"
	"lakehouse-go/internal/testutil/metricstest"
)

// TestPathwayMetrics: pathwayd's /metrics after real requests counts the
// memory events (two facts added, one repeated: NONE; an update; a
// delete), the live memories, and the journal's fsyncs and group commits.
func TestPathwayMetrics(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, config(t))
	u := pathway.Scope{UserID: "alice"}
	res, err := c.Add(ctx, pathway.AddRequest{Messages: []pathway.Message{{Role: "user", Content: "I'm vegetarian and I live in Lisbon."}}, Scope: u})
	if err != nil || len(res.Results) != 2 {
		t.Fatalf("add: %+v %v", res, err)
	}
	again, err := c.Add(ctx, pathway.AddRequest{Messages: []pathway.Message{{Role: "user", Content: "I live in Lisbon."}}, Scope: u})
	if err != nil || len(again.Results) != 1 || again.Results[0].Event != pathway.EventNone {
		t.Fatalf("add again: %+v %v", again, err)
	}
	if _, err := c.Update(ctx, res.Results[0].ID, pathway.UpdateRequest{Text: "Is vegan"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, res.Results[1].ID); err != nil {
		t.Fatal(err)
	}
	m := metricstest.Scrape(t, s.URL())
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lakehouse_pathwayd_memory_events_total", []string{"event", "ADD"}, 2},
		{"lakehouse_pathwayd_memory_events_total", []string{"event", "NONE"}, 1},
		{"lakehouse_pathwayd_memory_events_total", []string{"event", "UPDATE"}, 1},
		{"lakehouse_pathwayd_memory_events_total", []string{"event", "DELETE"}, 1},
		{"lakehouse_pathwayd_memories", nil, 1},
	} {
		if got, ok := m.Value(tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// Three writes (the add, the update, the delete), each durable before
	// its answer: at least one fsync and one group each of those.
	groups := m.Get("lakehouse_pathwayd_journal_groups_total")
	if groups < 3 || m.Get("lakehouse_pathwayd_journal_entries_total") < 3 {
		t.Errorf("journal groups %v, entries %v, want >= 3 each", groups, m.Get("lakehouse_pathwayd_journal_entries_total"))
	}
	if got := m.Get("lakehouse_pathwayd_journal_fsync_duration_seconds"); got < groups {
		t.Errorf("fsyncs timed: %v, want one per group (%v)", got, groups)
	}
	m.Lint(t, "lakehouse_pathwayd_")
}
