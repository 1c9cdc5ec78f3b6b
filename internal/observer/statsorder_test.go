package observer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"lakehouse-go/internal/observer"
)

// TestStatsIndependentOfArrivalOrder: /stats over the same events is the
// same whatever order they arrived in. mean_ms summed the durations in
// ring order (newest first, i.e. arrival order, which the scheduling of
// concurrent posters decides), and a float sum is not associative: two
// observerd instances given the same events (or one given them as two
// daemons' posts happened to interleave) answered means differing in the
// last bits. Two observerd instances get the same 60 events, one in
// timestamp order and one shuffled, as single-event and multi-event posts;
// their /stats bodies are byte for byte equal.
func TestStatsIndependentOfArrivalOrder(t *testing.T) {
	ctx := context.Background()
	var evs []observer.Event
	for i := range 60 {
		e := mk(i, "svc", fmt.Sprint("op", i%3), 200)
		e.DurationMS = 0.1 * float64(i%7+1) / float64(i%5+3) // sums of these depend on order
		evs = append(evs, e)
	}
	shuffled := slices.Clone(evs)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	body := func(order []observer.Event, batch int) string {
		_, c := start(t, config(t), 0)
		for i := 0; i < len(order); i += batch {
			if _, err := c.Ingest(ctx, order[i:min(i+batch, len(order))]); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Stats(ctx, observer.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(st)
		return string(b)
	}
	want := body(evs, len(evs))
	for _, c := range []struct {
		name  string
		order []observer.Event
		batch int
	}{{"reversed, one batch", reversed(evs), len(evs)}, {"shuffled, one event a post", shuffled, 1}, {"shuffled, 7 a post", shuffled, 7}} {
		if got := body(c.order, c.batch); got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
}

func reversed(evs []observer.Event) []observer.Event {
	out := slices.Clone(evs)
	slices.Reverse(out)
	return out
}
