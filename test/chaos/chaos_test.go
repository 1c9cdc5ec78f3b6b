package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// victims are the daemons the chaos kills: the ones that hold state or
// sit on the write path. The gateway, embedd, observerd and chatd stay up.
var victims = []string{"storaged", "catalogd", "ingestd", "queryd", "pathwayd", "vectord", "matrixd"}

var datasets = []string{"chaos_a", "chaos_b", "chaos_c"}

const (
	vecIndex = "chaos_vec"
	vecDims  = 8
	workers  = 4
)

// seed is LH_CHAOS_SEED or the clock; printed so a failure replays with
// the same kill schedule and the same workload choices.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("LH_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LH_CHAOS_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

func rounds(t *testing.T) int {
	if s := os.Getenv("LH_CHAOS_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LH_CHAOS_ROUNDS=%q: want an integer >= 1", s)
		}
		return n
	}
	return 12
}

// violations collects what broke an invariant; the test fails with all of
// them at the end, not at the first.
type violations struct {
	mu   sync.Mutex
	list []string
}

func (v *violations) add(format string, a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.list) < 200 {
		v.list = append(v.list, fmt.Sprintf(format, a...))
	}
}

func (v *violations) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.list)
}

// client sends requests through the gateway and holds every answer to the
// error contract of DESIGN.md.
func newClient(base string, v *violations) *client {
	return &client{base: base, hc: &http.Client{Timeout: 90 * time.Second}, v: v, statuses: map[string]map[int]int{},
		messages: map[string]int{}, slowest: map[string]time.Duration{}, up: map[string]time.Time{}}
}

// startWorkers runs workers goroutines calling step with their own seeded
// source, worker number and step count until stop closes; ops counts the
// steps.
func startWorkers(sd uint64, workers int, stop <-chan struct{}, step func(r *rand.Rand, w, i int)) (*sync.WaitGroup, *atomic.Int64) {
	var wg sync.WaitGroup
	var ops atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(sd, uint64(w)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				step(r, w, i)
				ops.Add(1)
			}
		}()
	}
	return &wg, &ops
}

type client struct {
	base     string
	hc       *http.Client
	v        *violations
	mu       sync.Mutex
	statuses map[string]map[int]int // op -> status (0: no answer) -> count
	messages map[string]int         // "op status kind: message" (digits dropped) -> count
	slowest  map[string]time.Duration
	replays  int // ingest retries answered from a landed commit (ADR-123)
	// up is when each victim was last seen healthy after its restart;
	// a victim being killed or restarted is absent.
	upMu sync.Mutex
	up   map[string]time.Time
	// excused, when set, says a request that got no (whole) answer began
	// while the gateway itself was down or about to be (a power cut).
	excused func(began time.Time) bool
}

// settle is how long after a restarted daemon answers its health its
// callers may still fail to reach it (their pooled connections to the
// dead process are found dead on use).
const settle = 3 * time.Second

// staleAfterRestart names a daemon that an unavailable answer blames but
// that had been healthy again for longer than settle when the request began.
func (c *client) staleAfterRestart(began time.Time, msg string) string {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	for _, name := range victims {
		at, ok := c.up[name]
		if ok && began.Sub(at) > settle && (strings.Contains(msg, name+" is unreachable") || strings.Contains(msg, name+" short-circuit") || strings.Contains(msg, "daemon "+name+" ")) {
			return fmt.Sprintf("%s (healthy since %v before the request)", name, began.Sub(at).Round(time.Millisecond))
		}
	}
	return ""
}

func (c *client) setUp(name string, on bool) {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	if on {
		c.up[name] = time.Now()
	} else {
		delete(c.up, name)
	}
}

// shape drops the digits of an error message, so the summary groups them.
func shape(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, s)
}

