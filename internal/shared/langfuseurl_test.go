package shared

import (
	"strings"
	"testing"
)

// TestLangfuseURLValidated: with both Langfuse keys set the client posts to
// LANGFUSE_URL, so a URL it cannot post to is named at load (it failed every
// flush, in the log only); without the keys tracing is off and the URL is
// not looked at.
func TestLangfuseURLValidated(t *testing.T) {
	env := func(u string, keys bool) func(string) string {
		return func(k string) string {
			switch {
			case k == "LANGFUSE_URL":
				return u
			case keys && k == "LANGFUSE_PUBLIC_KEY":
				return "pk"
			case keys && k == "LANGFUSE_SECRET_KEY":
				return "sk"
			}
			return ""
		}
	}
	for _, bad := range []string{"lf.example.com", "lf.example.com:3000", "ftp://lf.example.com", "http://", "http:///path",
		"https://lf.example.com/?a=1", "https://lf.example.com/#x", "http://lf example.com"} {
		_, err := Load("", env(bad, true))
		want := `LANGFUSE_URL "` + strings.TrimRight(bad, "/") + `": want the Langfuse server's http(s)://host[:port][/path]`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LANGFUSE_URL=%q: %v, want %q", bad, err, want)
		}
		if _, err := Load("", env(bad, false)); err != nil {
			t.Errorf("LANGFUSE_URL=%q without keys (tracing off): %v", bad, err)
		}
	}
	for _, good := range []string{"http://127.0.0.1:3000", "https://cloud.langfuse.com", "https://lf.example.com/langfuse/", "http://[::1]:3000"} {
		if _, err := Load("", env(good, true)); err != nil {
			t.Errorf("LANGFUSE_URL=%q: %v", good, err)
		}
	}
}
