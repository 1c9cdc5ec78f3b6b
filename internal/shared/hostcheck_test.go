package shared

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// TestURLAndEndpointHostsLookedUp: `-check` looked up every bind host but not
// the hosts of `[<daemon>].url` (how this host's daemons reach one on another
// host) nor `[s3].endpoint` (storaged's S3): a typo there passed, and the
// daemons then answered 502/503. Each is looked up now, by its key; a url
// left out is the bind's host (looked up as the bind), an IP literal is not
// looked up nor compared with this host's addresses (it names another host),
// and the endpoint only with the s3 backend (with local it is unused, and
// Validate refuses it set).
func TestURLAndEndpointHostsLookedUp(t *testing.T) {
	c := Default(t.TempDir())
	c.Observerd.URL = "https://obs.invalid"
	c.Storaged.URL = "http://192.0.2.1:3211" // a literal: no lookup, not this host's, not reported
	c.Catalogd.URL = "http://cat.invalid:3212/"
	c.Vectord.URL = "http://localhost:3215"
	c.Queryd.URL = "http://[::1]:3214"
	c.Storaged.Backend = "s3"
	c.S3.Endpoint = "minio.invalid:9000"
	want := `[observerd].url "https://obs.invalid": host does not resolve` + "\n" +
		`[catalogd].url "http://cat.invalid:3212/": host does not resolve` + "\n" +
		`[s3].endpoint "minio.invalid:9000": host does not resolve`
	if err := c.HostProblems(context.Background()); err == nil || err.Error() != want {
		t.Errorf("problems:\n%v\nwant:\n%s", err, want)
	}

	for endpoint, bad := range map[string]bool{
		"minio.invalid:9000":         true,
		"http://minio.invalid:9000":  true,
		"https://MINIO.INVALID":      true,
		"minio.invalid":              true,
		"192.0.2.1:9000":             false, // a literal: not looked up
		"http://[2001:db8::1]:9000":  false,
		"localhost:9000":             false,
		"http://minio.invalid/path/": true, // Validate names the path; the host is still looked up
	} {
		c := Default(t.TempDir())
		c.Storaged.Backend = "s3"
		c.S3.Endpoint = endpoint
		err := c.HostProblems(context.Background())
		if want := `[s3].endpoint "` + endpoint + `": host does not resolve`; bad && (err == nil || err.Error() != want) {
			t.Errorf("endpoint %q: %v, want %s", endpoint, err, want)
		} else if !bad && err != nil {
			t.Errorf("endpoint %q: %v", endpoint, err)
		}
	}

	// With the local backend the endpoint is no one's: Validate refuses it
	// set ("only used with"), -check does not look it up as well.
	c = Default(t.TempDir())
	c.S3.Endpoint = "minio.invalid:9000"
	if err := c.HostProblems(context.Background()); err != nil {
		t.Errorf("local backend: %v", err)
	}
	// A backend of the wrong type holds its default, local: the endpoint's
	// use cannot be told, so it is not looked up (ADR-199's typed rule).
	c.Storaged.Backend = "s3"
	c.wrongTyped = map[string]bool{"[storaged].backend": true}
	if err := c.HostProblems(context.Background()); err != nil {
		t.Errorf("wrong-typed backend: %v", err)
	}
}

// TestBindAddressNotOnThisHost: a bind on an address this host does not
// have passed `-check` and failed only at the start ("bind: cannot assign
// requested address", exit 1, restarted until the start limit). `-check`
// compares it with the host's interface addresses, without a listen:
// 0.0.0.0, ::, loopback and the host's own addresses pass; with
// ip_nonlocal_bind = 1 (a floating address) every address of that family
// does. 192.0.2.1 is TEST-NET-1: nothing is sent to it.
func TestBindAddressNotOnThisHost(t *testing.T) {
	const far = "192.0.2.1"
	local := thisHostAddrs()
	if local.unknown || local.addrs[netip.MustParseAddr(far)] {
		t.Skipf("%s is an address of this host, or the interfaces cannot be listed", far)
	}
	setNonlocal(t, "0", "0")

	c := Default(t.TempDir())
	c.Gateway.Bind = far + ":3111"
	c.Chatd.Bind = "[2001:db8::7]:3120"
	c.Catalogd.URL = "http://" + far + ":3212" // another host's: not compared
	binds := []string{"0.0.0.0:0", "[::]:0", ":0", "127.0.0.2:0", "[::1]:0", "localhost:0", "[::ffff:127.0.0.1]:0"}
	for _, a := range local.addrs2() {
		binds = append(binds, net.JoinHostPort(a.String(), "0"))
	}
	for i, b := range binds {
		c.Section(Daemons[i%9]).Bind = b // observerd ... pathwayd
	}
	want := `[chatd].bind "[2001:db8::7]:3120": 2001:db8::7 is not an address of this host: the daemon cannot listen there` + "\n" +
		`[gateway].bind "192.0.2.1:3111": 192.0.2.1 is not an address of this host: the daemon cannot listen there`
	if err := c.HostProblems(context.Background()); err == nil || err.Error() != want {
		t.Errorf("problems (binds %v):\n%v\nwant:\n%s", binds, err, want)
	}
	setNonlocal(t, "1", "0")
	want = `[chatd].bind "[2001:db8::7]:3120": 2001:db8::7 is not an address of this host: the daemon cannot listen there`
	if err := c.HostProblems(context.Background()); err == nil || err.Error() != want {
		t.Errorf("ip_nonlocal_bind for IPv4:\n%v\nwant:\n%s", err, want)
	}
	setNonlocal(t, "1", "1")
	if err := c.HostProblems(context.Background()); err != nil {
		t.Errorf("ip_nonlocal_bind for both: %v", err)
	}
}

