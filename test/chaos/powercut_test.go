package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// bigDS is a dataset only the cuts write: big appends and index builds
// that a kill cuts short.
const bigDS = "chaos_big"

// cut is one crash of several daemons at the same moment.
type cut struct {
	name    string
	daemons []string
	// before runs just before the kill: it starts the work the kill is
	// meant to cut short (a big ingest, a matrix index build).
	before func(c *client, l *ledger, r *rand.Rand, wg *sync.WaitGroup)
	// freeze is SIGSTOPped after before, 500 ms ahead of the kill, and
	// SIGCONTed after it: a request to it hangs, its caller dies.
	freeze string
	// twice: killed again while they recover (50-800 ms after their
	// start: loading, replaying, sweeping), as power that flickers does.
	twice bool
}

// powerCuts are the crashes TestPowerCut goes through, in this order (and
// again from the start when LH_CHAOS_CUTS asks for more).
var powerCuts = []cut{
	{name: "storaged+catalogd", daemons: []string{"storaged", "catalogd"}},
	{name: "ingestd+catalogd+storaged mid-ingest", daemons: []string{"ingestd", "catalogd", "storaged"}, before: func(c *client, l *ledger, r *rand.Rand, wg *sync.WaitGroup) {
		l.bigIngestAsync(c, r, "chaos_c", wg, 5000+r.IntN(7000))
		time.Sleep(time.Duration(300+r.IntN(1500)) * time.Millisecond)
	}},
	{name: "ingestd mid-commit (catalogd frozen, then thawed)", daemons: []string{"ingestd"}, freeze: "catalogd", before: func(c *client, l *ledger, r *rand.Rand, wg *sync.WaitGroup) {
		l.bigIngestAsync(c, r, "chaos_b", wg, 2000+r.IntN(3000))
		time.Sleep(time.Duration(50+r.IntN(400)) * time.Millisecond)
	}},
	{name: "matrixd+vectord mid-index-build", daemons: []string{"matrixd", "vectord"}, before: func(c *client, l *ledger, r *rand.Rand, wg *sync.WaitGroup) {
		l.bigIngest(c, r, bigDS, 5000+r.IntN(7000))
		c.json("matrix.index", "POST", "/v1/matrix/indexes", map[string]any{"dataset": bigDS, "id_column": "id", "text_columns": []string{"text"}}, 409)
		time.Sleep(time.Duration(100+r.IntN(600)) * time.Millisecond)
	}},
	{name: "power cut, and again while the suite recovers", daemons: shared.Daemons, twice: true, before: func(c *client, l *ledger, r *rand.Rand, wg *sync.WaitGroup) {
		l.bigIngestAsync(c, r, "chaos_c", wg, 5000+r.IntN(7000))
		time.Sleep(time.Duration(200+r.IntN(1200)) * time.Millisecond)
	}},
	{name: "power cut (all eleven)", daemons: shared.Daemons, before: func(c *client, l *ledger, r *rand.Rand, wg *sync.WaitGroup) {
		l.bigIngestAsync(c, r, bigDS, wg, 5000+r.IntN(7000))
		c.json("matrix.index", "POST", "/v1/matrix/indexes", map[string]any{"dataset": bigDS, "id_column": "id", "text_columns": []string{"text"}}, 409)
		time.Sleep(time.Duration(200+r.IntN(1200)) * time.Millisecond)
	}},
}

// extra is what the power-cut workload acknowledged beyond the ledger:
// deletes and updates, and observer events.
type extra struct {
	mu         sync.Mutex
	deletedMem map[string]bool
	deletedVec map[string]bool
	events     map[string]time.Time // request_id -> when observerd acknowledged it
	cuts       []time.Time          // when observerd was killed
}

// bigIngestAsync appends, in the background, one file big enough to be
// cut short by a kill.
func (l *ledger) bigIngestAsync(c *client, r *rand.Rand, ds string, wg *sync.WaitGroup, rows int) {
	wg.Add(1)
	r = rand.New(rand.NewPCG(r.Uint64(), 7))
	go func() {
		defer wg.Done()
		l.bigIngest(c, r, ds, rows)
	}()
}

