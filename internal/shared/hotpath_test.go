package shared

import (
	"math/rand/v2"
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
