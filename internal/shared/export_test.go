package shared

import "net/netip"

// CanListenHere reports whether -check takes ip for an address a daemon
// can listen on here (this host's, loopback, unspecified, or any with
// ip_nonlocal_bind), for shared_test's expectations.
func CanListenHere(ip string) bool { return thisHostAddrs().has(netip.MustParseAddr(ip)) }