// bigIngest appends one file big enough to be cut short by a kill.
func (l *ledger) bigIngest(c *client, r *rand.Rand, ds string, rows int) {
	batch := fmt.Sprintf("big%d", l.nextID.Add(1))
	body, toks := l.csv(r, batch, rows)
	l.mu.Lock()
	l.sent[batch] = true
	l.mu.Unlock()
	l.post(c, r, ds, "append", batch, body, toks)
}

// more is one operation of the power-cut workload that TestChaos's step
// does not do: a vector delete, a memory update or delete, observer
// events. Each worker touches only its own ids, so the ledger's order is
// the suite's order.
func (x *extra) more(c *client, l *ledger, r *rand.Rand, w, n int) {
	switch p := r.IntN(4); p {
	case 0: // delete one of this worker's vectors
		var id string
		l.mu.Lock()
		for k := range l.vectors {
			if strings.HasPrefix(k, fmt.Sprintf("v%d_", w)) {
				id = k
				break
			}
		}
		l.mu.Unlock()
		if id == "" {
			return
		}
		status, _ := c.json("vector.delete", "POST", "/v1/vectors/indexes/"+vecIndex+"/delete", map[string]any{"ids": []string{id}})
		l.mu.Lock()
		delete(l.vectors, id) // acknowledged or not, no longer known to be there
		l.mu.Unlock()
		if status/100 == 2 {
			x.mu.Lock()
			x.deletedVec[id] = true
			x.mu.Unlock()
		}
	case 1, 2: // update or delete one of this worker's memories
		var id string
		prefix := fmt.Sprintf("worker %d ", w)
		l.mu.Lock()
		for k, text := range l.memories {
			if strings.HasPrefix(text, prefix) {
				id = k
				break
			}
		}
		l.mu.Unlock()
		if id == "" {
			return
		}
		l.mu.Lock()
		delete(l.memories, id)
		l.mu.Unlock()
		if p == 1 {
			text := fmt.Sprintf("worker %d updated item %d to the %s", w, n, words[r.IntN(len(words))])
			status, b := c.json("pathway.update", "PUT", "/v1/pathway/memories/"+url.PathEscape(id), map[string]any{"text": text})
			if status/100 == 2 {
				var m struct {
					Memory string `json:"memory"`
				}
				if json.Unmarshal(b, &m) != nil || m.Memory != text {
					c.v.add("memory update %s: answer %.300s", id, b)
					return
				}
				l.mu.Lock()
				l.memories[id] = text
				l.mu.Unlock()
			}
			return
		}
		status, _ := c.call("pathway.delete", "DELETE", "/v1/pathway/memories/"+url.PathEscape(id), "", nil)
		if status/100 == 2 {
			x.mu.Lock()
			x.deletedMem[id] = true
			x.mu.Unlock()
		}
	default: // observer events
		rid := fmt.Sprintf("chaos-w%d-%d", w, n)
		ev := map[string]any{"ts": time.Now().UTC(), "service": "chaos", "op": fmt.Sprintf("w%d", w), "status": 200, "duration_ms": 1, "request_id": rid}
		status, _ := c.json("observer.events", "POST", "/v1/observer/events", map[string]any{"events": []any{ev}})
		if status/100 == 2 {
			x.mu.Lock()
			x.events[rid] = time.Now()
			x.mu.Unlock()
		}
	}
}

