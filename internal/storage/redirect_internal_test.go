package storage

import "testing"

// Only a client whose storaged is on this host asks for redirects: a
// presigned URL names S3 as storaged reaches it, which from another host
// may be a different machine.
func TestLoopbackURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:3111": true, "http://127.9.9.9:1": true, "http://[::1]:3111": true, "http://localhost:3111": true,
		"http://10.0.0.5:3111": false, "http://storaged:3111": false, "http://[2001:db8::1]:80": false, "::bad": false, "": false,
	} {
		if got := loopbackURL(raw); got != want {
			t.Errorf("loopbackURL(%q) = %v, want %v", raw, got, want)
		}
	}
}
