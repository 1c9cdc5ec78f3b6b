package shared

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/syncbuf"
)

// TestAccessLineFastPathOddValues: the access line appended in the line
// writer's own buffer is byte for byte the one written through Write for
// values each format escapes or quotes (control characters, quotes, '=',
// non-UTF-8, an empty value, a cut path), integers at and past the
// digit-by-digit range, negative and huge durations, in text and JSON; and
// a journal stream still gets each line's priority.
func TestAccessLineFastPathOddValues(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 4, 5, 987654321, time.FixedZone("X", -7*3600-30*60))
	strs := []string{"", "a", "a b", "q\"", "eq=1", "back\\slash", "nl\nx", "tab\t", "\x00", "\x7f", "\xff\xfe", "é", "\u2028",
		"0123456789abcdef0123456789abcdef", strings.Repeat("p", maxLogPath+3), strings.Repeat("é", 40)}
	ints := []int64{0, 9, 10, 99, 100, 999, 1000, 9999, 10000, -1, -9999, math.MaxInt64, math.MinInt64}
	durs := []time.Duration{0, -time.Millisecond, -time.Hour, 999 * time.Microsecond, 9999 * time.Millisecond, math.MaxInt64, math.MinInt64}
	type call struct {
		reqID, method, path, peer string
		status                    int
		bytes                     int64
		dur                       time.Duration
	}
	var calls []call
	for i, s := range strs {
		calls = append(calls,
			call{s, "GET", "/v1/x", "127.0.0.1:1", 200, 5, time.Millisecond},
			call{"id", s, "/v1/x", "127.0.0.1:1", 200, 5, time.Millisecond},
			call{"id", "GET", "/v1/" + s, "127.0.0.1:1", 200, 5, time.Millisecond},
			call{"id", "GET", "/v1/x", s, 200, 5, time.Millisecond},
			call{"id", "GET", "/v1/x", "127.0.0.1:1", int(ints[i%len(ints)]), ints[(i+3)%len(ints)], durs[i%len(durs)]})
	}
	for i, v := range ints {
		calls = append(calls, call{"id", "PUT", "/v1/y", "[::1]:2", int(v), v, durs[i%len(durs)]})
	}
	for _, json := range []bool{false, true} {
		var direct, through, journal strings.Builder
		fast := &lineWriter{out: &direct}
		jw := &lineWriter{out: &journal, journal: true}
		for _, c := range calls {
			for _, a := range []accessLog{
				{out: fast, svc: "gateway", json: json, enabled: true},
				{out: &through, svc: "gateway", json: json, enabled: true},
				{out: jw, svc: "gateway", json: json, enabled: true},
			} {
				a.write(c.reqID, c.method, c.path, c.status, c.bytes, c.dur, now, c.peer, "")
			}
		}
		fast.Flush()
		jw.Flush()
		d, w := strings.Split(direct.String(), "\n"), strings.Split(through.String(), "\n")
		if len(d) != len(calls)+1 || len(w) != len(d) {
			t.Fatalf("json=%v: %d lines in the buffer, %d through Write, want %d", json, len(d)-1, len(w)-1, len(calls))
		}
		for i := range d {
			if d[i] != w[i] {
				t.Fatalf("json=%v: line %d in the line writer's buffer\n%q\nthrough Write\n%q", json, i, d[i], w[i])
			}
		}
		// Priorities are read off the line's own bytes.
		if want := "<6>" + strings.ReplaceAll(strings.TrimSuffix(through.String(), "\n"), "\n", "\n<6>") + "\n"; journal.String() != want {
			t.Fatalf("json=%v: journal stream\n%q\nwant\n%q", json, journal.String(), want)
		}
	}
}

// TestAccessLineFastPathConcurrent: lines appended in the writer's buffer
// while it flushes and while other lines come through Write are never
// split or interleaved (run with -race).
func TestAccessLineFastPathConcurrent(t *testing.T) {
	var out syncbuf.Buffer
	lw := newLineWriter(&out)
	a := accessLog{out: lw, svc: "gateway", enabled: true}
	now := time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)
	var wg sync.WaitGroup
	const per = 3000
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				if g == 0 {
					_, _ = lw.Write([]byte("time=x level=INFO msg=other\n"))
					continue
				}
				a.write("0123456789abcdef0123456789abcdef", "GET", "/v1/storage/objects/"+strings.Repeat("k", i%300), 200, int64(i), time.Duration(i)*time.Microsecond, now, "127.0.0.1:45678", "")
				if i%97 == 0 {
					lw.Flush()
				}
			}
		})
	}
	wg.Wait()
	lw.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4*per {
		t.Fatalf("%d lines, want %d", len(lines), 4*per)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || (!strings.HasSuffix(l, "msg=other") && !strings.HasSuffix(l, " peer=127.0.0.1:45678")) {
			t.Fatalf("torn line %q", l)
		}
	}
}
