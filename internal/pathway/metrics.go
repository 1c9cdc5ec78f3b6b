package pathway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
)

// pathwayMetrics are pathwayd's domain metrics on /metrics (ADR-160):
// memory events by event (ADD, UPDATE, DELETE, NONE), the live memories,
// state.jsonl's fsync time and its group commits (groups and entries: the
// mean batch is their ratio). No user, agent or run id is a label.
type pathwayMetrics struct {
	events *prometheus.CounterVec // event
	fsync  prometheus.Histogram
}

func newPathwayMetrics() *pathwayMetrics {
	return &pathwayMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakehouse_pathwayd_memory_events_total",
			Help: "Memory events written or decided: ADD, UPDATE, DELETE (an add's decisions, PUT, DELETE one or all) and NONE (an add's fact already known; nothing written)."},
			[]string{"event"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lakehouse_pathwayd_journal_fsync_duration_seconds",
			Help:    "Time of each fsync of state.jsonl (one per group commit).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
}

// register adds the metrics and those read from s at each scrape.
func (m *pathwayMetrics) register(reg prometheus.Registerer, s *Store) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.events, m.fsync,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_pathwayd_memories",
			Help: "Live memories (committed: durable in state.jsonl)."},
			func() float64 {
				s.mu.RLock()
				defer s.mu.RUnlock()
				return float64(len(s.mems))
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_pathwayd_journal_groups_total",
			Help: "Group commits of state.jsonl (one write and one fsync each)."},
			func() float64 { return float64(s.JournalStats().Groups) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lakehouse_pathwayd_journal_entries_total",
			Help: "Entries (one write's lines) committed to state.jsonl; entries over groups is the mean group-commit batch."},
			func() float64 { return float64(s.JournalStats().Entries) }),
	} {
		if err := reg.Register(c); err != nil {
			return errs.E("pathwayd", errs.Internal, err)
		}
	}
	return nil
}

// event counts n events of kind ev.
func (m *pathwayMetrics) event(ev string, n int) {
	if m == nil || n <= 0 {
		return
	}
	switch ev {
	case EventAdd, EventUpdate, EventDelete, EventNone:
	default:
		return
	}
	m.events.WithLabelValues(ev).Add(float64(n))
}

// timedSync times each Sync of the journal's writer.
type timedSync struct {
	journal.WriteSyncer
	h prometheus.Observer
}

func (t timedSync) Sync() error {
	start := time.Now()
	err := t.WriteSyncer.Sync()
	t.h.Observe(time.Since(start).Seconds())
	return err
}
