package shared

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// proxyEnvVars are the variables http.ProxyFromEnvironment reads.
var proxyEnvVars = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"}

// TestProxiedMatchesProxyFromEnvironment: -check's proxy decision is the one
// the outside services' clients make (http.ProxyFromEnvironment, net/http's
// own copy of httpproxy, read once per process, so each environment is
// asked of a child process). x/net's httpproxy.FromEnvironment is not that
// decision: it prefers the lowercase variables where net/http prefers the
// uppercase ones.
func TestProxiedMatchesProxyFromEnvironment(t *testing.T) {
	urls := []string{"http://emb.test:11434", "https://router.test/api/v1", "https://code.test:8443/v1",
		"http://localhost:11434", "http://127.0.0.1:11434", "https://[::1]:443", "http://10.1.2.3:80", "https://sub.router.test"}
	cases := []map[string]string{
		{},
		{"HTTPS_PROXY": "http://127.0.0.1:9"},
		{"https_proxy": "http://127.0.0.1:9"},
		{"HTTP_PROXY": "http://127.0.0.1:9"},
		{"http_proxy": "127.0.0.1:9"}, // no scheme: http:// is assumed
		{"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "router.test"},
		{"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ".router.test"},
		{"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "router.test", "no_proxy": "code.test"},
		{"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "", "no_proxy": "*"},
		{"HTTPS_PROXY": "", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "code.test:8443"},
		{"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "10.0.0.0/8"},
		{"HTTP_PROXY": "http://127.0.0.1:9", "REQUEST_METHOD": "GET"}, // CGI: HTTP_PROXY refused
		{"HTTPS_PROXY": "http://127.0.0.1:9", "REQUEST_METHOD": "GET"},
		{"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "", "NO_PROXY": "", "no_proxy": "router.test"},
		{"HTTPS_PROXY": "::bad", "HTTP_PROXY": "http://%zz"}, // does not parse: every request fails
	}
	base := os.Environ()[:0:0]
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, v := range proxyEnvVars {
			keep = keep && k != v
		}
		if keep {
			base = append(base, kv)
		}
	}
	for _, env := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironmentChild$", "-test.count=1")
		cmd.Env = append(append([]string(nil), base...), "LH_PROXY_CHILD_URLS="+strings.Join(urls, " "))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: child: %v\n%s", env, err, out)
		}
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(l, "proxied: "); ok {
				line = s
			}
		}
		if len(line) != len(urls) {
			t.Fatalf("%v: child said %q", env, out)
		}
		// Load keeps only the variables that are set and not empty.
		kept := map[string]string{}
		for k, v := range env {
			if v != "" {
				kept[k] = v
			}
		}
		for i, s := range urls {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := proxied(envOf(kept), u), line[i] == '1'; got != want {
				t.Errorf("%v: proxied(%s) = %v, http.ProxyFromEnvironment says %v", env, s, got, want)
			}
		}
	}
}

// TestProxyFromEnvironmentChild is TestProxiedMatchesProxyFromEnvironment's
// child: it prints http.ProxyFromEnvironment's decision for each URL.
func TestProxyFromEnvironmentChild(t *testing.T) {
	urls := os.Getenv("LH_PROXY_CHILD_URLS")
	if urls == "" {
		t.Skip("run by TestProxiedMatchesProxyFromEnvironment")
	}
	var b strings.Builder
	for _, s := range strings.Fields(urls) {
		req, err := http.NewRequest("GET", s, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := http.ProxyFromEnvironment(req)
		if p != nil || err != nil {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	os.Stdout.WriteString("proxied: " + b.String() + "\n")
}
