package shared

import (
	"os"
	"path/filepath"
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

// TestBaseURLsRefuseQueryOrFragment: every base URL a path is appended to
// (a daemon's url, chatd's providers, embedd's Ollama) is refused with a
// query or fragment, a bare "?" or "#" included (url.Parse leaves both
// empty for those, and the requests went to "/?/…" or "/").
func TestBaseURLsRefuseQueryOrFragment(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, want string }{
		{"[catalogd]\nurl = \"http://10.0.0.2:3112?\"\n", `[catalogd].url "http://10.0.0.2:3112?": want http://host:port`},
		{"[catalogd]\nurl = \"http://10.0.0.2:3112#\"\n", `[catalogd].url "http://10.0.0.2:3112#": want http://host:port`},
		{"[chatd]\nopenrouter_url = \"https://openrouter.ai/api/v1?\"\n", `[chatd].openrouter_url "https://openrouter.ai/api/v1?": want an http(s) URL`},
		{"[chatd]\nkimi_url = \"https://api.moonshot.ai/v1?x=1\"\n", `[chatd].kimi_url "https://api.moonshot.ai/v1?x=1": want an http(s) URL`},
		{"[chatd]\nollama_url = \"http://gpu:11434/#\"\n", `[chatd].ollama_url "http://gpu:11434/#": want an http(s) URL`},
		{"[embedd]\nprovider = \"ollama\"\nprovider_url = \"http://gpu:11434#\"\n", `[embedd].provider_url "http://gpu:11434#": want the Ollama server's`},
		{"[embedd]\nprovider = \"ollama\"\nprovider_url = \"http://gpu:11434/?a=b\"\n", `[embedd].provider_url "http://gpu:11434/?a=b": want the Ollama server's`},
	} {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.file, err, tc.want)
		}
	}
}
