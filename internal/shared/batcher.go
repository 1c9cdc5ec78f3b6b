package shared

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// batcher is a bounded queue drained by one goroutine that hands batches to
// send: when batchSize items wait, every interval, and once more on Close.
// Enqueue never blocks: a full queue drops the item and counts it. It is the
// fail-open delivery path shared by Langfuse tracing and observer reporting.
type batcher[T any] struct {
	queue     chan T
	batchSize int
	interval  time.Duration
	send      func([]T)
	onDrop    func(T)

	dropped  atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newBatcher[T any](queueSize, batchSize int, interval time.Duration, send func([]T), onDrop func(T)) *batcher[T] {
	b := &batcher[T]{
		queue: make(chan T, queueSize), batchSize: max(batchSize, 1),
		interval: max(interval, 10*time.Millisecond), send: send, onDrop: onDrop,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.loop()
	return b
}

// enqueue adds v or, when the queue is full, drops it.
func (b *batcher[T]) enqueue(v T) {
	select {
	case b.queue <- v:
	default:
		b.dropped.Add(1)
		if b.onDrop != nil {
			b.onDrop(v)
		}
	}
}

func (b *batcher[T]) loop() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	batch := make([]T, 0, b.batchSize)
	add := func(v T) {
		batch = append(batch, v)
		if len(batch) >= b.batchSize {
			b.send(batch)
			batch = make([]T, 0, b.batchSize)
		}
	}
	flush := func() {
		if len(batch) > 0 {
			b.send(batch)
			batch = make([]T, 0, b.batchSize)
		}
	}
	for {
		select {
		case v := <-b.queue:
			add(v)
		case <-t.C:
			flush()
		case <-b.stop:
			for {
				select {
				case v := <-b.queue:
					add(v)
				default:
					flush()
					return
				}
			}
		}
	}
}

// close drains the queue, sends the rest and stops, bounded by ctx.
func (b *batcher[T]) close(ctx context.Context) error {
	b.stopOnce.Do(func() { close(b.stop) })
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
