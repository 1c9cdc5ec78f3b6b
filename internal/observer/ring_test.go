package observer

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/errs"
)

// t0 is an hour ago: ingested events must have ended within MaxEventAge.
var t0 = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

func ev(i int, service, op string, status int, dur float64) Event {
	return Event{TS: t0.Add(time.Duration(i) * time.Millisecond), Service: service, Op: op, Status: status, DurationMS: dur, RequestID: fmt.Sprint("r", i)}
}

// bruteRank is the nearest-rank percentile computed without sorting: the
// smallest value v in vals with #{x <= v} >= ceil(p*n).
func bruteRank(vals []float64, p float64) float64 {
	need := int(math.Ceil(p * float64(len(vals))))
	need = max(need, 1)
	best := math.Inf(1)
	for _, v := range vals {
		c := 0
		for _, x := range vals {
			if x <= v {
				c++
			}
		}
		if c >= need && v < best {
			best = v
		}
	}
	return best
}

func TestStatsMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	services := []string{"storaged", "queryd", "catalogd"}
	ops := []string{"GET /v1/a", "POST /v1/b", "PUT /v1/c/{key}"}
	statuses := []int{200, 200, 200, 201, 404, 400, 500, 503, 0}
	for _, tc := range []struct {
		name     string
		ring, n  int
		quantize bool // many ties
	}{
		{"partial ring", 500, 300, false},
		{"wrapped ring", 257, 2000, false},
		{"ties", 400, 1000, true},
		{"one event", 10, 1, false},
		{"ring of one", 1, 50, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(tc.ring)
			var all []Event
			for i := 0; i < tc.n; {
				batch := make([]Event, 1+rng.IntN(37))
				for j := range batch {
					d := rng.ExpFloat64() * 20
					if tc.quantize {
						d = float64(rng.IntN(7))
					}
					batch[j] = ev(i, services[rng.IntN(3)], ops[rng.IntN(3)], statuses[rng.IntN(len(statuses))], d)
					i++
				}
				r.add(batch)
				all = append(all, batch...)
			}
			window := all[max(0, len(all)-tc.ring):]
			got := r.stats(Filter{})
			if got.Count != len(window) {
				t.Fatalf("count %d, want %d", got.Count, len(window))
			}
			type agg struct {
				count, e5, e4 int
				durs          []float64
				sum           float64
			}
			want := map[[2]string]*agg{}
			wantSvc := map[string]*agg{}
			totalE5, totalE4 := 0, 0
			for _, e := range window {
				for _, k := range [][2]string{{e.Service, e.Op}, {e.Service, ""}} {
					m := want
					a := m[k]
					if a == nil {
						a = &agg{}
						m[k] = a
					}
					a.count++
					a.durs = append(a.durs, e.DurationMS)
					a.sum += e.DurationMS
					if e.Status >= 500 {
						a.e5++
					} else if e.Status >= 400 {
						a.e4++
					}
				}
				if e.Status >= 500 {
					totalE5++
				} else if e.Status >= 400 {
					totalE4++
				}
			}
			_ = wantSvc
			if got.Errors != totalE5 || got.ClientErrors != totalE4 {
				t.Fatalf("errors %d/%d, want %d/%d", got.Errors, got.ClientErrors, totalE5, totalE4)
			}
			check := func(s OpStats) {
				a := want[[2]string{s.Service, s.Op}]
				if a == nil {
					t.Fatalf("unexpected key %q %q", s.Service, s.Op)
				}
				mx := math.Inf(-1)
				for _, d := range a.durs {
					mx = math.Max(mx, d)
				}
				for _, c := range []struct {
					name      string
					got, want float64
				}{
					{"p50", s.P50MS, bruteRank(a.durs, .50)},
					{"p95", s.P95MS, bruteRank(a.durs, .95)},
					{"p99", s.P99MS, bruteRank(a.durs, .99)},
					{"max", s.MaxMS, mx},
					{"mean", s.MeanMS, a.sum / float64(a.count)},
				} {
					if math.Abs(c.got-c.want) > 1e-9 {
						t.Errorf("%s %s %s = %v, want %v", s.Service, s.Op, c.name, c.got, c.want)
					}
				}
				if s.Count != a.count || s.Errors != a.e5 || s.ClientErrors != a.e4 {
					t.Errorf("%s %s counts %d/%d/%d, want %d/%d/%d", s.Service, s.Op, s.Count, s.Errors, s.ClientErrors, a.count, a.e5, a.e4)
				}
			}
			n := 0
			for _, s := range got.Ops {
				check(s)
				n++
			}
			for _, s := range got.Services {
				check(s)
				n++
			}
			if n != len(want) {
				t.Fatalf("%d keys, want %d", n, len(want))
			}
			if !sort.SliceIsSorted(got.Ops, func(i, j int) bool {
				return got.Ops[i].Service+"\x00"+got.Ops[i].Op < got.Ops[j].Service+"\x00"+got.Ops[j].Op
			}) {
				t.Error("ops not sorted")
			}
			if !got.From.Equal(window[0].TS) || !got.To.Equal(window[len(window)-1].TS) {
				t.Errorf("window %v..%v, want %v..%v", got.From, got.To, window[0].TS, window[len(window)-1].TS)
			}
		})
	}
}

