package shared

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A value of the wrong type no longer stops the load at that key: every such
// value is named, and the rest of the file is still checked (ADR-193).
func TestLoadReportsEveryWrongType(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	file := `data_dir = 5
[gateway]
max_body_bytes = "big"
read_timeout = "5 parsecs"
bind = "127.0.0.1:4110"
[gateway.url]
x = 1
[queryd]
max_rows = 1.5
max_queue = -1
[chatd]
timeout = 30
fallback = "ollama"
retries = -1
kimi_url = "ftp://moonshot"
[auth]
allowed_ips = ["127.0.0.1", 5]
[log]
access = "yes"
acess = true
[[report]]
enabled = true
`
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, func(string) string { return "" })
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"data_dir 5: want a string",
		`[gateway].max_body_bytes "big": want a whole number`,
		`[gateway].read_timeout "5 parsecs": want a duration string such as "30s"`,
		"[gateway].url (a table): want a string",
		"[queryd].max_rows 1.5: want a whole number",
		"[chatd].timeout 30: want a duration string",
		`[chatd].fallback "ollama": want a list of strings`,
		`[auth].allowed_ips ["127.0.0.1", 5]: want a list of strings`,
		`[log].access "yes": want true or false`,
		"[report] (an array of tables): want a table",
		// The rest of the file is still checked:
		"unknown keys: log.acess",
		"[queryd].max_queue -1",
		"[chatd].retries -1: want >= 0",
		`[chatd].kimi_url "ftp://moonshot": want an http(s) URL or "off"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "config "+p+": toml:"); n != 0 {
		t.Errorf("%d raw decoder errors in:\n%s", n, msg)
	}
	// A good key beside the bad ones took effect; a bad one kept its default.
	if c == nil || c.Gateway.Bind != "127.0.0.1:4110" || c.Gateway.MaxBodyBytes != Default("").Gateway.MaxBodyBytes {
		t.Fatalf("config after a wrong type: %+v", c)
	}
}

// A file that does not parse still stops at its error, with the decoder's line.
func TestLoadStopsAtParseError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("[gateway]\nbind = \"127.0.0.1:1\"\nmax_body_bytes = = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want the parse error at line 3", err)
	}
}

// [chatd]'s retries, fallback and URLs are checked by every daemon's
// -check, not only at chatd's start.
func TestChatdChainCheckedByValidate(t *testing.T) {
	c := Default(t.TempDir())
	c.Chatd.Retries = 11
	c.Chatd.Fallback = []string{"ollama", "gpt", "ollama"}
	c.Chatd.OpenRouterURL = "openrouter.ai"
	c.Chatd.OllamaURL = "OFF"
	c.Chatd.KimiURL = "https://api.moonshot.ai/v1/"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"[chatd].retries 11: want at most 10",
		`[chatd].fallback "gpt": want one of ollama, ollama_cloud, openrouter, opencode, kimi`,
		`[chatd].fallback "ollama": listed twice`,
		`[chatd].openrouter_url "openrouter.ai": want an http(s) URL or "off"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	for _, not := range []string{"ollama_url", "kimi_url"} {
		if strings.Contains(err.Error(), not) {
			t.Errorf("%s refused:\n%v", not, err)
		}
	}
}

// A key of the wrong type keeps its default while the rest is validated: a
// check between two keys compared that default and printed a second,
// misleading message beside the wrong type's (`timeout = 30` with
// request_timeout = "10s": "[queryd].timeout "30s": above
// [queryd].request_timeout"). Each such check skips a wrong-typed key, on
// either side (ADR-199); the same checks with both keys typed still fire
// (TestValidate and its neighbours).
func TestCrossKeyChecksSkipWrongTypes(t *testing.T) {
	for _, tc := range []struct {
		name, file, wrong, not string
	}{
		{"queryd timeout", "[queryd]\ntimeout = 30\nrequest_timeout = \"10s\"\n",
			"[queryd].timeout 30: want a duration", "above [queryd].request_timeout"},
		{"queryd request_timeout", "[queryd]\ntimeout = \"2m\"\nrequest_timeout = 10\n",
			"[queryd].request_timeout 10: want a duration", "above [queryd].request_timeout"},
		{"bind, the earlier daemon", "[storaged]\nbind = 5\n[gateway]\nbind = \"127.0.0.1:3211\"\n",
			"[storaged].bind 5: want a string", "also used by"},
		{"bind, the later daemon", "[gateway]\nbind = 3211\n[storaged]\nbind = \"127.0.0.1:3110\"\n",
			"[gateway].bind 3211: want a string", "also used by"},
		{"storaged backend", "[storaged]\nbackend = 3\n[s3]\nendpoint = \"127.0.0.1:9000\"\npart_size = 6000000\n",
			"[storaged].backend 3: want a string", "only used with"},
		{"storaged section", "storaged = 3\n[s3]\nendpoint = \"127.0.0.1:9000\"\n",
			"[storaged] 3: want a table", "only used with"},
		{"s3 endpoint and secrets_path", "[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = 9000\nsecrets_path = 1\n",
			"[s3].endpoint 9000: want a string", "required when"},
		{"s3 use_ssl", "[storaged]\nbackend = \"s3\"\n[s3]\nendpoint = \"https://minio.example:9000\"\nuse_ssl = \"yes\"\nsecrets_path = \"/etc/lakehouse/secrets-go.toml\"\n",
			`[s3].use_ssl "yes": want true or false`, "scheme says"},
		{"embedd provider", "[embedd]\nprovider = 1\ndefault_model = \"llama3\"\nprovider_url = \"http://10.0.0.9:11434\"\n",
			"[embedd].provider 1: want a string", "provider = \"builtin\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p, func(k string) string {
				if k == "LAKEHOUSE_DATA_DIR" {
					return t.TempDir()
				}
				return ""
			})
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wrong) || strings.Contains(msg, tc.not) {
				t.Errorf("want %q and no %q in:\n%s", tc.wrong, tc.not, msg)
			}
		})
	}
}
