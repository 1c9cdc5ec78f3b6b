package observer

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Options configure an Observer.
type Options struct {
	Path     string // ops.jsonl; "" = memory only (tests)
	RingSize int    // <= 0: DefaultRingSize
	Log      *slog.Logger
	Metrics  prometheus.Registerer // may be nil
	Now      func() time.Time      // clock; nil = time.Now
}

// Observer implements Service: the ring, the stream hub and the persistor.
type Observer struct {
	ring    *ring
	hub     *hub
	persist *persistor
	now     func() time.Time
	log     *slog.Logger
	// lock is Options.Path's lock file (shared.LockFile on <path>.lock),
	// held from Open to Close: a second observerd on the same ops.jsonl
	// would interleave its appends with this one's and lose them to the
	// other's compaction (write a copy, rename it over).
	lock *shared.DirLock

	ingested prometheus.Counter
}

var _ Service = (*Observer)(nil)

// Open reloads the last RingSize events of Options.Path (cutting a torn last
// line, skipping corrupt ones) and starts the persistor.
// Errors: Invalid (ring size), Unavailable (another process, or another
// Observer, has Options.Path open: its lock file <path>.lock is held),
// Internal (the file cannot be read or opened).
func Open(opts Options) (o *Observer, err error) {
	const op = "observer.Open"
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.RingSize > MaxRingSize {
		return nil, errs.Errorf(op, errs.Invalid, "[observerd].ring_size %d: at most %d", opts.RingSize, MaxRingSize)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o = &Observer{ring: newRing(opts.RingSize), hub: newHub(), now: opts.Now, log: opts.Log}
	if opts.Path != "" {
		if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
			return nil, errs.E(op, errs.Internal, err)
		}
		var lock *shared.DirLock
		lock, err = shared.LockFile(opts.Path + ".lock")
		if err != nil {
			return nil, errs.E(op, errs.Unavailable, err)
		}
		o.lock = lock
		defer func() {
			if err != nil { // the named result: a later failure of Open
				lock.Unlock()
			}
		}()
	}
	o.ingested = prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_observer_events_total", Help: "Events ingested into the ring."})
	persistDropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_observer_persist_dropped_total", Help: "Events kept in the ring but not written to ops.jsonl (queue full or write error)."})
	streamDropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_observer_stream_dropped_total", Help: "Events a slow stream subscriber did not get."})
	subscribers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lakehouse_observer_stream_subscribers", Help: "Open /v1/observer/stream connections."},
		func() float64 { return float64(o.hub.count()) })
	if opts.Metrics != nil {
		for _, c := range []prometheus.Collector{o.ingested, persistDropped, streamDropped, subscribers} {
			if err := opts.Metrics.Register(c); err != nil {
				return nil, errs.E(op, errs.Internal, err)
			}
		}
	}
	o.hub.onDrop = func(n int) { streamDropped.Add(float64(n)) }
	if opts.Path != "" {
		res, err := loadTail(opts.Path, opts.RingSize, opts.Now())
		if err != nil {
			return nil, errs.E(op, errs.Internal, err)
		}
		if res.torn || res.corrupt > 0 {
			opts.Log.Warn("ops.jsonl had damaged lines; skipped", "op", "observer.load", "path", opts.Path,
				"torn_last_line_cut", res.torn, "corrupt_lines", res.corrupt)
		}
		if res.old > 0 {
			opts.Log.Warn("ops.jsonl had events far older than its newest; skipped", "op", "observer.load", "path", opts.Path,
				"events", res.old, "max_age", MaxEventAge.String())
		}
		if res.future > 0 {
			opts.Log.Warn("ops.jsonl had events dated ahead of the clock; skipped", "op", "observer.load", "path", opts.Path,
				"events", res.future, "max_skew", MaxClockSkew.String())
		}
		o.ring.add(res.events)
		opts.Log.Info("ops.jsonl reloaded", "op", "observer.load", "path", opts.Path, "events", len(res.events), "lines", res.lines)
		o.persist, err = newPersistor(opts.Path, opts.RingSize, res.lines, opts.Log)
		if err != nil {
			return nil, errs.E(op, errs.Internal, err)
		}
		o.persist.onDrop = func(n int) { persistDropped.Add(float64(n)) }
	}
	return o, nil
}

// Ingest implements Service.Ingest.
func (o *Observer) Ingest(ctx context.Context, events []Event) (IngestResponse, error) {
	req := IngestRequest{Events: events}
	now := o.now()
	if err := req.ValidateAt(now); err != nil {
		return IngestResponse{}, err
	}
	for i := range events {
		if events[i].TS.IsZero() {
			events[i].TS = now
		}
		// One time format in every answer and in ops.jsonl: UTC, as every
		// other daemon's timestamps; a reporter's offset (a host with TZ
		// set, "+01:00") came back as sent (ADR-111).
		events[i].TS = events[i].TS.UTC()
	}
	o.ring.add(events)
	o.hub.publish(events)
	if o.persist != nil {
		o.persist.enqueue(events)
	}
	o.ingested.Add(float64(len(events)))
	return IngestResponse{Accepted: len(events)}, nil
}

// Events implements Service.Events.
func (o *Observer) Events(ctx context.Context, f Filter, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return o.ring.query(f, min(limit, o.ring.size())), nil
}

// Stats implements Service.Stats.
func (o *Observer) Stats(ctx context.Context, f Filter) (Stats, error) {
	return o.ring.stats(f), nil
}

// Subscribe implements Service.Subscribe.
func (o *Observer) Subscribe(ctx context.Context, f Filter, fn func(Event) error) error {
	s, err := o.hub.subscribe(f)
	if err != nil {
		return err
	}
	defer o.hub.unsubscribe(s)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.hub.done:
			return errShuttingDown
		case e := <-s.ch:
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

var errShuttingDown = errs.E("observer.stream", errs.Unavailable, "observerd is shutting down")

// Close ends the streams and writes what is queued to ops.jsonl (fsynced),
// bounded by ctx.
func (o *Observer) Close(ctx context.Context) error {
	o.hub.close()
	defer o.lock.Unlock() // last: after the persistor's final write
	if o.persist != nil {
		return o.persist.close(ctx)
	}
	return nil
}

func jsonSize(v map[string]any) int {
	if len(v) == 0 {
		return 0
	}
	b, err := json.Marshal(v)
	if err != nil {
		return MaxAttrsBytes + 1
	}
	return len(b)
}
