package ingestd

import (
	"log/slog"
	"syscall"
	"time"
)

// phases times the steps of one ingest (ADR-138): each step's wall time
// and the CPU time (user + system) the whole ingestd process spent
// meanwhile — the ingest's own when it runs alone, as in
// bench/ingestbench. They are logged at info with the commit, so a slow
// ingest can be told apart: spool (the upload read into the temp file),
// wait (a conversion slot, catalogd's base), convert (DuckDB), store (the
// Parquet files to storaged, durable) and commit (catalogd).
type phases struct {
	last    time.Time
	lastCPU time.Duration
	attrs   []any
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newPhases(start time.Time) *phases {
	return &phases{last: start, lastCPU: cpuTime()}
}

// mark ends the step name: its wall and CPU milliseconds since the last mark.
func (p *phases) mark(name string) {
	now, cpu := time.Now(), cpuTime()
	p.attrs = append(p.attrs,
		slog.Float64(name+"_ms", ms(now.Sub(p.last))),
		slog.Float64(name+"_cpu_ms", ms(cpu-p.lastCPU)))
	p.last, p.lastCPU = now, cpu
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
