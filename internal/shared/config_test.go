package shared

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestS3SilenceKeys: [s3] dial_timeout, header_timeout and stall_timeout
// (the bounds on a hung S3, ADR-011) default to 5s, 15s and 30s, are read
// as durations, and a zero, negative, too long or unparsable one fails the
// load — every problem reported at once, alongside the others.
func TestS3SilenceKeys(t *testing.T) {
	dir := t.TempDir()
	load := func(s string) (*Config, error) {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p, func(string) string { return "" })
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.DialTimeout.Duration != 5*time.Second || c.S3.HeaderTimeout.Duration != 15*time.Second || c.S3.StallTimeout.Duration != 30*time.Second {
		t.Fatalf("defaults: %+v", c.S3)
	}
	c, err = load("[s3]\ndial_timeout = \"250ms\"\nheader_timeout = \"2s\"\nstall_timeout = \"1m30s\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.DialTimeout.Duration != 250*time.Millisecond || c.S3.HeaderTimeout.Duration != 2*time.Second || c.S3.StallTimeout.Duration != 90*time.Second {
		t.Fatalf("set: %+v", c.S3)
	}

	_, err = load("[s3]\ndial_timeout = \"0s\"\nheader_timeout = \"-1s\"\nstall_timeout = \"11m\"\n[log]\nlevel = \"loud\"\n")
	for _, want := range []string{`[s3].dial_timeout "0s"`, `[s3].header_timeout "-1s"`, `[s3].stall_timeout "11m0s"`, "[log].level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate should report %s among all problems; got %v", want, err)
		}
	}
	if _, err := load("[s3]\nstall_timeout = \"10m\"\n"); err != nil {
		t.Errorf("the upper bound itself: %v", err)
	}

	_, err = load("[s3]\nstall_timeout = \"thirty seconds\"\n")
	if err == nil || !strings.Contains(err.Error(), "stall_timeout") {
		t.Errorf("unparsable duration: %v, want an error naming the key", err)
	}
	_, err = load("[s3]\nstall_timeout = 30\n")
	if err == nil {
		t.Errorf("a bare number: no error, want one (durations are strings like \"30s\")")
	}
	_, err = load("[s3]\nstal_timeout = \"30s\"\nread_timeout = \"5s\"\n")
	if err == nil || !strings.Contains(err.Error(), "s3.stal_timeout") || !strings.Contains(err.Error(), "s3.read_timeout") {
		t.Errorf("unknown [s3] keys: %v, want both named", err)
	}
}
