package shared

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig: any bytes as lakehouse.toml either load into a config
// that validates, or fail with an error — never a panic, never a config
// that Validate would reject.
func FuzzLoadConfig(f *testing.F) {
	repo, _ := os.ReadFile("../../lakehouse.toml")
	f.Add(string(repo))
	f.Add("[storaged]\nbind = \"127.0.0.1:1\"\nbackend = \"s3\"\n[s3]\nendpoint = \"x\"\n")
	f.Add("data_dir = 3\n")
	f.Add("[auth]\nallowed_ips = [\"10.0.0.0/8\", \"::1\", \"nope\"]\n")
	f.Add("[queryd]\ntimeout = \"-5s\"\nmax_concurrent = 0\n")
	f.Add("[[gateway]]\n")
	f.Add("[gateway]\nread_timeout = 5\nmax_body_bytes = \"x\"\n[gateway.bind]\na = 1\n[chatd]\nfallback = [1, \"x\"]\n")
	f.Add("log = [1, 2]\n[auth]\nallowed_ips = \"127.0.0.1\"\ntoken_file = 1979-05-27T07:32:00Z\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Skip()
		}
		c, err := Load(p, func(string) string { return "" })
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("Load accepted a config Validate rejects: %v", verr)
		}
	})
}

// FuzzRequestID: the request id filter never lets through anything that
// could split a header or a log line.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"abc", "", "a\r\nX-Evil: 1", strings.Repeat("x", 200), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validRequestID(s) {
			if len(s) == 0 || len(s) > 128 || strings.ContainsAny(s, "\r\n\t \x00") {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
