package observer

import (
	"sync"

	"lakehouse-go/internal/errs"
	"sync/atomic"
	"time"
)

// subBuffer is how many events a subscriber may fall behind before it
// starts losing events (ADR-051).
const subBuffer = 1024

// MaxStreams bounds the open streams (HTTP and in-process subscribers):
// each holds up to subBuffer events (with attrs, up to ~5 MB) and two
// goroutines, and nothing else bounded how many an agent could open; one
// more is a 503 naming the bound (ADR-088; Loki's tail has the same kind
// of limit, max_concurrent_tail_requests).
const MaxStreams = 100

// hub fans ingested events out to stream subscribers. publish never blocks:
// a subscriber whose buffer is full loses the event and counts it.
type hub struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool
	done   chan struct{} // closed when observerd shuts down

	onDrop func(n int) // metrics hook; may be nil
}

type sub struct {
	ch      chan Event
	f       Filter
	dropped atomic.Int64
}

func newHub() *hub { return &hub{subs: map[*sub]struct{}{}, done: make(chan struct{})} }

// subscribe registers a subscriber. Errors (Unavailable): closed, or
// MaxStreams subscribers already.
func (h *hub) subscribe(f Filter) (*sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	if len(h.subs) >= MaxStreams {
		return nil, errs.Errorf("observer.stream", errs.Unavailable,
			"%d streams are open, at most %d: close one, or poll GET %s?since= instead", len(h.subs), MaxStreams, EventsPath)
	}
	f.Since = time.Time{}
	s := &sub{ch: make(chan Event, subBuffer), f: f}
	h.subs[s] = struct{}{}
	return s, nil
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *hub) publish(evs []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		lost := 0
		for i := range evs {
			if !s.f.match(&evs[i]) {
				continue
			}
			select {
			case s.ch <- evs[i]:
			default:
				lost++
			}
		}
		if lost > 0 {
			s.dropped.Add(int64(lost))
			if h.onDrop != nil {
				h.onDrop(lost)
			}
		}
	}
}

// close ends every stream (they see done) and refuses new subscribers.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}
