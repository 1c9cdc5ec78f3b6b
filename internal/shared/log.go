package shared

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
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
	// journal: out is systemd's journal stream; each line starts with its
	// syslog priority (<3> error, <4> warn, <6> info, <7> debug), which
	// journald reads (SyslogLevelPrefix=, on by default), so
	// `journalctl -p warning` shows the WARN and ERROR lines. Without it every
	// line was stored at the unit's default priority, info.
	journal bool
}

func newLineWriter(out io.Writer) *lineWriter {
	w := &lineWriter{out: out, buf: make([]byte, 0, lineBufMax), stop: make(chan struct{}), done: make(chan struct{})}
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
	if w.journal {
		w.buf = append(w.buf, '<', syslogPriority(p), '>')
	}
	w.buf = append(w.buf, p...)
	w.flushFullLocked()
	return len(p), nil
}

// lineBufMax is how much a lineWriter buffers before it writes out (the
// timer writes out the rest).
const lineBufMax = 64 << 10

// flushFullLocked writes out the buffered lines once they reach lineBufMax.
func (w *lineWriter) flushFullLocked() {
	if len(w.buf) >= lineBufMax {
		w.flushLocked()
	}
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

// syslogPriority is the syslog priority digit of one log line, read from
// its level: slog's text and JSON handlers and the access line all write
// the level right after the time, so it is in the line's first bytes.
func syslogPriority(line []byte) byte {
	head := line
	if len(head) > 96 {
		head = head[:96]
	}
	i, skip := bytes.Index(head, []byte("level=")), len("level=")
	if i < 0 {
		i, skip = bytes.Index(head, []byte(`"level":"`)), len(`"level":"`)
	}
	if i < 0 {
		return '6'
	}
	switch v := head[i+skip:]; {
	case bytes.HasPrefix(v, []byte("ERROR")):
		return '3'
	case bytes.HasPrefix(v, []byte("WARN")):
		return '4'
	case bytes.HasPrefix(v, []byte("DEBUG")):
		return '7'
	}
	return '6'
}

// isJournalStream reports whether out is the stream systemd connected to
// the journal: JOURNAL_STREAM holds its "device:inode" (systemd.exec(5)),
// so a daemon whose stdout was redirected elsewhere (a file, a pipe to
// another logger) is not taken for it.
func isJournalStream(out io.Writer, journalStream string) bool {
	f, ok := out.(*os.File)
	if !ok || journalStream == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fmt.Sprintf("%d:%d", st.Dev, st.Ino) == journalStream
}
