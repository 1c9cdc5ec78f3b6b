package shared

import (
	"crypto/subtle"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestRequestIDDigits: the request id's digits a byte at a time are those
// of the nibble loop it replaced (a's nibbles from the lowest, then c's).
func TestRequestIDDigits(t *testing.T) {
	nibbles := func(a, c uint64) string {
		var b [32]byte
		for i := 0; i < 16; i++ {
			b[i] = hexdigits[a&15]
			b[16+i] = hexdigits[c&15]
			a >>= 4
			c >>= 4
		}
		return string(b[:])
	}
	vals := []uint64{0, 1, 0xf, 0x10, 0x0123456789abcdef, 0xfedcba9876543210, ^uint64(0)}
	for range 2000 {
		vals = append(vals, rand.Uint64())
	}
	for _, a := range vals {
		c := vals[rand.IntN(len(vals))]
		if got, want := requestIDOf(a, c), nibbles(a, c); got != want {
			t.Fatalf("requestIDOf(%#x, %#x) = %s, the nibble loop gives %s", a, c, got, want)
		}
	}
	if id := NewRequestID(); len(id) != 32 || strings.Trim(id, hexdigits) != "" {
		t.Fatalf("NewRequestID() = %q", id)
	}
}

// TestMetricsObserveMixed: the cache of the last route's children gives
// every route, method and status its own counts, in any interleaving
// (the same route with another status or method, routes alternating,
// concurrent observers).
func TestMetricsObserveMixed(t *testing.T) {
	m := newMetrics("svc")
	type key struct {
		route, method, status string
	}
	want := map[key]float64{}
	lat := map[string]uint64{}
	routes := []string{"/v1/storage/*", "/v1/sql", "/v1/storage/*x"[:13], "unmatched"}
	methods := []string{"GET", "POST", "BREW"}
	statuses := []int{200, 404, 200, 503, 0, 700}
	code := func(st int) string {
		if st > 0 && st < len(statusText) {
			return statusText[st]
		}
		return "other"
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var seq [][3]int
	for i := 0; i < 5000; i++ {
		// runs of the same triple, then a change of one part
		r, me, st := rng.IntN(len(routes)), rng.IntN(len(methods)), rng.IntN(len(statuses))
		for n := rng.IntN(4) + 1; n > 0; n-- {
			seq = append(seq, [3]int{r, me, st})
		}
	}
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := w; i < len(seq); i += 4 {
				s := seq[i]
				m.observe(routes[s[0]], methods[s[1]], statuses[s[2]], time.Millisecond)
			}
		}(w)
	}
	for range 4 {
		<-done
	}
	for _, s := range seq {
		want[key{routes[s[0]], methodLabel(methods[s[1]]), code(statuses[s[2]])}]++
		lat[routes[s[0]]]++
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[key]float64{}
	gotLat := map[string]uint64{}
	label := func(mt *dto.Metric, name string) string {
		for _, l := range mt.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "lakehouse_http_requests_total":
			for _, mt := range mf.GetMetric() {
				got[key{label(mt, "route"), label(mt, "method"), label(mt, "status")}] += mt.GetCounter().GetValue()
			}
		case "lakehouse_http_request_duration_seconds":
			for _, mt := range mf.GetMetric() {
				gotLat[label(mt, "route")] += mt.GetHistogram().GetSampleCount()
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d counter series, want %d: %v", len(got), len(want), got)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("requests_total%v = %v, want %v", k, got[k], n)
		}
	}
	for r, n := range lat {
		if gotLat[r] != n {
			t.Errorf("duration count{route=%s} = %d, want %d", r, gotLat[r], n)
		}
	}
}

// TestConstantTimeEqual: the word-at-a-time compare of a token answers as
// subtle.ConstantTimeCompare for every length up to 40 and every byte
// changed at every position, and tokenOK with it as before.
func TestConstantTimeEqual(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 40; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		check := func(s string) {
			t.Helper()
			if got, want := constantTimeEqual(s, b), subtle.ConstantTimeCompare([]byte(s), b) == 1; got != want {
				t.Fatalf("constantTimeEqual(%q, %q) = %v, subtle says %v", s, b, got, want)
			}
		}
		check(string(b))
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				x := append([]byte(nil), b...)
				x[i] = byte(c)
				check(string(x))
			}
		}
		for m := 0; m <= n+9; m++ { // other lengths: prefixes and longer
			x := append(append([]byte(nil), b...), "012345678"...)
			check(string(x[:m]))
		}
	}
	p, s := []byte("primary-token-0123456789"), []byte("second")
	for _, c := range []struct {
		h    string
		want bool
	}{
		{"Bearer primary-token-0123456789", true}, {"bearer primary-token-0123456789", true},
		{"Bearer second", true}, {"BEARER second", true}, {"Bearer primary-token-012345678", false},
		{"Bearer primary-token-01234567890", false}, {"Bearer secont", false}, {"Bearer ", false},
		{"Basic second", false}, {"", false}, {"Bearer  second", false},
	} {
		if got := tokenOK(c.h, p, s); got != c.want {
			t.Fatalf("tokenOK(%q) = %v, want %v", c.h, got, c.want)
		}
	}
	if tokenOK("Bearer x", nil, nil) || !tokenOK("Bearer x", nil, []byte("x")) || tokenOK("Bearer ", nil, []byte("")) {
		t.Fatal("tokenOK with an empty token")
	}
}

// TestAppendIntMatchesStrconv: the access line's integers are
// strconv.AppendInt's for every value around the digit-by-digit range.
func TestAppendIntMatchesStrconv(t *testing.T) {
	vals := []int64{-1 << 63, -10000, -1, 1<<63 - 1, 123456789}
	for v := int64(-20); v <= 20000; v++ {
		vals = append(vals, v)
	}
	for _, v := range vals {
		if got, want := string(appendInt([]byte("x="), v)), "x="+strconv.FormatInt(v, 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestAccessLineIntoLineWriter: a line appended in the line writer's own
// buffer is byte for byte the line written through Write (text and JSON,
// a line that needs slog's escaping, one with an err).
func TestAccessLineIntoLineWriter(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.UTC)
	for _, json := range []bool{false, true} {
		var direct, through strings.Builder
		lw := &lineWriter{out: &direct}
		a := accessLog{out: lw, svc: "gateway", json: json, enabled: true}
		b := accessLog{out: &through, svc: "gateway", json: json, enabled: true}
		for _, l := range []accessLog{a, b} {
			l.write("0123456789abcdef0123456789abcdef", "GET", "/v1/storage/objects/x", 200, 16, 1500*time.Microsecond, now, "127.0.0.1:45678", "")
			l.write(`id"=`, "POST", "/v1/a b", 404, 123456, 12*time.Second, now, "[::1]:1", "")
			l.write("id", "GET", "/v1/x", 200, 5, time.Millisecond, now, "127.0.0.1:1", "cut: the client took no byte for 60s")
			l.write("id", "GET", "/health", 200, 5, time.Millisecond, now, "127.0.0.1:1", "")
		}
		lw.Flush()
		if direct.String() != through.String() || strings.Count(direct.String(), "\n") != 3 {
			t.Fatalf("json=%v: in the line writer's buffer\n%s\nthrough Write\n%s", json, direct.String(), through.String())
		}
	}
}
