package chatd_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"lakehouse-go/internal/chat/chatd"
	"lakehouse-go/internal/shared"
)

// TestChatdURLsMatchResolve: `-check` looks up the host of each provider
// chatd registers, and of no other (a provider not in use is never asked
// about). shared cannot import this package, so it decides registration
// itself (shared.ChatdRegisteredURLs, from the defaults and key lookup
// Resolve uses too); this compares it with Resolve, the decision chatd
// starts on, over urls set,
// left out and "off", keys from the environment (blank ones too) and from
// keys_dir (present, blank, unreadable, missing).
func TestChatdURLsMatchResolve(t *testing.T) {
	keys := t.TempDir()
	for name, body := range map[string]string{"ollama_cloud": "sk-cloud\n", "kimi": " \n", "ollama": "sk-local"} {
		if err := os.WriteFile(filepath.Join(keys, name+".key"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(keys, "opencode.key"), 0o700); err != nil { // unreadable
		t.Fatal(err)
	}
	configs := map[string]shared.ChatdConfig{
		"defaults": shared.Default("").Chatd,
		"urls set": {OllamaURL: "http://gpu.example:11434/", OllamaCloudURL: "https://cloud.example", OpenRouterURL: "https://router.example/api/v1",
			OpenCodeURL: "https://code.example/v1", KimiURL: "https://kimi.example/v1/"},
		"off":              {OllamaURL: "off", OllamaCloudURL: "OFF/", OpenRouterURL: "Off", OpenCodeURL: "off", KimiURL: "off"},
		"keys_dir":         {KeysDir: keys, KimiURL: "https://kimi.example/v1"},
		"keys_dir missing": {KeysDir: filepath.Join(keys, "absent"), OllamaURL: "off"},
	}
	envs := map[string]map[string]string{
		"none":  nil,
		"all":   {"OLLAMA_CLOUD_API_KEY": "a", "OPENROUTER_API_KEY": "b", "OPENCODE_API_KEY": "c", "KIMI_API_KEY": "d"},
		"blank": {"OPENROUTER_API_KEY": " \t", "KIMI_API_KEY": "k", "OPENCODE_API_KEY": "  "},
	}
	for cn, c := range configs {
		for en, env := range envs {
			getenv := func(k string) string { return env[k] }
			set, err := chatd.Resolve(c, getenv)
			if err != nil {
				t.Fatalf("%s/%s: %v", cn, en, err)
			}
			want := map[string]string{}
			for _, p := range set.Providers {
				if p.Registered {
					want[p.Name] = p.URL
				}
			}
			if got := shared.ChatdRegisteredURLs(c, getenv); !maps.Equal(got, want) {
				t.Errorf("config %s, env %s: shared.ChatdRegisteredURLs %s, chatd registers %s", cn, en, fmt.Sprint(got), fmt.Sprint(want))
			}
		}
	}
}
