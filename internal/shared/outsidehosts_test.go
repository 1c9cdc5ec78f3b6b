package shared

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// The hosts of the outside services (embedd's Ollama, chatd's providers,
// Langfuse) were not looked up by `-check`: a typo there answered
// "configuration ok" and failed at the first request. Each is looked up now,
// but only when the daemon would call it, so a provider not in use is never
// asked about. Every name here is answered by the test's own DNS server on
// 127.0.0.1 (startTestDNS), which counts the questions; the .test names it
// does not hold are answered "no such host".

// useTestDNS points hostResolver at a DNS server of the test's own holding
// table, for the rest of t, and counts the resolver's dials as well as the
// server's questions: any lookup that leaves /etc/hosts dials.
func useTestDNS(t *testing.T, table map[string][]netip.Addr) (*testDNS, *atomic.Int64) {
	t.Helper()
	dns := startTestDNS(t, table)
	var dials atomic.Int64
	saved := hostResolver
	hostResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dials.Add(1)
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", dns.conn.LocalAddr().String())
	}}
	t.Cleanup(func() { hostResolver = saved })
	return dns, &dials
}

// askedAny is how many A and AAAA questions the server had for name.
func (d *testDNS) askedAny(name string) int {
	return d.asked(name, dnsmessage.TypeA) + d.asked(name, dnsmessage.TypeAAAA)
}

