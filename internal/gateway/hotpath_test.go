package gateway

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestEqFoldWords: eqFold eight bytes at a time answers as the byte loop
// (every byte of a against lower-case ASCII names and values, every
// length across the word boundary, every single-byte change).
func TestEqFoldWords(t *testing.T) {
	ref := func(a []byte, b string) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			x := a[i]
			if 'A' <= x && x <= 'Z' {
				x += 'a' - 'A'
			}
			if x != b[i] {
				return false
			}
		}
		return true
	}
	names := []string{"te", "host", "date", "expect", "trailer", "upgrade", "connection", "keep-alive",
		"x-request-id", "content-type", "authorization", "content-length", "x-forwarded-for", "proxy-connection",
		"transfer-encoding", "text/event-stream", "proxy-authenticate", "proxy-authorization", "x-lakehouse-redirect",
		"100-continue", "chunked", "close", "a-z_0-9`{|}~@[\\]^!#$%&'*+.", ""}
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(a []byte, b string) {
		t.Helper()
		if got, want := eqFold(a, b), ref(a, b); got != want {
			t.Fatalf("eqFold(%q, %q) = %v, the byte loop says %v", a, b, got, want)
		}
	}
	for _, b := range names {
		a := []byte(b)
		check(a, b)
		for i := range a {
			for c := 0; c < 256; c++ {
				x := append([]byte(nil), a...)
				x[i] = byte(c)
				check(x, b)
			}
		}
		// upper-case runs and random bytes
		for range 300 {
			x := append([]byte(nil), a...)
			for i := range x {
				switch rng.IntN(3) {
				case 0:
					if 'a' <= x[i] && x[i] <= 'z' {
						x[i] -= 'a' - 'A'
					}
				case 1:
					if rng.IntN(8) == 0 {
						x[i] = byte(rng.IntN(256))
					}
				}
			}
			check(x, b)
		}
	}
}

// TestCtlFreeWords: ctlFree eight bytes at a time answers as the byte loop
// for every byte at every position of values of 0-24 bytes.
func TestCtlFreeWords(t *testing.T) {
	ref := func(v []byte) bool {
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		return true
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 24; n++ {
		base := make([]byte, n)
		for i := range base {
			base[i] = byte(' ' + rng.IntN(0x5f)) // printable
		}
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				v := append([]byte(nil), base...)
				v[i] = byte(c)
				if got, want := ctlFree(v), ref(v); got != want {
					t.Fatalf("ctlFree(%q) = %v, the byte loop says %v", v, got, want)
				}
			}
		}
		for range 2000 {
			v := make([]byte, n)
			for i := range v {
				v[i] = byte(rng.IntN(256))
				if rng.IntN(2) == 0 {
					v[i] = byte(0x20 + rng.IntN(0x60)) // mostly printable, 0x7f included
				}
			}
			if got, want := ctlFree(v), ref(v); got != want {
				t.Fatalf("ctlFree(%q) = %v, the byte loop says %v", v, got, want)
			}
		}
	}
}

// TestHeadInMatchesSearch: headIn's look at the last bytes answers as the
// search of the whole buffer for every string of CR, LF and 'a' up to 9
// bytes (every way a buffer can end).
func TestHeadInMatchesSearch(t *testing.T) {
	ref := func(b []byte) bool {
		return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
	}
	alpha := []byte("\r\na")
	var b []byte
	var walk func(n int)
	walk = func(n int) {
		if got, want := headIn(b), ref(b); got != want {
			t.Fatalf("headIn(%q) = %v, the search says %v", b, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range alpha {
			b = append(b, c)
			walk(n - 1)
			b = b[:len(b)-1]
		}
	}
	walk(9)
	// A whole request head, then what may follow it in the buffer.
	head := "GET /v1/storage/objects/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\r\n"
	for _, s := range []string{head, head + "x", head + head, head[:len(head)-1], head[:len(head)-2], "GET / HTTP/1.1\nHost: h\n\n", "GET / HTTP/1.1\nHost: h\n\r\n"} {
		if got, want := headIn([]byte(s)), ref([]byte(s)); got != want {
			t.Fatalf("headIn(%q) = %v, the search says %v", s, got, want)
		}
	}
}

// TestStatusLineTable: the status lines made once answer as the lines made
// on demand, for every code statusLine can be asked for (3 digits).
func TestStatusLineTable(t *testing.T) {
	for code := 100; code <= 999; code++ {
		text := http.StatusText(code)
		if text == "" {
			text = "status code " + strconv.Itoa(code)
		}
		want := strconv.Itoa(code) + " " + text + "\r\n"
		if got := statusLine(code); got != want {
			t.Fatalf("statusLine(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestRespFieldNameTokens: a daemon's answer whose field name holds a byte
// that is not a token byte is refused, the four names readUntil acts on
// (checked by their match) as any other — every byte at every position.
func TestRespFieldNameTokens(t *testing.T) {
	fields := []struct{ name, value string }{
		{"Content-Length", "0"}, {"Transfer-Encoding", "chunked"}, {"Connection", "keep-alive"},
		{"Content-Type", "text/plain"}, {"Date", "x"}, {"X-Row-Count", "7"}, {"te", "x"},
	}
	for _, f := range fields {
		for i := 0; i < len(f.name); i++ {
			for c := 0; c < 256; c++ {
				if c == ':' || c == '\n' {
					continue // another line or another name: not this test's
				}
				name := []byte(f.name)
				name[i] = byte(c)
				want := true
				for _, b := range name {
					want = want && tokenOK[b]
				}
				head := "HTTP/1.1 200 OK\r\n" + string(name) + ": " + f.value + "\r\n\r\n"
				var r respHead
				_, err := r.read(bufio.NewReader(strings.NewReader(head)))
				if (err == nil) != want {
					t.Fatalf("%q: err %v, want a refusal: %v", head, err, !want)
				}
			}
		}
	}
}
