package shared

import (
	"os"
	"strings"
	"testing"
)

// TestBindClashesAcrossSpellings: two daemons on one port clash when the
// hosts are the same address spelled differently (localhost, 127.0.0.1) or
// when either is a wildcard (0.0.0.0, ::, ""). Only the exact same string
// was refused; the others passed Load and the second daemon failed at its
// start with "address already in use" (exit 1: restarted by systemd until
// the start limit).
func TestBindClashesAcrossSpellings(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		clash bool
	}{
		{"127.0.0.1:47301", "127.0.0.1:47301", true},
		{"0.0.0.0:47301", "127.0.0.1:47301", true},
		{"127.0.0.1:47301", ":47301", true},
		{"[::]:47301", "127.0.0.1:47301", true},
		{"localhost:47301", "127.0.0.1:47301", true},
		{"127.0.0.1:47301", "127.0.0.2:47301", false},
		{"127.0.0.1:47301", "127.0.0.1:47302", false},
		{"127.0.0.1:0", "0.0.0.0:0", false},
	} {
		c := Default(t.TempDir())
		c.Gateway.Bind, c.Storaged.Bind = tc.a, tc.b
		err := c.Validate()
		got := err != nil && strings.Contains(err.Error(), "also used by [")
		if got != tc.clash {
			t.Errorf("gateway %s, storaged %s: clash reported %v, want %v (%v)", tc.a, tc.b, got, tc.clash, err)
		}
	}
}

// TestChatdNegativeDurationsRefused: [chatd]'s timeouts took a negative
// value as "the default" without a word, where every other duration key
// refuses one (ADR-118).
func TestChatdNegativeDurationsRefused(t *testing.T) {
	c := Default(t.TempDir())
	c.Chatd.Timeout.Duration = -1
	c.Chatd.StreamIdleTimeout.Duration = -1
	c.Chatd.RetryBackoff.Duration = -1
	c.Chatd.MaxRetryWait.Duration = -1
	err := c.Validate()
	for _, k := range []string{"[chatd].timeout", "[chatd].stream_idle_timeout", "[chatd].retry_backoff", "[chatd].max_retry_wait"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s -1ns: not refused (%v)", k, err)
		}
	}
}

// TestDataDirThatIsAFile: a data_dir naming a regular file passed Load;
// each daemon then failed at its start with exit 1 ("mkdir ...: not a
// directory", naming no key), which systemd restarts until its start limit.
func TestDataDirThatIsAFile(t *testing.T) {
	f := t.TempDir() + "/afile"
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(f)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("data_dir a file: %v, want an error naming data_dir", err)
	}
	c = Default(t.TempDir() + "/not-yet") // created at the start: fine
	if err := c.Validate(); err != nil {
		t.Fatalf("data_dir not yet made: %v", err)
	}
}
