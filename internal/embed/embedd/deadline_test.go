package embedd_test

import (
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/embed/ollama/ollamatest"
)

// TestDeadlineDuringRetryWait: an Ollama that answers 503 every time, and
// a request deadline ([embedd].request_timeout) that passes while embedd
// waits to try again, is a 504 timeout naming Ollama, as a deadline
// during the call itself is. Before: the last 503, as a 502 (ADR-083 left
// it), so a client could not tell its own deadline from Ollama down.
func TestDeadlineDuringRetryWait(t *testing.T) {
	fake := ollamatest.New(ollamatest.Model{Name: ollamaModel, Dims: 8})
	t.Cleanup(fake.Close)
	fake.SetFail(503)
	cfg := config(t)
	cfg.Embedd.Provider = "ollama"
	cfg.Embedd.ProviderURL = fake.URL
	// Inside the second wait (250 ms, then 500 ms): the second try starts
	// after 250 ms and the first try, the third no sooner than 750 ms. The
	// deadline is late in that span (it was 400 ms: a first try slower than
	// 150 ms on a loaded host left no time for the second).
	cfg.Embedd.RequestTimeout.Duration = 650 * time.Millisecond
	_, s := start(t, cfg)
	code, _, bad := post(t, s.URL(), inputs("deadline text"))
	if code != 504 || bad.Error.Kind != "timeout" || !strings.Contains(bad.Error.Message, "ollama at "+fake.URL) {
		t.Fatalf("%d %+v, want 504 timeout naming Ollama", code, bad.Error)
	}
	if n := len(fake.Calls()); n != 2 {
		t.Fatalf("%d calls to /api/embed, want 2 (the third try's wait outlives the deadline)", n)
	}
}