// envOf is a getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestOutsideHostsLookedUp: each outside service in use is looked up by its
// key, after the daemons' urls and the S3 endpoint, in a fixed order.
func TestOutsideHostsLookedUp(t *testing.T) {
	dns, _ := useTestDNS(t, map[string][]netip.Addr{
		"router.test.": {netip.MustParseAddr("203.0.113.1")}, // resolves: not reported, not compared
	})
	keys := t.TempDir()
	if err := os.WriteFile(filepath.Join(keys, "kimi.key"), []byte("sk-kimi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default(t.TempDir())
	c.Catalogd.URL = "http://cat.test:3212"
	c.Embedd.Provider = "ollama"
	c.Embedd.ProviderURL = "http://olama.test:11434"
	c.Chatd.KeysDir = keys
	c.Chatd.OllamaURL = "http://chat-olama.test:11434/" // needs no key
	c.Chatd.OpenRouterURL = "https://router.test/api/v1"
	c.Chatd.KimiURL = "https://kimi.test/v1"
	c.Langfuse.URL, c.Langfuse.PublicKey, c.Langfuse.SecretKey = "https://lf.test", "pk", "sk"
	c.hostEnv = map[string]string{"OPENROUTER_API_KEY": "sk-or"}
	want := `[catalogd].url "http://cat.test:3212": host does not resolve` + "\n" +
		`[embedd].provider_url "http://olama.test:11434": host does not resolve` + "\n" +
		`[chatd].ollama_url "http://chat-olama.test:11434/": host does not resolve` + "\n" +
		`[chatd].kimi_url "https://kimi.test/v1": host does not resolve` + "\n" +
		`LANGFUSE_URL "https://lf.test": host does not resolve`
	if err := c.HostProblems(context.Background()); err == nil || err.Error() != want {
		t.Errorf("problems:\n%v\nwant:\n%s", err, want)
	}
	for _, name := range []string{"olama.test.", "chat-olama.test.", "router.test.", "kimi.test.", "lf.test."} {
		if dns.askedAny(name) == 0 {
			t.Errorf("%s was not asked", name)
		}
	}

	// A provider with its key and no url is looked up at its default URL,
	// named as the default. Only the list is checked here: no real name
	// is ever looked up by a test.
	c = Default(t.TempDir())
	c.hostEnv = map[string]string{"OPENROUTER_API_KEY": "sk-or"}
	refs := c.hostRefs()
	if got := refs[len(refs)-1]; got != (hostRef{key: "[chatd].openrouter_url (default)", value: "https://openrouter.ai/api/v1", host: "openrouter.ai"}) {
		t.Errorf("last ref %+v, want openrouter's default URL", got)
	}
}

// TestOutsideHostsNotInUseNotLookedUp: a service no daemon would call is
// not looked up, nor one the environment's HTTP(S) proxy carries (the
// proxy resolves it), nor a chatd url whose provider's keys cannot be told
// (a wrong-typed key holds its default). The server is asked nothing.
func TestOutsideHostsNotInUseNotLookedUp(t *testing.T) {
	dns, dials := useTestDNS(t, nil)
	keys := t.TempDir()
	if err := os.WriteFile(filepath.Join(keys, "kimi.key"), []byte(" \n"), 0o600); err != nil { // empty: no key
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(keys, "opencode.key"), 0o700); err != nil { // unreadable: no key
		t.Fatal(err)
	}
	base := func() *Config {
		c := Default(t.TempDir())
		c.Embedd.ProviderURL = "http://emb.test:11434" // provider = "builtin": unused
		c.Chatd.KeysDir = keys
		c.Chatd.OllamaURL = "off"
		c.Chatd.OllamaCloudURL = "https://cloud.test"
		c.Chatd.OpenRouterURL = "https://router.test/api/v1"
		c.Chatd.OpenCodeURL = "https://code.test/v1"
		c.Chatd.KimiURL = "https://kimi.test/v1"
		c.Langfuse.URL, c.Langfuse.PublicKey = "https://lf.test", "pk" // no secret key: no client
		c.hostEnv = map[string]string{"OLLAMA_CLOUD_API_KEY": "  "}
		return c
	}
	cases := map[string]func(c *Config){
		"no keys": func(c *Config) {},
		"https proxy": func(c *Config) {
			c.hostEnv = map[string]string{"OPENROUTER_API_KEY": "sk-or", "https_proxy": "http://127.0.0.1:9"}
		},
		"http proxy": func(c *Config) {
			c.Embedd.Provider = "ollama"
			c.hostEnv = map[string]string{"HTTP_PROXY": "http://127.0.0.1:9"}
		},
		"wrong-typed keys_dir": func(c *Config) {
			c.hostEnv = map[string]string{"OPENROUTER_API_KEY": "sk-or"}
			c.wrongTyped = map[string]bool{"[chatd].keys_dir": true}
		},
		"wrong-typed [chatd]": func(c *Config) {
			c.hostEnv = map[string]string{"OPENROUTER_API_KEY": "sk-or"}
			c.wrongTyped = map[string]bool{"[chatd]": true}
		},
	}
	for name, edit := range cases {
		c := base()
		edit(c)
		if err := c.HostProblems(context.Background()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d DNS dials, want none", n)
		for _, h := range []string{"emb.test.", "cloud.test.", "router.test.", "code.test.", "kimi.test.", "lf.test."} {
			t.Logf("%s asked %d times", h, dns.askedAny(h))
		}
	}

	// In use, the same names are asked: HTTPS_PROXY does not carry
	// embedd's http URL, and NO_PROXY exempts router.test (but not
	// code.test, which the proxy resolves).
	c := base()
	c.Embedd.Provider = "ollama"
	c.hostEnv = map[string]string{"OPENROUTER_API_KEY": "sk-or", "OPENCODE_API_KEY": "sk-oc",
		"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "router.test"}
	want := `[embedd].provider_url "http://emb.test:11434": host does not resolve` + "\n" +
		`[chatd].openrouter_url "https://router.test/api/v1": host does not resolve`
	if err := c.HostProblems(context.Background()); err == nil || err.Error() != want {
		t.Errorf("in use:\n%v\nwant:\n%s", err, want)
	}
	if n := dns.askedAny("code.test."); n != 0 {
		t.Errorf("code.test asked %d times through a proxy", n)
	}
}

// TestCheckDefaultConfigLooksUpNothing: `-check` on the embedded defaults
// and on the repository's lakehouse.toml, with no key in the environment,
// makes no DNS query at all (every default host is an IP literal, and no
// keyed provider is registered). Load's environment reaches the lookups:
// with KIMI_API_KEY set the same file asks for kimi's host.
func TestCheckDefaultConfigLooksUpNothing(t *testing.T) {
	dns, dials := useTestDNS(t, nil)
	for _, path := range []string{"", "../../lakehouse.toml"} {
		c, err := Load(path, envOf(nil))
		if err != nil {
			t.Fatalf("load %q: %v", path, err)
		}
		if err := c.HostProblems(context.Background()); err != nil {
			t.Errorf("%q: %v", path, err)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("%d DNS dials on the default config, want none", n)
	}
	file := filepath.Join(t.TempDir(), "lakehouse.toml")
	if err := os.WriteFile(file, []byte("[chatd]\nkimi_url = \"https://kimi.test/v1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for key, asked := range map[string]bool{"": false, "sk-kimi": true} {
		c, err := Load(file, envOf(map[string]string{"KIMI_API_KEY": key}))
		if err != nil {
			t.Fatal(err)
		}
		before := dns.askedAny("kimi.test.")
		err = c.HostProblems(context.Background())
		if got := dns.askedAny("kimi.test.") > before; got != asked || (err != nil) != asked {
			t.Errorf("KIMI_API_KEY %q: asked %v, problems %v; want asked %v", key, got, err, asked)
		}
	}
}
