package shared

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBindHostThatDoesNotResolve: a bind whose host is a name that does not
// resolve passed `-check`; the daemon then failed at its start with
// "listen nohost.invalid:3111: listen tcp: lookup nohost.invalid on
// 10.255.255.53:53: no such host" (exit 1, restarted until the start limit).
// `-check` looks up every section's host that is a name (IP literals and an
// empty host need none) and names each that does not resolve by its key;
// Load (which every start runs) looks up nothing, so another section's host
// cannot stop a daemon; a start names its own bind's key. Names under
// .invalid never resolve (RFC 6761: answered at once, no DNS query is
// sent); localhost does, through /etc/hosts.
func TestBindHostThatDoesNotResolve(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lakehouse.toml")
	file := `[gateway]
bind = "nohost.invalid:3111"
[storaged]
bind = "also.nohost.invalid:0"
[catalogd]
bind = "localhost:0"
[queryd]
bind = "127.0.0.1:0"
[ingestd]
bind = ":0"
[vectord]
bind = "[::1]:0"
`
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LAKEHOUSE_DATA_DIR": t.TempDir(), "LH_PATHWAYD_BIND": "third.nohost.invalid:0"}
	c, err := Load(p, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("Load looked a host up (every start runs it): %v", err)
	}
	err = c.HostProblems(context.Background())
	if err == nil {
		t.Fatal("no problem reported")
	}
	want := `[storaged].bind "also.nohost.invalid:0": host does not resolve` + "\n" +
		`[pathwayd].bind (from LH_PATHWAYD_BIND) "third.nohost.invalid:0": host does not resolve` + "\n" +
		`[gateway].bind "nohost.invalid:3111": host does not resolve`
	if got := err.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
	good := *c
	for _, n := range []string{"gateway", "storaged", "pathwayd"} {
		good.Section(n).Bind = "127.0.0.1:0"
	}
	if err := good.HostProblems(context.Background()); err != nil {
		t.Errorf("hosts that resolve, or need no lookup: %v", err)
	}

	// A start names its own bind, not the resolver's error.
	c.Auth.Token = "a-long-enough-test-token"
	t.Setenv("LH_GATEWAY_ALLOW_NONLOOPBACK", "1")
	s, err := Start(context.Background(), "gateway", c, testDaemon, io.Discard)
	if err == nil {
		s.Shutdown(context.Background())
		t.Fatal("started on a host that does not resolve")
	}
	if msg := err.Error(); msg != `[gateway].bind "nohost.invalid:3111": host does not resolve` {
		t.Errorf("start: %v", err)
	}
}

// The resolver's short reason, never its Go error text ("lookup x on
// 10.0.0.53:53: ...").
func TestUnresolvedReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.DNSError{Err: "no such host", Name: "x", Server: "10.0.0.53:53", IsNotFound: true}, "host does not resolve"},
		{&net.DNSError{Err: "i/o timeout", Name: "x", Server: "10.0.0.53:53", IsTimeout: true}, "host does not resolve (the lookup timed out)"},
		{context.DeadlineExceeded, "host does not resolve (the lookup timed out)"},
		{&net.DNSError{Err: "server misbehaving", Name: "x", Server: "10.0.0.53:53"}, "host does not resolve (server misbehaving)"},
		{fmt.Errorf("listen tcp: %w", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}), "host does not resolve"},
	} {
		if got := unresolved(tc.err); got != tc.want {
			t.Errorf("unresolved(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestBindHostLookupsTogether: every section's bind on its own host that
// does not resolve, each named once, in Daemons' order. The lookups wrote
// their answers into the map HostProblems was still ranging over to
// start them (a host under .invalid is answered at once): a data race,
// reported by `go test -race` (scripts/race.sh) here and in
// TestBindHostThatDoesNotResolve.
func TestBindHostLookupsTogether(t *testing.T) {
	c := Default(t.TempDir())
	var want []string
	for i, n := range Daemons {
		c.Section(n).Bind = fmt.Sprintf("h%d.nohost.invalid:%d", i, 4000+i)
		want = append(want, fmt.Sprintf("[%s].bind %q: host does not resolve", n, c.Section(n).Bind))
	}
	for range 20 {
		err := c.HostProblems(context.Background())
		if err == nil || err.Error() != strings.Join(want, "\n") {
			t.Fatalf("problems:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
		}
	}
}
