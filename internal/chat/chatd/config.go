package chatd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lakehouse-go/internal/chat"
	"lakehouse-go/internal/shared"
)

// Protocols an upstream speaks.
const (
	ProtoOllama = "ollama" // POST /api/chat, NDJSON
	ProtoOpenAI = "openai" // POST /chat/completions, SSE
)

// Default is a provider's built-in configuration: where it is reached and
// where its key comes from are shared.ChatProviderDefaults (-check looks up
// the same hosts), the model and protocol are chatd's.
type Default struct {
	URL, Model, KeyEnv, Proto string
	KeyRequired               bool
}

// Defaults are the providers' defaults (ADR-060). Models are a sensible
// start, not a promise: set [chatd].<name>_model for what you run.
var Defaults = func() map[string]Default {
	m := map[string]Default{
		chat.Ollama:      {Model: "llama3.2", Proto: ProtoOllama},
		chat.OllamaCloud: {Model: "gpt-oss:120b", Proto: ProtoOllama},
		chat.OpenRouter:  {Model: "openrouter/auto", Proto: ProtoOpenAI},
		chat.OpenCode:    {Model: "qwen3-coder", Proto: ProtoOpenAI},
		chat.Kimi:        {Model: "kimi-k2-0905-preview", Proto: ProtoOpenAI},
	}
	for name, d := range m {
		w := shared.ChatProviderDefaults[name]
		d.URL, d.KeyEnv, d.KeyRequired = w.URL, w.KeyEnv, w.KeyRequired
		m[name] = d
	}
	return m
}()

// Off as a provider URL unregisters it (the local ollama needs no key, so
// this is how to switch it off).
const Off = "off"

// ProviderConfig is one provider after config and key resolution.
type ProviderConfig struct {
	Name, URL, Model, Proto string
	Key                     string // never logged, never answered
	Registered              bool
	Reason                  string // why not registered
}

// Settings is [chatd] resolved: providers, chain, retries, timeouts.
type Settings struct {
	Providers    []ProviderConfig // in chat.ProviderNames order
	Fallback     []string
	Retries      int
	Timeout      time.Duration // per attempt, until the first token
	StreamIdle   time.Duration // between chunks
	RetryBackoff time.Duration
	MaxRetryWait time.Duration
}

// Resolve reads [chatd] and the keys: for each provider the env var (when
// non-empty) wins over <keys_dir>/<name>.key. A missing or empty key
// leaves the provider unregistered; it is never an error. Errors are for
// config that is wrong (unknown fallback names, bad URLs), all at once.
func Resolve(c shared.ChatdConfig, getenv func(string) string) (Settings, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := Settings{Fallback: c.Fallback, Retries: c.Retries, Timeout: c.Timeout.Duration,
		StreamIdle: c.StreamIdleTimeout.Duration, RetryBackoff: c.RetryBackoff.Duration, MaxRetryWait: c.MaxRetryWait.Duration}
	if s.Timeout <= 0 {
		s.Timeout = 2 * time.Minute
	}
	if s.StreamIdle <= 0 {
		s.StreamIdle = 2 * time.Minute
	}
	if s.RetryBackoff <= 0 {
		s.RetryBackoff = 250 * time.Millisecond
	}
	if s.MaxRetryWait <= 0 {
		s.MaxRetryWait = 10 * time.Second
	}
	// Retries, the fallback chain and the URLs are checked where every
	// daemon's -check sees them (shared.Validate); a ChatdConfig built in
	// code is checked here the same way.
	problems := shared.ChatdProblems(c)
	if len(problems) > 0 {
		return Settings{}, errors.New(strings.Join(problems, "; "))
	}
	urls := shared.ChatdURLs(c)
	models := map[string]string{
		chat.Ollama: c.OllamaModel, chat.OllamaCloud: c.OllamaCloudModel, chat.OpenRouter: c.OpenRouterModel,
		chat.OpenCode: c.OpenCodeModel, chat.Kimi: c.KimiModel,
	}
	for _, name := range chat.ProviderNames {
		def := Defaults[name]
		p := ProviderConfig{Name: name, URL: strings.TrimRight(urls[name], "/"), Model: models[name], Proto: def.Proto}
		if p.URL == "" {
			p.URL = def.URL
		}
		if p.Model == "" {
			p.Model = def.Model
		}
		// An unreadable key file is not missing, but it is still no key:
		// src says so, and the reason below carries it.
		key, src := shared.ChatdKey(c, name, getenv)
		p.Key = key
		switch {
		case strings.EqualFold(p.URL, Off):
			p.URL, p.Reason = "", name+"_url = \"off\""
		case def.KeyRequired && key == "":
			p.Reason = "no API key: set " + def.KeyEnv
			if c.KeysDir != "" {
				p.Reason += " or write " + filepath.Join(c.KeysDir, name+".key")
			} else {
				p.Reason += " or set [chatd].keys_dir with " + name + ".key in it"
			}
			if strings.Contains(src, "unreadable") {
				p.Reason += "; " + src
			}
		default:
			p.Registered = true
		}
		s.Providers = append(s.Providers, p)
	}
	return s, nil
}