// setNonlocal points nonlocalBindFiles at files holding v4 and v6 (the
// kernel's ip_nonlocal_bind for IPv4 and IPv6) for the rest of t.
func setNonlocal(t *testing.T, v4, v6 string) {
	t.Helper()
	saved := nonlocalBindFiles
	t.Cleanup(func() { nonlocalBindFiles = saved })
	dir := t.TempDir()
	for i, v := range []string{v4, v6} {
		nonlocalBindFiles[i] = filepath.Join(dir, []string{"v4", "v6"}[i])
		if err := os.WriteFile(nonlocalBindFiles[i], []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// addrs2 is up to two of the host's own addresses that are neither loopback
// nor link-local, in order (the test passes them as binds). None is
// listened on: tests bind only 127.0.0.1, and -check takes every interface
// address for one a listen can take.
func (l *localAddrs) addrs2() []netip.Addr {
	var out []netip.Addr
	for a := range l.addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out[:min(len(out), 2)]
}

// TestBindNameResolvingElsewhere: a bind whose name resolves to an address
// this host does not have is told by `-check`, naming the address net.Listen
// would take: the first IPv4 address, else the first (so a name that
// resolves to ::1 and 203.0.113.1 cannot be listened on either). The names
// are answered by a DNS server of the test's own on 127.0.0.1, which also
// counts the questions: a name under .invalid is never asked (RFC 6761).
// 203.0.113.1 is TEST-NET-3; nothing is sent to it (Go's resolver sorts
// two answers by RFC 6724, learning each one's source address with a UDP
// connect, which sends no packet).
func TestBindNameResolvingElsewhere(t *testing.T) {
	// A host with ip_nonlocal_bind = 1 would let every address pass.
	setNonlocal(t, "0", "0")
	if thisHostAddrs().has(netip.MustParseAddr("203.0.113.1")) {
		t.Skip("203.0.113.1 is an address of this host")
	}
	dns := startTestDNS(t, map[string][]netip.Addr{
		"far.test.":  {netip.MustParseAddr("203.0.113.1")},
		"near.test.": {netip.MustParseAddr("127.0.0.1")},
		"both.test.": {netip.MustParseAddr("::1"), netip.MustParseAddr("203.0.113.1")},
		"six.test.":  {netip.MustParseAddr("::1")},
	})
	saved := hostResolver
	hostResolver = dns.resolver()
	t.Cleanup(func() { hostResolver = saved })

	c := Default(t.TempDir())
	c.Gateway.Bind = "far.test:3111"
	c.Catalogd.URL = "http://far.test:3212" // another host's name: resolving is enough
	c.Storaged.Bind = "near.test:3211"
	c.Queryd.Bind = "both.test:3214"
	c.Vectord.Bind = "six.test:3215"
	c.Embedd.Bind = "gone.test:3216"
	c.Chatd.URL = "http://chat.invalid:3220"
	want := `[embedd].bind "gone.test:3216": host does not resolve` + "\n" +
		`[queryd].bind "both.test:3214": resolves to 203.0.113.1, not an address of this host: the daemon cannot listen there` + "\n" +
		`[chatd].url "http://chat.invalid:3220": host does not resolve` + "\n" +
		`[gateway].bind "far.test:3111": resolves to 203.0.113.1, not an address of this host: the daemon cannot listen there`
	if err := c.HostProblems(context.Background()); err == nil || err.Error() != want {
		t.Errorf("problems:\n%v\nwant:\n%s", err, want)
	}
	if n := dns.asked("far.test.", dnsmessage.TypeA); n == 0 {
		t.Error("far.test was not asked of the test's DNS server")
	}
	if n := dns.asked("chat.invalid.", dnsmessage.TypeA) + dns.asked("chat.invalid.", dnsmessage.TypeAAAA); n != 0 {
		t.Errorf("chat.invalid asked %d times: a name under .invalid is answered without DNS", n)
	}
}

// testDNS answers A and AAAA questions from a table over UDP on 127.0.0.1
// (NXDOMAIN for a name it does not hold) and counts them.
type testDNS struct {
	conn  net.PacketConn
	mu    sync.Mutex
	count map[string]int
}

func startTestDNS(t *testing.T, table map[string][]netip.Addr) *testDNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{conn: conn, count: map[string]int{}}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			name := strings.ToLower(q.Name.String())
			d.mu.Lock()
			d.count[name+" "+q.Type.String()]++
			d.mu.Unlock()
			addrs, ok := table[name]
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
			if !ok {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			for _, a := range addrs {
				hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
				switch {
				case q.Type == dnsmessage.TypeA && a.Is4():
					hdr.Type = dnsmessage.TypeA
					b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
				case q.Type == dnsmessage.TypeAAAA && a.Is6():
					hdr.Type = dnsmessage.TypeAAAA
					b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
			}
			if msg, err := b.Finish(); err == nil {
				conn.WriteTo(msg, from)
			}
		}
	}()
	return d
}

// resolver asks d only, over UDP on loopback (/etc/hosts is still read
// first: the test's names are not in it).
func (d *testDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

func (d *testDNS) asked(name string, typ dnsmessage.Type) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count[name+" "+typ.String()]
}
