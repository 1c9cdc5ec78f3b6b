package observer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// TestSecondOpenRefused: an Observer holds its ops.jsonl (lock file
// ops.jsonl.lock) from Open to Close; a second Open of the same path (a
// second observerd on the same data_dir) is Unavailable naming the
// directory and the holder's pid, and succeeds once the first is closed.
// An Open that fails after taking the lock releases it.
func TestSecondOpenRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "observerd", "ops.jsonl")
	o, err := Open(Options{Path: path, RingSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Path: path, RingSize: 10})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), filepath.Dir(path)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second Open: %v, want Unavailable naming %s and this pid", err, filepath.Dir(path))
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "lakehouse_observer_events_total", Help: "taken"}))
	if _, err := Open(Options{Path: path, RingSize: 10, Metrics: reg}); err == nil || errs.Is(err, errs.Unavailable) {
		t.Fatalf("Open with a metric taken: %v, want the registration error", err)
	}
	o2, err := Open(Options{Path: path, RingSize: 10})
	if err != nil {
		t.Fatalf("Open after Close and a failed Open: %v", err)
	}
	if l, err := shared.LockFile(path + ".lock"); err == nil {
		l.Unlock()
		t.Fatal("the lock file is free while an Observer has the path open")
	}
	o2.Close(ctx)
}
