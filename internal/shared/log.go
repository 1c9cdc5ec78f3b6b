package shared

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

// lineWriter buffers log lines and writes them out every 100 ms or when
// 64 KiB wait, so an access line per request does not cost a syscall per
// request. Close flushes. Lines are never split.
type lineWriter struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newLineWriter(out io.Writer) *lineWriter {
	w := &lineWriter{out: out, buf: make([]byte, 0, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.Flush()
			case <-w.stop:
				w.Flush()
				return
			}
		}
	}()
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) >= 64<<10 {
		w.flushLocked()
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	w.flushLocked()
	w.mu.Unlock()
}

func (w *lineWriter) flushLocked() {
	if len(w.buf) > 0 {
		_, _ = w.out.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// Close flushes and stops the timer.
func (w *lineWriter) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func newLogger(cfg LogConfig, out io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}