// TestPowerCut: the suite under a mixed workload through the gateway
// loses several daemons at the same moment — storaged with catalogd,
// ingestd with both in the middle of a big ingest, ingestd alone while
// its commit waits on a frozen catalogd (which then carries on), matrixd
// with vectord in the middle of an index build, all eleven at once (a
// power cut that keeps the page cache: a kill -9 of every process), and
// all eleven twice, the second time while they recover — and is started
// again each time. At each cut of all eleven the data directory also gets
// what a real power cut may add (tear: torn log tails, the unsynced
// manifest cache cut short, temp files of writes in progress). Then every
// acknowledged write is looked for, as in TestChaos, plus deletes and
// updates; every daemon and the gateway's /v1/health come back; each
// matrix index settles without a new POST; the temp files are gone.
// LH_CHAOS_CUTS sets the number of cuts (default 6, one of each, about
// 70-100 s with its checks on two shared cores); LH_CHAOS_LONG=1 also
// waits for ingestd's sweep (a one-minute lease) to remove every data
// file no manifest lists and every pending marker.
func TestPowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: starts the whole suite")
	}
	sd := seed(t)
	ncuts := len(powerCuts)
	if s := os.Getenv("LH_CHAOS_CUTS"); s != "" {
		if _, err := fmt.Sscan(s, &ncuts); err != nil || ncuts < 1 {
			t.Fatalf("LH_CHAOS_CUTS=%q: want an integer >= 1", s)
		}
	}
	long := os.Getenv("LH_CHAOS_LONG") != ""
	t.Logf("power-cut seed %d, %d cuts (replay: LH_CHAOS_SEED=%d LH_CHAOS_CUTS=%d)", sd, ncuts, sd, ncuts)
	logW, logs := daemonLog(t, "lh-powercut", sd)
	opts := suite.Options{Log: logW}
	if long {
		opts.Settings = map[string]string{"ingestd": "pending_lease = \"1m\"\nsweep_interval = \"5s\""}
	}
	s := suite.Start(t, opts)
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	v := &violations{}
	// outage: the gateway was down from [0] to [1] (zero: not yet back).
	var outMu sync.Mutex
	var outages [][2]time.Time
	c := newClient(s.Gateway(), v)
	c.excused = func(began time.Time) bool {
		outMu.Lock()
		defer outMu.Unlock()
		for _, o := range outages {
			// A request that began before the gateway came back (plus a
			// second for pooled connections to the dead process) and
			// ended after it went down.
			if o[1].IsZero() || began.Before(o[1].Add(time.Second)) && time.Now().After(o[0]) {
				return true
			}
		}
		return false
	}
	for _, name := range victims {
		c.setUp(name, true)
	}
	l := newLedger()
	x := &extra{deletedMem: map[string]bool{}, deletedVec: map[string]bool{}, events: map[string]time.Time{}}
	setup := rand.New(rand.NewPCG(sd, 1000))
	for _, ds := range datasets {
		l.ingest(c, setup, ds, "", "create_"+ds)
	}
	// bigDS big enough that its index build takes a while.
	body, toks := l.csv(setup, "create_"+bigDS, 4000)
	l.sent["create_"+bigDS] = true
	l.post(c, setup, bigDS, "", "create_"+bigDS, body, toks)
	if st, b := c.json("vector.create", "PUT", "/v1/vectors/indexes/"+vecIndex, map[string]any{"dims": vecDims, "metric": "cosine"}); st/100 != 2 {
		t.Fatalf("create vector index: %d %s", st, b)
	}
	if st, b := c.json("matrix.index", "POST", "/v1/matrix/indexes", map[string]any{"dataset": "chaos_a", "id_column": "id", "text_columns": []string{"text"}}); st/100 != 2 {
		t.Fatalf("matrix index: %d %s", st, b)
	}
	if bad := v.all(); len(bad) > 0 || len(l.ingests) != len(datasets)+1 {
		t.Fatalf("setup: %d ingests acknowledged; %v", len(l.ingests), bad)
	}

	stop := make(chan struct{})
	wg, ops := startWorkers(sd, workers, stop, func(r *rand.Rand, w, i int) {
		if r.IntN(4) == 0 {
			x.more(c, l, r, w, i)
		} else {
			l.step(c, r, w, i)
		}
	})
	chaos := rand.New(rand.NewPCG(sd, 2000))
	hc := &http.Client{Timeout: time.Second}
	start := time.Now()
	var ingestdKills []time.Time
	var planted []string
	powerCut := func(cu cut) {
		all := len(cu.daemons) == len(shared.Daemons)
		var frozen *os.Process
		if cu.freeze != "" {
			if frozen = s.Process(cu.freeze); frozen != nil {
				c.setUp(cu.freeze, false)
				frozen.Signal(syscall.SIGSTOP)
				time.Sleep(500 * time.Millisecond)
			}
		}
		at := time.Now()
		if all {
			outMu.Lock()
			outages = append(outages, [2]time.Time{at, {}})
			outMu.Unlock()
		}
		if slices.Contains(cu.daemons, "observerd") {
			x.mu.Lock()
			x.cuts = append(x.cuts, at)
			x.mu.Unlock()
		}
		if slices.Contains(cu.daemons, "ingestd") {
			ingestdKills = append(ingestdKills, at)
		}
		// SIGKILL to every one first, then the waits: the same moment.
		for _, name := range cu.daemons {
			c.setUp(name, false)
			if p := s.Process(name); p != nil {
				p.Kill()
			}
		}
		for _, name := range cu.daemons {
			s.Kill(name)
		}
		if frozen != nil {
			frozen.Signal(syscall.SIGCONT)
			c.setUp(cu.freeze, true)
		}
		down := time.Duration(chaos.IntN(800)) * time.Millisecond
		time.Sleep(down)
		if all {
			planted = append(planted, tear(t, filepath.Join(s.Dir, "data"), chaos)...)
		}
		restarted := time.Now()
		for _, name := range cu.daemons {
			if err := s.StartDaemon(name); err != nil {
				t.Fatalf("restart %s: %v", name, err)
			}
		}
		if cu.twice {
			time.Sleep(time.Duration(50+chaos.IntN(750)) * time.Millisecond)
			for _, name := range cu.daemons {
				if p := s.Process(name); p != nil {
					p.Kill()
				}
			}
			for _, name := range cu.daemons {
				s.Kill(name)
			}
			if all {
				planted = append(planted, tear(t, filepath.Join(s.Dir, "data"), chaos)...)
			}
			restarted = time.Now()
			for _, name := range cu.daemons {
				if err := s.StartDaemon(name); err != nil {
					t.Fatalf("restart %s: %v", name, err)
				}
			}
		}
		for _, name := range cu.daemons {
			if err := waitUp(hc, s.URL(name), 60*time.Second); err != nil {
				v.add("after %s: %s not healthy 60 s after its restart: %v", cu.name, name, err)
			}
		}
		if all {
			c.hc.CloseIdleConnections()
			outMu.Lock()
			outages[len(outages)-1][1] = time.Now()
			outMu.Unlock()
		}
		for _, name := range cu.daemons {
			c.setUp(name, true)
		}
		// The gateway's own view: every daemon ok again.
		var last string
		for deadline := time.Now().Add(30 * time.Second); ; {
			resp, err := hc.Get(s.Gateway() + "/v1/health")
			if err == nil {
				var h struct{ Status string }
				json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
				if h.Status == "ok" {
					break
				}
				last = h.Status
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				v.add("after %s: the gateway's /v1/health not ok 30 s after the restarts: %s", cu.name, last)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%v: %s, down %v, healthy %v after the restarts", at.Sub(start).Round(time.Millisecond), cu.name, down, time.Since(restarted).Round(time.Millisecond))
	}
	for i := 0; i < ncuts; i++ {
		time.Sleep(time.Duration(1500+chaos.IntN(2500)) * time.Millisecond)
		cu := powerCuts[i%len(powerCuts)]
		if cu.before != nil {
			cu.before(c, l, chaos, wg)
		}
		powerCut(cu)
	}
	time.Sleep(time.Duration(1000+chaos.IntN(1000)) * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("load over after %v: %d operations", time.Since(start).Round(time.Millisecond), ops.Load())
	check := &checker{t: t, s: s, c: c, l: l, v: v, more: []string{bigDS}}
	check.settledOrphans(ingestdKills, logs)
	// Everything must come back from disk: a last power cut at rest.
	// chaos_a's index is made ready first: once the gateway says ok, a
	// hybrid search finds a row indexed before the cut, with no new POST.
	tok := check.matrixOf("chaos_a")
	powerCut(cut{name: "power cut at rest", daemons: shared.Daemons})
	if tok != "" {
		st, b := c.json("check.matrix", "POST", "/v1/matrix/search", map[string]any{"query": tok, "datasets": []string{"chaos_a"}, "k": 3})
		if st != 200 || !strings.Contains(string(b), tok+`"`) {
			v.add("right after the power cut at rest, a search for %s (indexed before it): %d %.300s", tok, st, b)
		}
	}

	// No POST first: an index whose job a kill cut short carries on by
	// itself after the restart (service.go resumes it).
	check.settles("chaos_a")
	check.settles(bigDS)
	check.datasets()
	check.tempFiles(false)
	for _, p := range planted {
		if _, err := os.Stat(p); err == nil {
			v.add("%s, left by a crash, still there after the restart", strings.TrimPrefix(p, s.Dir))
		}
	}
	check.pathway()
	check.vectors()
	check.objects()
	check.matrix()
	check.matrixOf(bigDS)
	x.check(check)
	if long {
		check.swept()
	}

	c.mu.Lock()
	for op, m := range c.statuses {
		t.Logf("%-16s %v slowest %v", op, m, c.slowest[op].Round(time.Millisecond))
	}
	for _, m := range slices.Sorted(mapsKeys(c.messages)) {
		t.Logf("%5d x %s", c.messages[m], m)
	}
	c.mu.Unlock()
	t.Logf("acknowledged: %d ingests (%d replays), %d compactions, %d memories (%d deleted), %d trace runs, %d vectors (%d deleted), %d objects, %d observer events",
		len(l.ingests), c.replays, len(l.compacts), len(l.memories), len(x.deletedMem), len(l.steps), len(l.vectors), len(x.deletedVec), len(l.objects), len(x.events))
	if bad := s.Stop(); len(bad) > 0 {
		v.add("unclean exits at SIGTERM: %v", bad)
	}
	check.tempFiles(true)
	for _, line := range strings.Split(logs(), "\n") {
		if strings.Contains(line, "panic") || strings.Contains(line, "fatal error") || strings.Contains(line, " status=500 ") {
			v.add("daemon log: %.300s", line)
		}
	}
	if bad := v.all(); len(bad) > 0 {
		t.Errorf("seed %d: %d violations:\n%s", sd, len(bad), strings.Join(bad, "\n"))
	}
}

func mapsKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// check: every acknowledged delete stays deleted; observer events
// acknowledged 5 s before a kill of observerd came back from ops.jsonl (ADR-052:
// a crash loses at most the persistor's queue, drained at once).
func (x *extra) check(k *checker) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.deletedMem {
		if st, b := k.c.call("check.memory", "GET", "/v1/pathway/memories/"+url.PathEscape(id), "", nil, 404); st != 404 {
			k.v.add("memory %s: acknowledged DELETE, then GET %d %.200s", id, st, b)
		}
	}
	for id := range x.deletedVec {
		st, b := k.c.json("check.vector", "POST", "/v1/vectors/indexes/"+vecIndex+"/search", map[string]any{"vector": slices.Repeat([]float32{1}, vecDims), "k": 1, "filter": map[string]any{"uid": id}})
		var res struct {
			Results []struct {
				ID string `json:"id"`
			} `json:"results"`
		}
		if st != 200 || json.Unmarshal(b, &res) != nil || len(res.Results) != 0 {
			k.v.add("vector %s: acknowledged delete, then search %d %.200s", id, st, b)
		}
	}
	// The ring holds the last ring_size events of every daemon's own
	// reports too: an event older than the ring's oldest (plus a margin
	// for reports that arrive late) was pushed out, not lost.
	st, b := k.c.call("check.observer", "GET", "/v1/observer/events?limit=10000000", "", nil)
	var evs struct {
		Events []struct {
			TS        time.Time `json:"ts"`
			Service   string    `json:"service"`
			RequestID string    `json:"request_id"`
		} `json:"events"`
	}
	if st != 200 || json.Unmarshal(b, &evs) != nil {
		k.v.add("observer events: %d %.200s", st, b)
		return
	}
	have := map[string]bool{}
	oldest := time.Now()
	for _, e := range evs.Events {
		if e.Service == "chaos" {
			have[e.RequestID] = true
		}
		if e.TS.Before(oldest) {
			oldest = e.TS
		}
	}
	lost, evicted := 0, 0
	for rid, at := range x.events {
		switch {
		case have[rid]:
		case at.Before(oldest.Add(5 * time.Second)):
			evicted++
		default:
			lost++
			if !slices.ContainsFunc(x.cuts, func(cut time.Time) bool { return cut.After(at) && cut.Sub(at) < 5*time.Second }) {
				k.v.add("observer event %s acknowledged at %v, no kill of observerd within 5 s after, is gone (the ring's oldest event is of %v)", rid, at.Format(time.StampMilli), oldest.Format(time.StampMilli))
			}
		}
	}
	k.t.Logf("observer: %d of %d acknowledged events back after the cuts, %d pushed out of the ring by newer ones", len(x.events)-lost-evicted, len(x.events), evicted)
	return
}

// swept: a lease after the last cut (LH_CHAOS_LONG sets a one-minute
// lease and a 5 s sweep) ingestd's sweep has removed every data file no
// manifest lists and every pending marker (ADR-024).
func (k *checker) swept() {
	deadline := time.Now().Add(100 * time.Second)
	for {
		referenced, ok := k.referencedFiles()
		if !ok {
			return
		}
		objs, ok := k.list("datasets/")
		if !ok {
			return
		}
		markers, _ := k.list("_ingest/pending/")
		var orphans []string
		for _, o := range objs {
			if !referenced[o.Key] {
				orphans = append(orphans, o.Key)
			}
		}
		if len(orphans) == 0 && len(markers) == 0 {
			k.t.Logf("swept: no orphan data file and no pending marker left")
			return
		}
		if time.Now().After(deadline) {
			k.v.add("a lease after the cuts the sweep left %d orphan data files (%.3v) and %d markers (%v)", len(orphans), orphans, len(markers), markers)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// settles: without a new POST, the index of ds leaves building/pending
// for ready or failed while its job makes progress (a job a kill cut short
// is resumed by the restarted matrixd, never left "building" for ever).
func (k *checker) settles(ds string) {
	const stall = 60 * time.Second
	lastMove, lastDone := time.Now(), int64(-1)
	for {
		st, b := k.c.call("check.matrix", "GET", "/v1/matrix/indexes/"+ds, "", nil, 404)
		var status struct {
			State    string `json:"state"`
			RowsDone int64  `json:"rows_done"`
		}
		if st != 200 || json.Unmarshal(b, &status) != nil {
			k.v.add("matrix index of %s after the cuts: %d %.300s", ds, st, b)
			return
		}
		if status.State == "ready" || status.State == "failed" {
			return
		}
		if status.RowsDone != lastDone {
			lastMove, lastDone = time.Now(), status.RowsDone
		}
		if time.Since(lastMove) > stall {
			k.v.add("matrix index of %s stuck %v after the cuts without a POST: %.300s", ds, stall, b)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tear leaves, in the data directory of a suite that is down, what a
// crash can leave beyond a kill -9 at rest: torn tails of the append-only
// logs (a write begun, never acknowledged), the unsynced manifest cache
// cut short (a power cut drops what was not fsynced), and temp files of
// writes in progress. It returns the temp files every daemon must have
// removed once it is back up.
func tear(t *testing.T, data string, r *rand.Rand) []string {
	t.Helper()
	appendTo := func(path string, b []byte) {
		if _, err := os.Stat(path); err != nil {
			return
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
		f.Close()
	}
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	plant := func(path string) string {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, junk(1+r.IntN(4096)), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	appendTo(filepath.Join(data, "vectord", "vectord.wal"), junk(1+r.IntN(40)))
	appendTo(filepath.Join(data, "pathwayd", "state.jsonl"), []byte(`{"type":"add","id":"torn`))
	appendTo(filepath.Join(data, "observerd", "ops.jsonl"), []byte(`{"ts":"2026-`))
	ms, _ := filepath.Glob(filepath.Join(data, "catalogd", "manifests", "*.m"))
	for _, m := range ms {
		if fi, err := os.Stat(m); err == nil {
			os.Truncate(m, r.Int64N(fi.Size()+1))
		}
	}
	var gone []string
	ds, _ := filepath.Glob(filepath.Join(data, "matrixd", "*"))
	for _, d := range ds {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		appendTo(filepath.Join(d, "written.ids"), []byte(`"torn_id`))
		gone = append(gone, plant(filepath.Join(d, "state.json.tmp-123456")))
	}
	gone = append(gone,
		plant(filepath.Join(data, "objects", "tmp", "put-123456")),
		plant(filepath.Join(data, "vectord", "vectord.wal.tmp")),
		plant(filepath.Join(data, "vectord", "snap-123456.lhv1")),
		plant(filepath.Join(data, "ingestd", "tmp", "ingest-123456", "upload.csv")),
	)
	return gone
}