// errorBody is DESIGN.md's JSON error body.
type errorBody struct {
	Error struct {
		Kind      string `json:"kind"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

var kindStatus = map[string][]int{
	"invalid": {400}, "not_found": {404}, "conflict": {409, 412}, "unauthorized": {401}, "forbidden": {403},
	"too_large": {413}, "unavailable": {502, 503}, "timeout": {504, 408}, "internal": {500},
}

// call sends one request. allowed lists the non-2xx statuses the op may
// meet in a run (besides 502/503/504 while a daemon is down). A 500, a
// status not allowed, or a non-2xx answer without the JSON error body is
// a violation. It returns 0 when no answer came.
func (c *client) call(op, method, path, ctype string, body []byte, allowed ...int) (int, []byte) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return c.do(op, req, allowed...)
}

// do is call for a request built by the caller.
func (c *client) do(op string, req *http.Request, allowed ...int) (int, []byte) {
	method, path := req.Method, req.URL.RequestURI()
	status, b := 0, []byte(nil)
	began := time.Now()
	resp, err := c.hc.Do(req)
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if err != nil {
			if c.excused == nil || !c.excused(began) {
				c.v.add("%s %s: %d answer cut: %v", method, path, status, err)
			}
			status = 0
		}
	} else if c.excused == nil || !c.excused(began) {
		c.v.add("%s %s: no answer from the gateway: %v", method, path, err)
	}
	c.mu.Lock()
	if c.statuses[op] == nil {
		c.statuses[op] = map[int]int{}
	}
	c.statuses[op][status]++
	if took := time.Since(began); took > c.slowest[op] {
		c.slowest[op] = took
	}
	c.mu.Unlock()
	if status == 0 || status/100 == 2 {
		return status, b
	}
	var eb errorBody
	defer func() {
		c.mu.Lock()
		c.messages[fmt.Sprintf("%s %d %s: %.160s", op, status, eb.Error.Kind, shape(eb.Error.Message))]++
		c.mu.Unlock()
	}()
	if json.Unmarshal(b, &eb) != nil || eb.Error.Message == "" || eb.Error.RequestID == "" || !slices.Contains(kindStatus[eb.Error.Kind], status) {
		c.v.add("%s %s: %d without DESIGN.md's JSON error body: %.300s", method, path, status, b)
	}
	switch {
	case status == 500:
		c.v.add("%s %s: 500: %.400s", method, path, b)
	case status == 502 || status == 503 || status == 504:
		if name := c.staleAfterRestart(began, eb.Error.Message); name != "" {
			c.v.add("%s %s: %d blaming %s: %.300s", method, path, status, name, b)
		}
	case slices.Contains(allowed, status):
	default:
		c.v.add("%s %s: unexpected %d: %.400s", method, path, status, b)
	}
	return status, b
}

func (c *client) json(op, method, path string, in any, allowed ...int) (int, []byte) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			panic(err)
		}
	}
	return c.call(op, method, path, "application/json", body, allowed...)
}

// ingestAck is one acknowledged ingest.
type ingestAck struct {
	Dataset string `json:"dataset"`
	Version int64  `json:"version"`
	Mode    string `json:"mode"`
	Rows    int64  `json:"rows"`
	// Replayed: a retry found the batch already committed (ADR-123).
	Replayed bool `json:"idempotent_replayed"`
	Files    []struct {
		Key  string `json:"key"`
		Rows int64  `json:"rows"`
	} `json:"files"`
	batch  string
	tokens []string // one row's unique keyword per row
}

// ledger is what the suite acknowledged.
func newLedger() *ledger {
	return &ledger{sent: map[string]bool{}, memories: map[string]string{}, steps: map[string][]string{},
		vectors: map[string][]float32{}, objects: map[string]objectAck{}}
}

type ledger struct {
	mu       sync.Mutex
	ingests  []ingestAck
	sent     map[string]bool     // every batch sent, acknowledged or not
	memories map[string]string   // id -> text
	steps    map[string][]string // run id -> acknowledged step names
	vectors  map[string][]float32
	compacts []compactAck
	objects  map[string]objectAck // key -> what storaged acknowledged
	nextID   atomic.Int64
}

// compactAck is one acknowledged compaction that committed a version.
type compactAck struct {
	Dataset   string `json:"dataset"`
	Version   int64  `json:"version"`
	Compacted bool   `json:"compacted"`
	Rows      int64  `json:"rows"`
}

// objectAck is an object PUT or DELETE storaged acknowledged.
type objectAck struct {
	body    []byte
	etag    string
	deleted bool
	// mayBeGone: a DELETE of it got no answer or a 5xx (a daemon killed
	// meanwhile): it may have been carried out, so a 404 is right too.
	mayBeGone bool
}

var words = strings.Fields("river stone lantern copper harbor meadow violet engine glacier orchard falcon marble canyon ember willow signal")

func (l *ledger) csv(r *rand.Rand, batch string, n int) ([]byte, []string) {
	var b strings.Builder
	b.WriteString("id,batch,text\n")
	var toks []string
	for i := 0; i < n; i++ {
		id := l.nextID.Add(1)
		tok := fmt.Sprintf("tok%d", id)
		toks = append(toks, tok)
		fmt.Fprintf(&b, "%d,%s,%s %s %s\n", id, batch, words[r.IntN(len(words))], words[r.IntN(len(words))], tok)
	}
	return []byte(b.String()), toks
}

// ingest sends one CSV to name in mode ("" = create).
func (l *ledger) ingest(c *client, r *rand.Rand, name, mode, batch string) {
	rows := 1 + r.IntN(20)
	if r.IntN(25) == 0 { // now and then a file big enough to be killed mid-conversion or mid-upload
		rows = 20000 + r.IntN(40000)
	}
	body, toks := l.csv(r, batch, rows)
	l.mu.Lock()
	l.sent[batch] = true
	l.mu.Unlock()
	l.post(c, r, name, mode, batch, body, toks)
}

// post sends one CSV batch, retried with its Idempotency-Key, and records
// the acknowledged ingest.
func (l *ledger) post(c *client, r *rand.Rand, name, mode, batch string, body []byte, toks []string) {
	q := url.Values{"name": {name}}
	if mode != "" {
		q.Set("mode", mode)
	}
	// Every ingest carries an Idempotency-Key (the batch, unique in a run)
	// and is retried with it after an answer that leaves its outcome open
	// (ADR-123): a batch that landed before its answer was lost is then
	// acknowledged once, and the checks' row counts per batch find a retry
	// that added it twice.
	var status int
	var b []byte
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest("POST", c.base+"/v1/ingest?"+q.Encode(), bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Idempotency-Key", batch)
		status, b = c.do("ingest", req, 409)
		if attempt == 2 || (status != 0 && status != 502 && status != 503 && status != 504) {
			break
		}
		time.Sleep(time.Duration(300+r.IntN(700)) * time.Millisecond)
	}
	if status/100 != 2 {
		return
	}
	var a ingestAck
	if err := json.Unmarshal(b, &a); err != nil || a.Version < 1 {
		c.v.add("ingest %s: answer %v: %.300s", name, err, b)
		return
	}
	if a.Replayed {
		c.mu.Lock()
		c.replays++
		c.mu.Unlock()
	}
	a.batch, a.tokens = batch, toks
	if a.Rows != int64(len(toks)) {
		c.v.add("ingest %s batch %s: acknowledged %d rows, sent %d", name, batch, a.Rows, len(toks))
	}
	l.mu.Lock()
	l.ingests = append(l.ingests, a)
	l.mu.Unlock()
}

func randVec(r *rand.Rand) []float32 {
	v := make([]float32, vecDims)
	for i := range v {
		v[i] = float32(r.Float64()*2 - 1)
	}
	return v
}

// step runs one random operation of worker w.
func (l *ledger) step(c *client, r *rand.Rand, w, n int) {
	switch p := r.IntN(100); {
	case p < 30: // append
		l.ingest(c, r, datasets[r.IntN(len(datasets))], "append", fmt.Sprintf("w%da%d", w, n))
	case p < 35: // replace
		l.ingest(c, r, datasets[r.IntN(len(datasets))], "replace", fmt.Sprintf("w%dr%d", w, n))
	case p < 48:
		ds := datasets[r.IntN(len(datasets))]
		c.json("sql", "POST", "/v1/sql", map[string]any{"sql": "SELECT batch, count(*) AS n FROM " + ds + " GROUP BY batch"})
	case p < 56:
		c.json("matrix.search", "POST", "/v1/matrix/search", map[string]any{"query": words[r.IntN(len(words))], "datasets": []string{"chaos_a"}, "k": 5}, 409) // 409: the index is building (ADR-033)
	case p < 58:
		c.json("matrix.index", "POST", "/v1/matrix/indexes", map[string]any{"dataset": "chaos_a", "id_column": "id", "text_columns": []string{"text"}}, 409)
	case p < 71:
		text := fmt.Sprintf("worker %d remembers item %d near the %s", w, n, words[r.IntN(len(words))])
		status, b := c.json("pathway.memory", "POST", "/v1/pathway/memories", map[string]any{"text": text, "user_id": fmt.Sprintf("chaos_u%d", w), "infer": false})
		if status/100 != 2 {
			return
		}
		var out struct {
			Results []struct{ ID, Memory, Event string }
		}
		if json.Unmarshal(b, &out) != nil || len(out.Results) != 1 || out.Results[0].Event != "ADD" {
			c.v.add("memory add: answer %.300s", b)
			return
		}
		l.mu.Lock()
		l.memories[out.Results[0].ID] = text
		l.mu.Unlock()
	case p < 84:
		run := fmt.Sprintf("run_w%d_%d", w, r.IntN(3))
		var steps []map[string]any
		var names []string
		for i := 0; i <= r.IntN(3); i++ {
			name := fmt.Sprintf("s%d_%d_%d", w, n, i)
			names = append(names, name)
			steps = append(steps, map[string]any{"type": "event", "name": name})
		}
		status, _ := c.json("pathway.trace", "POST", "/v1/pathway/traces", map[string]any{"run_id": run, "steps": steps})
		if status/100 == 2 {
			l.mu.Lock()
			l.steps[run] = append(l.steps[run], names...)
			l.mu.Unlock()
		}
	case p < 87:
		ds := datasets[r.IntN(len(datasets))]
		status, b := c.call("ingest.compact", "POST", "/v1/ingest/compact?name="+ds, "", nil, 409)
		if status/100 != 2 {
			return
		}
		var a compactAck
		if err := json.Unmarshal(b, &a); err != nil {
			c.v.add("compact %s: answer %v: %.300s", ds, err, b)
			return
		}
		if a.Compacted {
			l.mu.Lock()
			l.compacts = append(l.compacts, a)
			l.mu.Unlock()
		}
	case p < 93:
		l.object(c, r, w, n)
	default:
		var items []map[string]any
		vecs := map[string][]float32{}
		for i := 0; i <= r.IntN(3); i++ {
			id := fmt.Sprintf("v%d_%d_%d", w, n, i)
			vecs[id] = randVec(r)
			items = append(items, map[string]any{"id": id, "vector": vecs[id], "metadata": map[string]any{"uid": id}})
		}
		status, _ := c.json("vector.upsert", "POST", "/v1/vectors/indexes/"+vecIndex+"/upsert", map[string]any{"items": items})
		if status/100 == 2 {
			l.mu.Lock()
			for id, v := range vecs {
				l.vectors[id] = v
			}
			l.mu.Unlock()
		}
	}
}

// object PUTs a new object (now and then create-only) or deletes one
// acknowledged before, straight through storaged's routes.
func (l *ledger) object(c *client, r *rand.Rand, w, n int) {
	l.mu.Lock()
	var victim string
	if r.IntN(5) == 0 {
		for key, o := range l.objects {
			if !o.deleted && strings.HasPrefix(key, fmt.Sprintf("chaos/w%d/", w)) {
				victim = key
				break
			}
		}
	}
	l.mu.Unlock()
	if victim != "" {
		status, _ := c.call("storage.delete", "DELETE", "/v1/storage/objects/"+victim, "", nil)
		l.mu.Lock()
		switch {
		case status/100 == 2:
			l.objects[victim] = objectAck{deleted: true}
		case status == 0 || status >= 500:
			// The outcome is unknown: storaged may have removed it before
			// it (or the gateway) was killed.
			o := l.objects[victim]
			o.mayBeGone = true
			l.objects[victim] = o
		}
		l.mu.Unlock()
		return
	}
	key := fmt.Sprintf("chaos/w%d/obj-%d", w, n)
	body := make([]byte, 1+r.IntN(1<<r.IntN(21)))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	req, _ := http.NewRequest("PUT", c.base+"/v1/storage/objects/"+key, bytes.NewReader(body))
	if r.IntN(3) == 0 {
		req.Header.Set("If-None-Match", "*")
	}
	status, b := c.do("storage.put", req)
	if status/100 != 2 {
		return
	}
	var a struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		ETag string `json:"etag"`
	}
	if json.Unmarshal(b, &a) != nil || a.Key != key || a.Size != int64(len(body)) || a.ETag == "" {
		c.v.add("PUT %s of %d bytes: answer %.300s", key, len(body), b)
		return
	}
	l.mu.Lock()
	l.objects[key] = objectAck{body: body, etag: a.ETag}
	l.mu.Unlock()
}

// procState is the state letter of /proc/pid/stat ("Z" for a child that
// exited and is not yet reaped), or "" when there is no such process.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

func waitUp(hc *http.Client, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := hc.Get(base + "/health")
		if err == nil {
			var h shared.Health
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Status == "ok" {
				return nil
			}
			last = h.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New(last)
}

// daemonLog is a file in the temp dir, named for the test and seed, that
// the suite's daemons log to (a writer safe for all of them at once), and
// a reader of all written so far. It is kept, and named in the test log,
// when the test fails; removed otherwise.
func daemonLog(t *testing.T, name string, sd uint64) (io.Writer, func() string) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d.log", name, sd))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		f.Close()
		if t.Failed() {
			t.Logf("seed %d; daemon logs kept in %s", sd, path)
		} else {
			os.Remove(path)
		}
	})
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return f.Write(p)
	})
	return w, func() string {
		mu.Lock()
		defer mu.Unlock()
		b, _ := os.ReadFile(path)
		return string(b)
	}
}

// TestChaos: the suite on embedded defaults, a mixed workload from several
// clients through the gateway, kill -9 of a random stateful daemon at a
// random point and a restart, over and over; then every acknowledged write
// is looked for (ADR-117).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: starts the whole suite")
	}
	sd := seed(t)
	n := rounds(t)
	t.Logf("chaos seed %d, %d rounds (replay: LH_CHAOS_SEED=%d LH_CHAOS_ROUNDS=%d)", sd, n, sd, n)
	logW, logs := daemonLog(t, "lh-chaos", sd)
	s := suite.Start(t, suite.Options{Log: logW})
	if _, err := s.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	v := &violations{}
	c := newClient(s.Gateway(), v)
	for _, name := range victims {
		c.setUp(name, true)
	}
	l := newLedger()
	setup := rand.New(rand.NewPCG(sd, 1000))
	for _, ds := range datasets {
		l.ingest(c, setup, ds, "", "create_"+ds)
	}
	if st, b := c.json("vector.create", "PUT", "/v1/vectors/indexes/"+vecIndex, map[string]any{"dims": vecDims, "metric": "cosine"}); st/100 != 2 {
		t.Fatalf("create vector index: %d %s", st, b)
	}
	if st, b := c.json("matrix.index", "POST", "/v1/matrix/indexes", map[string]any{"dataset": "chaos_a", "id_column": "id", "text_columns": []string{"text"}}); st/100 != 2 {
		t.Fatalf("matrix index: %d %s", st, b)
	}
	if bad := v.all(); len(bad) > 0 || len(l.ingests) != len(datasets) {
		t.Fatalf("setup: %d datasets created; %v", len(l.ingests), bad)
	}

	// The workload.
	stop := make(chan struct{})
	wg, ops := startWorkers(sd, workers, stop, func(r *rand.Rand, w, i int) { l.step(c, r, w, i) })
	// The crash watch: a daemon that exits without our kill is a zombie
	// child until the suite reaps it.
	var killMu sync.Mutex
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		reported := map[int]bool{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			killMu.Lock()
			for _, name := range shared.Daemons {
				if p := s.Process(name); p != nil && !reported[p.Pid] {
					if st := procState(p.Pid); st == "Z" || st == "" {
						reported[p.Pid] = true
						v.add("%s (pid %d) exited on its own", name, p.Pid)
					}
				}
			}
			killMu.Unlock()
		}
	}()
	chaos := rand.New(rand.NewPCG(sd, 2000))
	hc := &http.Client{Timeout: time.Second}
	start := time.Now()
	order := slices.Clone(victims)
	var ingestdKills []time.Time
	for round := 0; round < n; round++ {
		time.Sleep(time.Duration(300+chaos.IntN(2200)) * time.Millisecond)
		if round%len(victims) == 0 { // each victim once per len(victims) rounds, in a random order
			chaos.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		if chaos.IntN(6) == 0 { // a freeze instead: swapping, a stuck disk, a debugger (SIGSTOP, then SIGCONT)
			victim := victims[chaos.IntN(len(victims))]
			frozen := time.Duration(500+chaos.IntN(2500)) * time.Millisecond
			t.Logf("round %d at %v: SIGSTOP %s for %v", round, time.Since(start).Round(time.Millisecond), victim, frozen)
			killMu.Lock()
			p := s.Process(victim)
			killMu.Unlock()
			if p != nil {
				c.setUp(victim, false) // its callers may blame it meanwhile
				p.Signal(syscall.SIGSTOP)
				time.Sleep(frozen)
				p.Signal(syscall.SIGCONT)
				c.setUp(victim, true)
			}
			continue
		}
		killed := []string{order[round%len(order)]}
		if chaos.IntN(5) == 0 { // a second one at the same moment (an OOM kill spree, a cgroup)
			if other := victims[chaos.IntN(len(victims))]; other != killed[0] {
				killed = append(killed, other)
			}
		}
		down := time.Duration(chaos.IntN(1000)) * time.Millisecond
		if slices.Contains(killed, "ingestd") {
			ingestdKills = append(ingestdKills, time.Now())
		}
		t.Logf("round %d at %v: kill -9 %v, down %v", round, time.Since(start).Round(time.Millisecond), killed, down)
		killRestart(t, s, c, &killMu, v, hc, killed, down)
	}
	time.Sleep(time.Duration(chaos.IntN(1000)) * time.Millisecond)
	close(stop)
	wg.Wait()
	<-watchDone
	t.Logf("chaos over after %v: %d operations", time.Since(start).Round(time.Millisecond), ops.Load())
	check := &checker{t: t, s: s, c: c, l: l, v: v}
	check.settledOrphans(ingestdKills, logs)
	// Everything acknowledged must also come back from disk: one last
	// kill -9 of every victim at rest, then the checks.
	killRestart(t, s, c, &killMu, v, hc, victims, 0)
	if _, err := s.WaitHealthy(30 * time.Second); err != nil {
		v.add("after the chaos: %v", err)
	}

	check.datasets()
	check.tempFiles(false)
	check.pathway()
	check.vectors()
	check.objects()
	check.matrix()

	c.mu.Lock()
	for op, m := range c.statuses {
		t.Logf("%-16s %v slowest %v", op, m, c.slowest[op].Round(time.Millisecond))
	}
	msgs := slices.Sorted(maps.Keys(c.messages))
	for _, m := range msgs {
		t.Logf("%5d x %s", c.messages[m], m)
	}
	c.mu.Unlock()
	t.Logf("acknowledged: %d ingests (%d by a replay of a landed commit), %d compactions, %d memories, %d trace runs, %d vectors, %d objects", len(l.ingests), c.replays, len(l.compacts), len(l.memories), len(l.steps), len(l.vectors), len(l.objects))
	if bad := s.Stop(); len(bad) > 0 {
		v.add("unclean exits at SIGTERM: %v", bad)
	}
	check.tempFiles(true)
	if os.Getenv("LH_CHAOS_TREE") != "" {
		filepath.WalkDir(filepath.Join(s.Dir, "data"), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(path, "/objects/data/") {
				info, _ := d.Info()
				t.Logf("tree: %s %d", strings.TrimPrefix(path, s.Dir), info.Size())
			}
			return nil
		})
	}
	for _, line := range strings.Split(logs(), "\n") {
		// A 500 between two daemons never reaches the client as one (the
		// caller turns it into its own error), so the logs are read too.
		if strings.Contains(line, "panic") || strings.Contains(line, "fatal error") || strings.Contains(line, " status=500 ") {
			v.add("daemon log: %.300s", line)
		}
	}
	if bad := v.all(); len(bad) > 0 {
		t.Errorf("seed %d: %d violations:\n%s", sd, len(bad), strings.Join(bad, "\n"))
	}
}

// killRestart kill -9's the daemons named, waits down, starts them again
// and waits for their health.
func killRestart(t *testing.T, s *suite.Suite, c *client, killMu *sync.Mutex, v *violations, hc *http.Client, names []string, down time.Duration) {
	t.Helper()
	killMu.Lock()
	for _, name := range names {
		c.setUp(name, false)
		s.Kill(name)
	}
	killMu.Unlock()
	time.Sleep(down)
	killMu.Lock()
	for _, name := range names {
		if err := s.StartDaemon(name); err != nil {
			killMu.Unlock()
			t.Fatalf("restart %s: %v", name, err)
		}
	}
	killMu.Unlock()
	for _, name := range names {
		if err := waitUp(hc, s.URL(name), 60*time.Second); err != nil {
			v.add("%s not healthy 60 s after its restart: %v", name, err)
		}
		c.setUp(name, true)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