func TestNearestRankSmall(t *testing.T) {
	// Textbook nearest-rank values.
	vals := []float64{15, 20, 35, 40, 50}
	for _, c := range []struct{ p, want float64 }{{.05, 15}, {.30, 20}, {.40, 20}, {.50, 35}, {1, 50}, {.99, 50}} {
		if got := nearestRank(vals, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestRingQueryNewestFirst(t *testing.T) {
	r := newRing(5)
	for i := 0; i < 8; i++ {
		r.add([]Event{ev(i, []string{"a", "b"}[i%2], "op", 200, 1)})
	}
	ids := func(evs []Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, e.RequestID)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		f     Filter
		limit int
		want  string
	}{
		{Filter{}, 10, "r7,r6,r5,r4,r3"},
		{Filter{}, 2, "r7,r6"},
		{Filter{Service: "a"}, 10, "r6,r4"},
		{Filter{Since: t0.Add(5 * time.Millisecond)}, 10, "r7,r6,r5"},
		{Filter{Op: "nope"}, 10, ""},
	} {
		if got := ids(r.query(c.f, c.limit)); got != c.want {
			t.Errorf("query %+v limit %d = %s, want %s", c.f, c.limit, got, c.want)
		}
	}
	// A batch larger than the ring keeps its newest events.
	big := make([]Event, 12)
	for i := range big {
		big[i] = ev(100+i, "c", "op", 200, 1)
	}
	r.add(big)
	if got := ids(r.query(Filter{}, 10)); got != "r111,r110,r109,r108,r107" {
		t.Errorf("after big batch: %s", got)
	}
}

func TestValidate(t *testing.T) {
	ok := func() Event { return ev(1, "svc", "GET /v1/x", 200, 1.5) }
	many := make([]Event, MaxBatch+1)
	for i := range many {
		many[i] = ok()
	}
	attrs := map[string]any{}
	for i := 0; i <= MaxAttrs; i++ {
		attrs[fmt.Sprint("k", i)] = i
	}
	for _, c := range []struct {
		name string
		evs  []Event
		want string // "" = valid
	}{
		{"ok", []Event{ok()}, ""},
		{"zero ts ok", []Event{{Service: "s", Op: "o"}}, ""},
		{"exactly max batch", many[:MaxBatch], ""},
		{"empty", nil, "at least one"},
		{"too many", many, "at most 1000"},
		{"no service", []Event{ok(), {Op: "o"}}, "events[1].service: required"},
		{"no op", []Event{{Service: "s"}}, "events[0].op: required"},
		{"bad status", []Event{{Service: "s", Op: "o", Status: 42}}, "events[0].status"},
		{"negative duration", []Event{{Service: "s", Op: "o", DurationMS: -1}}, "events[0].duration_ms"},
		{"huge finite duration", []Event{{Service: "s", Op: "o", DurationMS: 1.7e308}}, "events[0].duration_ms"},
		{"a year", []Event{{Service: "s", Op: "o", DurationMS: MaxDurationMS}}, ""},
		{"control char", []Event{{Service: "s\n", Op: "o"}}, "events[0].service: holds U+000A at byte 1"},
		{"long op", []Event{{Service: "s", Op: strings.Repeat("x", MaxOpLen+1)}}, "events[0].op: 257 bytes"},
		{"many attrs", []Event{{Service: "s", Op: "o", Attrs: attrs}}, "attrs: 33 keys"},
		{"big attrs", []Event{{Service: "s", Op: "o", Attrs: map[string]any{"x": strings.Repeat("y", MaxAttrsBytes)}}}, "attrs: 4104 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := (&IngestRequest{Events: c.evs}).Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoadTailTornAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ops.jsonl")
	var b strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, `{"ts":%q,"service":"s","op":"o","status":200,"duration_ms":%d,"request_id":"r%d"}`+"\n", t0.Format(time.RFC3339), i, i)
		if i == 2 {
			b.WriteString("{not json\n")
		}
	}
	good := b.Len()
	b.WriteString(`{"ts":"2026-01-02T03:04:05Z","service":"s","op":"o","sta`) // torn
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := loadTail(path, 3, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !res.torn || res.corrupt != 1 || res.lines != 6 || len(res.events) != 3 {
		t.Fatalf("res = torn %v corrupt %d lines %d events %d", res.torn, res.corrupt, res.lines, len(res.events))
	}
	for i, e := range res.events {
		if want := fmt.Sprint("r", i+2); e.RequestID != want {
			t.Errorf("events[%d] = %s, want %s", i, e.RequestID, want)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(good) {
		t.Fatalf("file is %d bytes after cutting the torn line, want %d", fi.Size(), good)
	}
	// Appending after the cut gives whole lines again.
	o, err := Open(Options{Path: path, RingSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ingest(t.Context(), []Event{ev(9, "s", "o", 200, 9)}); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	res, err = loadTail(path, 100, time.Now())
	if err != nil || res.torn || res.corrupt != 1 || len(res.events) != 6 || res.events[5].RequestID != "r9" {
		t.Fatalf("after append: %+v %v", res, err)
	}
}

// TestHugeDurationsNeverPoisonStats: an event whose duration would make
// the stats' sum infinite is refused, and one already in ops.jsonl (from
// before the bound) is dropped on reload, so GET /stats keeps answering.
func TestHugeDurationsNeverPoisonStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ops.jsonl")
	line := `{"ts":"2026-01-02T03:04:05Z","service":"x","op":"y","status":200,"duration_ms":1.7e308}` + "\n"
	if err := os.WriteFile(path, []byte(line+line), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Open(Options{Path: path, RingSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(t.Context())
	if _, err := o.Ingest(t.Context(), []Event{ev(1, "x", "y", 200, MaxDurationMS), ev(2, "x", "y", 200, MaxDurationMS)}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ingest(t.Context(), []Event{ev(3, "x", "y", 200, 1.7e308)}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a 1.7e308 ms duration: %v", err)
	}
	st, err := o.Stats(t.Context(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("stats do not encode: %v (%+v)", err, st)
	}
	if !strings.Contains(string(b), `"count":2`) {
		t.Fatalf("stats %s: want the two valid events only", b)
	}
}

func TestLoadMissingAndEmpty(t *testing.T) {
	dir := t.TempDir()
	res, err := loadTail(filepath.Join(dir, "nope.jsonl"), 10, time.Now())
	if err != nil || len(res.events) != 0 {
		t.Fatalf("missing: %+v %v", res, err)
	}
	p := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(p, nil, 0o644)
	res, err = loadTail(p, 10, time.Now())
	if err != nil || len(res.events) != 0 || res.torn {
		t.Fatalf("empty: %+v %v", res, err)
	}
	// Only a torn line.
	os.WriteFile(p, []byte(`{"service":`), 0o644)
	res, err = loadTail(p, 10, time.Now())
	if err != nil || !res.torn || len(res.events) != 0 {
		t.Fatalf("torn only: %+v %v", res, err)
	}
	if fi, _ := os.Stat(p); fi.Size() != 0 {
		t.Fatalf("size %d", fi.Size())
	}
}

func TestCompactionKeepsTailAndBoundsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ops.jsonl")
	const ring = 10
	o, err := Open(Options{Path: path, RingSize: ring})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	maxLines := 0
	for b := 0; b < 40; b++ {
		batch := make([]Event, 1+b%7)
		for j := range batch {
			batch[j] = ev(n, "s", "o", 200, float64(n))
			n++
		}
		if _, err := o.Ingest(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if data, err := os.ReadFile(path); err == nil {
			maxLines = max(maxLines, strings.Count(string(data), "\n"))
		}
	}
	if err := o.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Count(string(data), "\n")
	// Close compacts a file past 2*ring lines; in between it never holds
	// more than that plus one batch, far fewer than all n events.
	if lines > 2*ring || maxLines >= n || maxLines > 2*ring+7 {
		t.Fatalf("file has %d lines after close (max seen %d, %d events written)", lines, maxLines, n)
	}
	o2, err := Open(Options{Path: path, RingSize: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close(t.Context())
	got, _ := o2.Events(t.Context(), Filter{}, 100)
	if len(got) != ring {
		t.Fatalf("reloaded %d events, want %d", len(got), ring)
	}
	for i, e := range got {
		if want := fmt.Sprint("r", n-1-i); e.RequestID != want {
			t.Fatalf("reloaded[%d] = %s, want %s", i, e.RequestID, want)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temp file left: %v", err)
	}
}
