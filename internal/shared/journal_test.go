package shared

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestJournalPriorityPrefix: under systemd, stdout is the journal's stream
// and journald stored every line at the unit's default priority (info),
// so `journalctl -p warning` never showed a daemon's WARN or ERROR lines.
// When the log output is the stream JOURNAL_STREAM names, each line starts
// with its syslog priority (<3> error, <6> info; access lines included);
// any other output, or a JOURNAL_STREAM naming another file, is unchanged.
func TestJournalPriorityPrefix(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "journal"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var st syscall.Stat_t
			if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
			cfg := testConfig(t)
			cfg.Log = LogConfig{Level: "info", Format: format, Access: true}
			s, err := Start(context.Background(), "storaged", cfg, testDaemon, f)
			if err != nil {
				t.Fatal(err)
			}
			get(t, s.URL()+"/v1/echo", "")
			get(t, s.URL()+"/v1/panic", "")
			s.Shutdown(context.Background())
			b, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			var access, panicked bool
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if len(l) < 3 || l[0] != '<' || l[2] != '>' {
					t.Errorf("no priority prefix: %q", l)
					continue
				}
				if strings.Contains(l, "/v1/echo") {
					access = true
					if l[1] != '6' {
						t.Errorf("access line at priority %c, want 6: %q", l[1], l)
					}
				}
				if strings.Contains(l, "boom") {
					panicked = true
					if l[1] != '3' {
						t.Errorf("panic line at priority %c, want 3: %q", l[1], l)
					}
				}
			}
			if !access || !panicked {
				t.Errorf("access line %v, panic line %v in %s", access, panicked, b)
			}
		})
	}

	// Not the journal's stream: nothing added.
	f, err := os.Create(filepath.Join(t.TempDir(), "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, env := range []string{"", "1:2"} {
		if isJournalStream(f, env) {
			t.Errorf("JOURNAL_STREAM %q taken for %s", env, f.Name())
		}
	}
	if isJournalStream(&bytes.Buffer{}, "1:2") {
		t.Error("a buffer taken for the journal")
	}
	for line, want := range map[string]byte{
		`time=2026-11-30T17:40:00.000Z level=WARN msg=x`:  '4',
		`time=2026-11-30T17:40:00.000Z level=DEBUG msg=x`: '7',
		`{"time":"2026-11-30T17:40:00Z","level":"ERROR"}`: '3',
		`{"time":"2026-11-30T17:40:00Z","level":"INFO"}`:  '6',
		`no level at all`: '6',
	} {
		if got := syslogPriority([]byte(line)); got != want {
			t.Errorf("%q: priority %c, want %c", line, got, want)
		}
	}
}
