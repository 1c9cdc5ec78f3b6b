package observer

import (
	"cmp"
	"math"
	"slices"
	"sync"
)

// ring is a fixed-size circular buffer of the most recent events.
type ring struct {
	mu   sync.RWMutex
	buf  []Event
	next int // slot of the next write
	n    int // filled slots
}

func newRing(size int) *ring { return &ring{buf: make([]Event, size)} }

// add appends evs, overwriting the oldest events when full.
func (r *ring) add(evs []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(evs) > len(r.buf) {
		evs = evs[len(evs)-len(r.buf):]
	}
	for i := range evs {
		r.buf[r.next] = evs[i]
		r.next++
		if r.next == len(r.buf) {
			r.next = 0
		}
	}
	r.n = min(r.n+len(evs), len(r.buf))
}

// newestFirst calls fn for each event from newest to oldest while fn
// returns true, holding the read lock; fn must not keep e.
func (r *ring) newestFirst(fn func(e *Event) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for k := 1; k <= r.n; k++ {
		i := r.next - k
		if i < 0 {
			i += len(r.buf)
		}
		if !fn(&r.buf[i]) {
			return
		}
	}
}

func (r *ring) size() int { return len(r.buf) }

// query returns up to limit matching events, newest first.
func (r *ring) query(f Filter, limit int) []Event {
	out := make([]Event, 0, min(limit, 256))
	r.newestFirst(func(e *Event) bool {
		if f.match(e) {
			out = append(out, *e)
		}
		return len(out) < limit
	})
	return out
}

type statKey struct{ service, op string }

type acc struct {
	count, errors, client int
	durs                  []float64
}

func (a *acc) add(e *Event) {
	a.count++
	switch {
	case e.Status >= 500:
		a.errors++
	case e.Status >= 400:
		a.client++
	}
	a.durs = append(a.durs, e.DurationMS)
}

func (a *acc) stats(service, op string) OpStats {
	slices.Sort(a.durs)
	s := OpStats{Service: service, Op: op, Count: a.count, Errors: a.errors, ClientErrors: a.client}
	if a.count > 0 {
		s.P50MS = nearestRank(a.durs, 0.50)
		s.P95MS = nearestRank(a.durs, 0.95)
		s.P99MS = nearestRank(a.durs, 0.99)
		s.MaxMS = a.durs[len(a.durs)-1]
		s.MeanMS = sumSorted(a.durs) / float64(a.count)
	}
	return s
}

// sumSorted sums durations in their sorted order. Summed in ring order
// (arrival order, which concurrent posters' scheduling decides), the same
// events gave a mean_ms differing in the last bits with the order they
// arrived in: a float sum is not associative. Sorted, the mean is a
// function of the events alone (and adding small values first loses less).
func sumSorted(sorted []float64) float64 {
	var sum float64
	for _, d := range sorted {
		sum += d
	}
	return sum
}

// nearestRank is the p-th percentile of sorted (ascending, non-empty): the
// value at 1-based rank ceil(p*n).
func nearestRank(sorted []float64, p float64) float64 {
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// stats computes Stats over the matching events. Durations are copied under
// the read lock and sorted outside it, so ingestion waits only for the copy.
func (r *ring) stats(f Filter) Stats {
	total := &acc{}
	per := map[statKey]*acc{}
	perSvc := map[string]*acc{}
	st := Stats{RingSize: r.size()}
	r.newestFirst(func(e *Event) bool {
		if !f.match(e) {
			return true
		}
		if st.To.IsZero() || e.TS.After(st.To) {
			st.To = e.TS
		}
		if st.From.IsZero() || e.TS.Before(st.From) {
			st.From = e.TS
		}
		total.count++
		switch {
		case e.Status >= 500:
			total.errors++
		case e.Status >= 400:
			total.client++
		}
		k := statKey{e.Service, e.Op}
		a := per[k]
		if a == nil {
			a = &acc{}
			per[k] = a
		}
		a.add(e)
		s := perSvc[e.Service]
		if s == nil {
			s = &acc{}
			perSvc[e.Service] = s
		}
		s.add(e)
		return true
	})
	st.Count, st.Errors, st.ClientErrors = total.count, total.errors, total.client
	st.Ops = make([]OpStats, 0, len(per))
	for k, a := range per {
		st.Ops = append(st.Ops, a.stats(k.service, k.op))
	}
	st.Services = make([]OpStats, 0, len(perSvc))
	for svc, a := range perSvc {
		st.Services = append(st.Services, a.stats(svc, ""))
	}
	byKey := func(a, b OpStats) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Op, b.Op))
	}
	slices.SortFunc(st.Ops, byKey)
	slices.SortFunc(st.Services, byKey)
	return st
}
