package shared

import "time"

// PastDeadline is a deadline already past: set on a connection, it stops
// the read or write in progress now.
var PastDeadline = time.Unix(1, 0)

// stallEpoch is the origin of StallPacer's monotonic readings.
var stallEpoch = time.Now()

// StallPacer paces the deadline moves of a stall bound: a read or write
// that must not wait more than a bound without progress moves its
// connection's deadline to the bound from now — the first time, then at
// most once per min(time.Second, bound/8), a runtime timer update each.
// So a read or write never starts with less than 7/8 of the bound ahead
// (the bound less a second for bounds of 8 s and more), and a stream of
// small reads costs a clock read each, not a timer update. The gateway's
// client body reads and its writes to a daemon, and the harness's request
// body reads, use it. The zero value has never moved.
type StallPacer struct {
	movedAt time.Duration // since stallEpoch, odd; 0 never
}

// Due reports whether a read or write at now should move its deadline to
// bound from now, and records the move when it should.
func (s *StallPacer) Due(now time.Time, bound time.Duration) bool {
	m := now.Sub(stallEpoch) | 1
	if s.movedAt != 0 && m-s.movedAt < min(time.Second, bound/8) {
		return false
	}
	s.movedAt = m
	return true
}

// Moved reports whether a deadline was moved since the last Reset.
func (s *StallPacer) Moved() bool { return s.movedAt != 0 }

// Reset forgets the last move: the next Due is true.
func (s *StallPacer) Reset() { s.movedAt = 0 }
