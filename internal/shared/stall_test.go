package shared

import (
	"testing"
	"time"
)

func TestStallPacer(t *testing.T) {
	var p StallPacer
	if p.Moved() {
		t.Fatal("zero value has moved")
	}
	t0 := time.Now()
	if !p.Due(t0, 60*time.Second) {
		t.Fatal("first Due false")
	}
	if !p.Moved() {
		t.Fatal("Moved false after a move")
	}
	// A 60 s bound moves once a second; an 800 ms bound every 100 ms.
	for _, c := range []struct {
		bound, after time.Duration
		want         bool
	}{
		{60 * time.Second, 999 * time.Millisecond, false},
		{60 * time.Second, time.Second, true},
		{800 * time.Millisecond, 99 * time.Millisecond, false},
		{800 * time.Millisecond, 100 * time.Millisecond, true},
	} {
		var q StallPacer
		q.Due(t0, c.bound)
		if got := q.Due(t0.Add(c.after), c.bound); got != c.want {
			t.Errorf("bound %s, Due after %s = %v, want %v", c.bound, c.after, got, c.want)
		}
	}
	// Not due: the move is not recorded, so the next second still counts
	// from the first move.
	var q StallPacer
	q.Due(t0, 60*time.Second)
	q.Due(t0.Add(600*time.Millisecond), 60*time.Second)
	if !q.Due(t0.Add(time.Second), 60*time.Second) {
		t.Error("a Due that was false moved the pace")
	}
	q.Reset()
	if q.Moved() || !q.Due(t0.Add(time.Second+time.Millisecond), 60*time.Second) {
		t.Error("Reset did not make the next Due true")
	}
}
