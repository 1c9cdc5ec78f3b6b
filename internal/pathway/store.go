package pathway

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/pathway/journal"
	"lakehouse-go/internal/shared"
)

// Similarity policy (ADR-053). Cosine alone never makes a fact NONE or
// replaces a memory: NONE and DELETE need the words (contentWords), UPDATE
// the words or the subject rule.
const (
	// SubjectScore and above with the same single-valued subject: UPDATE.
	SubjectScore = 0.60
)

// Options configure a Store.
type Options struct {
	Path     string        // state.jsonl (required)
	Embedder embed.Service // vectors for decisions and search (required)
	Model    string        // embedding model; "" = the embedder's default
	Log      *slog.Logger
	Now      func() time.Time // clock; nil = time.Now
	NewID    func() string    // memory ids; nil = random UUIDv4

	// wrapJournal, when set, wraps state.jsonl's writer (tests: a disk
	// that fails or stalls).
	wrapJournal func(journal.WriteSyncer) journal.WriteSyncer
	// legacySearch, when set, searches and extracts as before ADR-134
	// (cosine of the query as typed; a compound sentence one fact): the
	// baseline of TestSearchEval.
	legacySearch bool
}

// Store implements Service over an in-memory state rebuilt from state.jsonl.
//
// mems, history, idx and traces are the committed state: always the replay
// of what state.jsonl durably holds, and all that readers see. A write
// decides against the committed state plus the writes still waiting for
// their fsync (the overlay pend/pendRefs/pendSteps), enqueues its lines and
// stages them in the overlay under mu, so the journal order is the decision
// order; once its group is durable, the writes are applied to the committed
// state in journal order (settle), and writes the journal refused are
// dropped without ever having been visible (ADR-055). The first writer of a
// finished group to get settleMu settles the whole group under one lock of
// mu; the group's other writers find their write visible and take no lock.
type Store struct {
	mu      sync.RWMutex
	mems    map[string]*entry
	history map[string][]HistoryEntry
	idx     map[string]map[string]*entry // "u:"+user, "a:"+agent, "r:"+run -> memory id -> entry
	traces  map[string][]Step

	pending   []*pendingWrite   // enqueued, not yet settled, in journal order
	pend      map[string]*entry // memory id -> its state after the last pending write (nil = deleted)
	pendRefs  map[string]int    // memory id -> pending records touching it
	pendSteps map[string]int    // run id -> pending steps
	settles   int               // settle passes (tests: one per group, not one per writer)
	settleMu  sync.Mutex        // one writer settles at a time; the others wait here, not on mu

	j     *journal.Journal
	emb   embed.Service
	model string
	now   func() time.Time
	newID func() string
	log   *slog.Logger
	path  string

	legacySearch bool // Options.legacySearch

	metrics *pathwayMetrics // set by New (metrics.go)
}

type entry struct {
	m     Memory
	vec   []float32
	sh    shape // of m.Memory, computed when the text is set (newEntry, apply)
	terms terms // memoryTerms(m.Memory), computed with sh
}

func newEntry(m *Memory, vec []float32) *entry {
	return &entry{m: *m, vec: vec, sh: shapeOf(m.Memory), terms: memoryTerms(m.Memory)}
}

// pendingWrite is one write's journal entry: its records, the vectors of
// the memories after each record, and the ticket of its group commit.
// visible is closed once the write is settled: applied to the committed
// state, or dropped with err set (the journal refused it).
type pendingWrite struct {
	recs    []record
	vecs    [][]float32
	t       *journal.Ticket
	visible chan struct{}
	err     error
}

var _ Service = (*Store)(nil)

// record is one line of state.jsonl.
type record struct {
	Op     string    `json:"op"` // add | update | delete | step
	TS     time.Time `json:"ts"`
	Memory *Memory   `json:"memory,omitempty"` // add, update: the memory after the change
	ID     string    `json:"id,omitempty"`     // delete
	Old    *string   `json:"old,omitempty"`    // update, delete: the text before
	RunID  string    `json:"run_id,omitempty"` // step
	Step   *Step     `json:"step,omitempty"`   // step

	size int // bytes of its line (set by commit and replay)
}

// ReplayInfo is what Open found in state.jsonl.
type ReplayInfo = journal.Info

// Open replays opts.Path (cutting a torn last line; refusing a damaged
// earlier line with an error naming it), embeds the live memories and
// starts the group committer. Errors: Invalid (options), Unavailable
// (another process, or another Store, has opts.Path open: its lock file
// <path>.lock is held until that one's Close), Internal (the file, a
// damaged line), the embedder's errors.
func Open(ctx context.Context, opts Options) (*Store, ReplayInfo, error) {
	const op = "pathway.Open"
	if opts.Path == "" || opts.Embedder == nil {
		return nil, ReplayInfo{}, errs.Errorf(op, errs.Invalid, "path and embedder are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = newUUID
	}
	s := newState()
	s.emb, s.model, s.now, s.newID, s.log, s.path = opts.Embedder, opts.Model, opts.Now, opts.NewID, opts.Log, opts.Path
	s.legacySearch = opts.legacySearch
	j, info, err := journal.OpenWith(opts.Path, s.replayLine, opts.wrapJournal)
	if err != nil {
		kind := errs.Internal
		if errors.Is(err, shared.ErrLocked) {
			kind = errs.Unavailable // another pathwayd has the journal
		}
		return nil, info, errs.E(op, kind, err)
	}
	s.j = j
	if info.TornBytes > 0 {
		opts.Log.Warn("state.jsonl ended in a torn line (crash mid-write); cut it", "op", "pathway.replay",
			"path", opts.Path, "bytes", info.TornBytes)
	}
	// Vectors are derived data: recompute them for the live memories.
	ids := make([]string, 0, len(s.mems))
	for id := range s.mems {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += 1024 {
		chunk := ids[start:min(start+1024, len(ids))]
		texts := make([]string, len(chunk))
		for i, id := range chunk {
			texts[i] = s.mems[id].m.Memory
		}
		vecs, err := s.embed(ctx, texts)
		if err != nil {
			j.Close()
			return nil, info, err
		}
		for i, id := range chunk {
			s.mems[id].vec = vecs[i]
		}
	}
	opts.Log.Info("state.jsonl replayed", "op", "pathway.replay", "path", opts.Path, "lines", info.Lines,
		"memories", len(s.mems), "runs", len(s.traces))
	return s, info, nil
}

// newState is an empty Store without journal or embedder (Open sets them).
func newState() *Store {
	return &Store{
		mems: map[string]*entry{}, history: map[string][]HistoryEntry{},
		idx: map[string]map[string]*entry{}, traces: map[string][]Step{},
		pend: map[string]*entry{}, pendRefs: map[string]int{}, pendSteps: map[string]int{},
	}
}

// parseRecord decodes and checks one state.jsonl line (the replay parser).
func parseRecord(line []byte) (record, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("not a state record: %v", err)
	}
	if dec.More() {
		return r, fmt.Errorf("data after the record")
	}
	switch r.Op {
	case "add", "update":
		if r.Memory == nil || r.Memory.ID == "" {
			return r, fmt.Errorf("%s without memory.id", r.Op)
		}
		if r.Op == "update" && r.Old == nil {
			return r, fmt.Errorf("update without old text")
		}
	case "delete":
		if r.ID == "" || r.Old == nil {
			return r, fmt.Errorf("delete without id or old text")
		}
	case "step":
		if r.RunID == "" || r.Step == nil {
			return r, fmt.Errorf("step without run_id or step")
		}
	default:
		return r, fmt.Errorf("unknown op %q", r.Op)
	}
	return r, nil
}

func (s *Store) replayLine(_ int, line []byte) error {
	r, err := parseRecord(line)
	if err != nil {
		return err
	}
	r.size = len(line)
	return s.apply(&r, nil)
}

// apply changes the in-memory state; the caller holds mu (or is replaying).
func (s *Store) apply(r *record, vec []float32) error {
	switch r.Op {
	case "add":
		if _, dup := s.mems[r.Memory.ID]; dup {
			return fmt.Errorf("add of existing memory %s", r.Memory.ID)
		}
		e := newEntry(r.Memory, vec)
		s.mems[r.Memory.ID] = e
		s.index(e, true)
		s.history[r.Memory.ID] = append(s.history[r.Memory.ID], HistoryEntry{
			MemoryID: r.Memory.ID, NewMemory: &r.Memory.Memory, Event: EventAdd, CreatedAt: r.TS})
	case "update":
		e := s.mems[r.Memory.ID]
		if e == nil {
			return fmt.Errorf("update of unknown memory %s", r.Memory.ID)
		}
		if e.m.Scope != r.Memory.Scope {
			s.index(e, false)
			e.m.Scope = r.Memory.Scope
			s.index(e, true)
		}
		if e.m.Memory != r.Memory.Memory {
			e.sh, e.terms = shapeOf(r.Memory.Memory), memoryTerms(r.Memory.Memory)
		}
		e.m, e.vec = *r.Memory, vec
		s.history[e.m.ID] = append(s.history[e.m.ID], HistoryEntry{
			MemoryID: e.m.ID, OldMemory: r.Old, NewMemory: &r.Memory.Memory, Event: EventUpdate, CreatedAt: r.TS})
	case "delete":
		e := s.mems[r.ID]
		if e == nil {
			return fmt.Errorf("delete of unknown memory %s", r.ID)
		}
		s.index(e, false)
		delete(s.mems, r.ID)
		s.history[r.ID] = append(s.history[r.ID], HistoryEntry{
			MemoryID: r.ID, OldMemory: r.Old, Event: EventDelete, CreatedAt: r.TS, IsDeleted: true})
	case "step":
		st := *r.Step
		st.TS = st.TS.UTC() // a line written before ADR-111 may hold an offset
		st.Index = len(s.traces[r.RunID])
		st.size = r.size
		s.traces[r.RunID] = append(s.traces[r.RunID], st)
	}
	return nil
}

// index adds e to (or removes it from) the sets of its scope's ids.
func (s *Store) index(e *entry, add bool) {
	sc := &e.m.Scope
	for _, k := range []string{"u:" + sc.UserID, "a:" + sc.AgentID, "r:" + sc.RunID} {
		if len(k) == 2 {
			continue
		}
		set := s.idx[k]
		if add {
			if set == nil {
				set = map[string]*entry{}
				s.idx[k] = set
			}
			set[e.m.ID] = e
		} else if set != nil {
			delete(set, e.m.ID)
			if len(set) == 0 {
				delete(s.idx, k)
			}
		}
	}
}

// inScope calls fn for each live memory matching sc (non-empty), caller holds mu.
func (s *Store) inScope(sc Scope, fn func(e *entry)) {
	var set map[string]*entry
	first := true
	for _, k := range []string{"u:" + sc.UserID, "a:" + sc.AgentID, "r:" + sc.RunID} {
		if len(k) == 2 {
			continue
		}
		if c := s.idx[k]; first || len(c) < len(set) {
			set, first = c, false
		}
	}
	for _, e := range set {
		if sc.matches(&e.m) {
			fn(e)
		}
	}
}

// inScopes is inScope for a read whose filters may give several scopes
// (an OR of scope ids, ADR-153): with alts, fn is called once for each
// live memory in one branch's scope that passes the branch's filter (a
// memory in two branches' scopes once). The caller holds mu.
func (s *Store) inScopes(sc Scope, alts []scopeAlt, fn func(e *entry)) {
	if alts == nil {
		s.inScope(sc, fn)
		return
	}
	var seen map[string]bool
	if len(alts) > 1 {
		seen = map[string]bool{}
	}
	for _, a := range alts {
		s.inScope(a.sc, func(e *entry) {
			if a.f != nil && !a.f.match(&e.m) || seen != nil && seen[e.m.ID] {
				return
			}
			if seen != nil {
				seen[e.m.ID] = true
			}
			fn(e)
		})
	}
}

// lookup is memory id as writers see it: the committed state overlaid with
// the pending writes (nil = none or deleted). The caller holds mu.
func (s *Store) lookup(id string) *entry {
	if s.pendRefs[id] > 0 {
		return s.pend[id]
	}
	return s.mems[id]
}

// inScopePending is inScope as writers see it (committed + pending); the
// caller holds mu.
func (s *Store) inScopePending(sc Scope, fn func(e *entry)) {
	if len(s.pendRefs) == 0 {
		s.inScope(sc, fn)
		return
	}
	s.inScope(sc, func(e *entry) {
		if s.pendRefs[e.m.ID] == 0 {
			fn(e)
		}
	})
	for _, e := range s.pend {
		if e != nil && sc.matches(&e.m) {
			fn(e)
		}
	}
}

// stage records r in the overlay, so later decisions see it, and returns
// what undoes it (for a write abandoned before it is enqueued). The caller
// holds mu.
func (s *Store) stage(r *record, vec []float32) (undo func()) {
	if r.Op == "step" {
		s.pendSteps[r.RunID]++
		return func() { s.unstage(r) }
	}
	id := r.ID
	var e *entry
	if r.Memory != nil {
		id, e = r.Memory.ID, newEntry(r.Memory, vec)
	}
	prev, had := s.pend[id]
	s.pend[id] = e
	s.pendRefs[id]++
	return func() {
		s.unstage(r)
		if had && s.pendRefs[id] > 0 {
			s.pend[id] = prev
		}
	}
}

// unstage drops r from the overlay once it is settled (or abandoned).
func (s *Store) unstage(r *record) {
	if r.Op == "step" {
		if s.pendSteps[r.RunID]--; s.pendSteps[r.RunID] <= 0 {
			delete(s.pendSteps, r.RunID)
		}
		return
	}
	id := r.ID
	if r.Memory != nil {
		id = r.Memory.ID
	}
	if s.pendRefs[id]--; s.pendRefs[id] <= 0 {
		delete(s.pendRefs, id)
		delete(s.pend, id)
	}
}

// commit stages recs (already staged one by one when staged is true),
// encodes them and enqueues them as one journal entry; the caller holds mu,
// so the log order is the decision order. The caller waits for the write
// with wait.
func (s *Store) commit(recs []record, vecs [][]float32, staged bool) *pendingWrite {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range recs {
		n := buf.Len()
		if err := enc.Encode(&recs[i]); err != nil { // cannot happen: metadata was encodable
			panic(err)
		}
		recs[i].size = buf.Len() - n
		if !staged {
			s.stage(&recs[i], vecs[i])
		}
	}
	p := &pendingWrite{recs: recs, vecs: vecs, t: s.j.Enqueue(buf.Bytes()), visible: make(chan struct{})}
	s.pending = append(s.pending, p)
	return p
}

// barrier is the last pending write (nil = none): an answer built on the
// overlay (a NONE naming a memory that is not durable yet) waits for it.
// The caller holds mu.
func (s *Store) barrier() *pendingWrite {
	if len(s.pending) == 0 {
		return nil
	}
	return s.pending[len(s.pending)-1]
}

// settle applies the pending writes whose group is done, oldest first, to
// the committed state, or drops them when the journal refused them (a
// refusal is sticky, so every later write is refused too and the committed
// state stays the replay of the file), and releases their writers. The
// caller holds mu.
func (s *Store) settle() {
	s.settles++
	n := 0
	for _, p := range s.pending {
		if !p.t.Done() {
			break // tickets of durable writes are done in journal order
		}
		err := p.t.Err()
		for i := range p.recs {
			if err == nil {
				if aerr := s.apply(&p.recs[i], p.vecs[i]); aerr != nil { // cannot happen: decided against this state
					s.log.Error("durable change does not apply to memory", "op", "pathway.settle", "err", aerr.Error())
				}
			}
			s.unstage(&p.recs[i])
		}
		p.err = err
		close(p.visible)
		n++
	}
	if n > 0 {
		clear(s.pending[:n])
		s.pending = s.pending[n:]
	}
}

// lockForWrite takes mu for a write about to be decided. A journal that
// refused a write (no space left on the disk, a failed fsync) is reset
// first, once no write is pending: every refused one is then settled and
// out of the overlay, so nothing decided from here on rests on one. So
// writes resume as soon as the disk takes them again (they were refused
// until a restart); while it does not, each is refused on its own.
func (s *Store) lockForWrite() {
	s.mu.Lock()
	if s.j.Failed() == nil {
		return
	}
	s.settle()
	if len(s.pending) > 0 {
		return
	}
	if err := s.j.Reset(); err != nil {
		s.log.Warn("state.jsonl stays refused", "op", "pathway.journal", "err", err.Error())
	}
}

// wait waits until p (nil = nothing to wait for) is settled, and turns a
// journal failure into Unavailable. Once p's group is done, the first of
// its writers to get settleMu settles the group (every ticket of a group is
// done at once, so one pass under mu does it); the others find p visible
// and return without taking mu. The journal's error (path, OS error) stays
// in the log (logged at the HTTP boundary), not in the message.
func (s *Store) wait(op string, p *pendingWrite) error {
	if p == nil {
		return nil
	}
	p.t.Wait()
	select {
	case <-p.visible:
	default:
		s.settleMu.Lock()
		select {
		case <-p.visible: // a writer of the same group settled it
		default:
			s.mu.Lock()
			s.settle()
			s.mu.Unlock()
		}
		s.settleMu.Unlock()
		// Settled now, or (p refused at Enqueue behind writes still in
		// flight) by the writer of the oldest of those.
		<-p.visible
	}
	if p.err != nil {
		// The cause is wrapped as Internal: the caller sees only the message
		// (with the OS's reason, never the path).
		return errs.E(op, errs.Unavailable, "could not make the change durable in state.jsonl ("+diskReason(p.err)+"); it was not acknowledged: retry it once the disk takes writes again", errs.E(op, errs.Internal, p.err))
	}
	return nil
}

func (s *Store) embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	res, err := s.emb.Embed(ctx, embed.EmbedRequest{Input: texts, Model: s.model})
	if err != nil {
		return nil, embed.ConfiguredModel("pathway.embed", s.model, err)
	}
	if len(res.Embeddings) != len(texts) {
		return nil, errs.Errorf("pathway.embed", errs.Internal, "embedder returned %d vectors for %d texts", len(res.Embeddings), len(texts))
	}
	return res.Embeddings, nil
}

// fact is one candidate memory of an add.
type fact struct {
	text    string
	sh      shape
	vec     []float32
	retract string // positive form of a retraction ("" = none)
	rsh     shape  // its shape
	rvec    []float32
}

// Add implements Service.Add.
func (s *Store) Add(ctx context.Context, req AddRequest) (AddResponse, error) {
	const op = "pathway.add"
	if err := req.Validate(); err != nil {
		return AddResponse{}, err
	}
	msgs, _ := req.messages()
	infer := req.Infer == nil || *req.Infer
	var facts []fact
	for _, m := range msgs {
		switch {
		case !infer && m.Role != "system":
			if t := strings.TrimSpace(m.Content); t != "" {
				facts = append(facts, fact{text: t})
			}
		case infer && (m.Role == "user" || m.Role == ""):
			for _, t := range extract(m.Content, !s.legacySearch) {
				f := fact{text: t, sh: shapeOf(t)}
				if pos, ok := negation(t); ok && pos != "" {
					f.retract, f.rsh = pos, shapeOf(pos)
				}
				facts = append(facts, f)
			}
		}
	}
	if len(facts) > MaxFacts {
		return AddResponse{}, errs.Errorf(op, errs.TooLarge, "the messages hold %d facts (sentences), at most %d in one add: send them in several requests", len(facts), MaxFacts)
	}
	out := AddResponse{Results: []AddResult{}}
	if len(facts) == 0 {
		return out, nil
	}
	texts := make([]string, 0, len(facts))
	for _, f := range facts {
		texts = append(texts, f.text)
		if f.retract != "" {
			texts = append(texts, f.retract)
		}
	}
	vecs, err := s.embed(ctx, texts)
	if err != nil {
		return AddResponse{}, err
	}
	for i, k := 0, 0; i < len(facts); i++ {
		facts[i].vec = vecs[k]
		k++
		if facts[i].retract != "" {
			facts[i].rvec = vecs[k]
			k++
		}
	}

	s.lockForWrite()
	now := s.now().UTC()
	var recs []record
	var vecsOut [][]float32
	var undo []func()
	for _, f := range facts {
		res, rec, vec := s.decide(&req, f, infer, now)
		out.Results = append(out.Results, res)
		if rec != nil {
			if rec.Op == "add" && s.lookup(rec.Memory.ID) != nil {
				for i := len(undo) - 1; i >= 0; i-- {
					undo[i]()
				}
				s.mu.Unlock()
				return AddResponse{}, errs.Errorf(op, errs.Internal, "new memory id %s is taken", rec.Memory.ID)
			}
			// Staged now so the request's later facts see it.
			undo = append(undo, s.stage(rec, vec))
			recs = append(recs, *rec)
			vecsOut = append(vecsOut, vec)
		}
	}
	var t *pendingWrite
	if len(recs) > 0 {
		t = s.commit(recs, vecsOut, true)
	} else {
		t = s.barrier() // a NONE may name a memory that is not durable yet
	}
	s.mu.Unlock()
	if err := s.wait(op, t); err != nil {
		return AddResponse{}, err
	}
	return out, nil
}

// decide is the ADD/UPDATE/DELETE/NONE policy for one fact (ADR-053); the
// caller holds mu. Only memories of the fact's holder (the user, or the
// same third party: "my sister") take part in 1-4, so a fact about someone
// else never replaces, duplicates or retracts the user's. Against the
// scope's memories, in this order:
//  1. a retraction DELETEs the positive memory whose words include what it
//     retracts;
//  2. the same canonical text, or a memory of the same polarity whose
//     content words include all of the fact's, is NONE (nothing new);
//  3. a memory of the same polarity whose content words the fact includes,
//     and more, is UPDATEd to the fuller fact (nothing is lost);
//  4. a memory of the other polarity is UPDATEd when the negative one's
//     words are within the positive one's ("I no longer live in Paris" ->
//     "Lives in Paris": the fact changed back);
//  5. a memory with the same single-valued subject at cosine >=
//     SubjectScore is UPDATEd (the attribute changed);
//  6. otherwise ADD. Cosine alone never decides NONE or UPDATE.
//
// It returns the result and the record to apply (nil for NONE) with the
// vector of the memory after the change.
func (s *Store) decide(req *AddRequest, f fact, infer bool, now time.Time) (AddResult, *record, []float32) {
	// better reports whether e at score sc beats best at bestScore (ties:
	// the smaller id, so decisions do not depend on map order).
	better := func(e *entry, sc float64, best *entry, bestScore float64) bool {
		return best == nil || sc > bestScore || (sc == bestScore && e.m.ID < best.m.ID)
	}
	if infer {
		if f.retract != "" {
			// DELETE the memory that says what is retracted: its text, or
			// more ("Likes pizza with olives" for "no longer like pizza").
			r := &f.rsh
			var best *entry
			bestScore := -2.0
			s.inScopePending(req.Scope, func(e *entry) {
				es := &e.sh
				if es.holder != r.holder || es.neg || es.canon != r.canon && !within(r.words, es.words) {
					return
				}
				sc := 2.0
				if es.canon != r.canon {
					sc = cosine(f.rvec, e.vec)
				}
				if better(e, sc, best, bestScore) {
					best, bestScore = e, sc
				}
			})
			if best != nil {
				old := best.m.Memory
				return AddResult{ID: best.m.ID, Memory: old, Event: EventDelete},
					&record{Op: "delete", TS: now, ID: best.m.ID, Old: &old}, nil
			}
		}
		fs := &f.sh
		var same, covers, covered, flipped, subjBest *entry
		coversScore, coveredScore, flippedScore, subjScore := -2.0, -2.0, -2.0, -2.0
		s.inScopePending(req.Scope, func(e *entry) {
			es := &e.sh
			if es.canon == fs.canon {
				if same == nil || e.m.ID < same.m.ID {
					same = e
				}
				return
			}
			if es.holder != fs.holder {
				return // someone else's fact
			}
			score := func() float64 { return cosine(f.vec, e.vec) }
			switch {
			case es.neg == fs.neg && within(fs.words, es.words): // e already says all of f
				if sc := score(); better(e, sc, covers, coversScore) {
					covers, coversScore = e, sc
				}
				return
			case es.neg == fs.neg && within(es.words, fs.words): // f says all of e, and more
				if sc := score(); better(e, sc, covered, coveredScore) {
					covered, coveredScore = e, sc
				}
				return
			case es.neg && !fs.neg && within(es.words, fs.words), // "no longer X" -> "X"
				!es.neg && fs.neg && within(fs.words, es.words): // "X" -> "never X"
				if sc := score(); better(e, sc, flipped, flippedScore) {
					flipped, flippedScore = e, sc
				}
				return
			}
			if fs.single && es.subj == fs.subj {
				// An attribute's new value replaces the old one whatever
				// their cosine (attributeSubject); other subjects need
				// SubjectScore.
				if sc := score(); (fs.attr || sc >= SubjectScore) && better(e, sc, subjBest, subjScore) {
					subjBest, subjScore = e, sc
				}
			}
		})
		var target *entry
		switch {
		case same != nil:
			return AddResult{ID: same.m.ID, Memory: same.m.Memory, Event: EventNone}, nil, nil
		case covers != nil:
			return AddResult{ID: covers.m.ID, Memory: covers.m.Memory, Event: EventNone}, nil, nil
		case covered != nil:
			target = covered
		case flipped != nil:
			target = flipped
		case subjBest != nil:
			target = subjBest
		}
		if target != nil {
			old := target.m.Memory
			m := target.m
			m.Memory, m.Hash, m.UpdatedAt = f.text, hashText(f.text), now
			if req.Metadata != nil {
				m.Metadata = req.Metadata
			}
			return AddResult{ID: m.ID, Memory: m.Memory, Event: EventUpdate, PreviousMemory: old},
				&record{Op: "update", TS: now, Memory: &m, Old: &old}, f.vec
		}
	}
	m := Memory{ID: s.newID(), Memory: f.text, Hash: hashText(f.text), Scope: req.Scope,
		Metadata: req.Metadata, CreatedAt: now, UpdatedAt: now}
	return AddResult{ID: m.ID, Memory: m.Memory, Event: EventAdd}, &record{Op: "add", TS: now, Memory: &m}, f.vec
}

func limitOf(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// List implements Service.List. Both orders are total (ties of
// updated_at by id), so the same state always lists the same way.
func (s *Store) List(ctx context.Context, scope Scope, opts ListOptions) (ListResponse, error) {
	flt, alts, err := mergeFilterScope("pathway.list", opts.Filters, &scope)
	if err != nil {
		return ListResponse{}, err
	}
	p := scopeProblems(scope, alts)
	switch opts.Order {
	case "", OrderRecent:
		if _, ok := parseRecentCursor(opts.After); opts.After != "" && !ok {
			p = append(p, fmt.Sprintf("after %q: want the previous page's next (<updated_at>/<id>)", opts.After))
		}
	case OrderID:
		if msg := checkID(opts.After); msg != "" {
			p = append(p, "after: "+msg)
		}
	default:
		p = append(p, fmt.Sprintf("order %q: want %s or %s", opts.Order, OrderRecent, OrderID))
	}
	if opts.Limit < 0 || opts.Limit > MaxLimit {
		p = append(p, fmt.Sprintf("limit %d: want 1..%d (0 = %d)", opts.Limit, MaxLimit, DefaultLimit))
	}
	if err := problems("pathway.list", p); err != nil {
		return ListResponse{}, err
	}
	byID := opts.Order == OrderID
	cur, paged := parseRecentCursor(opts.After)
	s.mu.RLock()
	out := []Memory{}
	s.inScopes(scope, alts, func(e *entry) {
		switch {
		case flt != nil && !flt.match(&e.m):
		case byID && e.m.ID > opts.After,
			!byID && (!paged || cur.before(e.m.UpdatedAt, e.m.ID)):
			out = append(out, e.m)
		}
	})
	s.mu.RUnlock()
	if byID {
		slices.SortFunc(out, func(a, b Memory) int { return cmp.Compare(a.ID, b.ID) })
	} else {
		slices.SortFunc(out, func(a, b Memory) int {
			return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.ID, b.ID))
		})
	}
	end := pageEnd(len(out), limitOf(opts.Limit), func(i int) int { return jsonSize(&out[i]) })
	res := ListResponse{Results: out[:end]}
	if end < len(out) {
		last := &out[end-1]
		if res.Next = last.ID; !byID {
			res.Next = recentCursor{last.UpdatedAt, last.ID}.String()
		}
	}
	return res, nil
}

// pageEnd is how many of n ordered items one page holds: at most limit,
// and it ends once their sizes pass MaxListPageBytes, after at least one.
func pageEnd(n, limit int, size func(i int) int) int {
	end, used := 0, 0
	for end < n && end < limit {
		sz := size(end)
		if end > 0 && used+sz > MaxListPageBytes {
			break
		}
		used += sz
		end++
	}
	return end
}

// jsonSize is v's size in an answer (escapes included: a text of '<'
// takes six bytes a character).
func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b) + 1
}

func checkMemoryID(op, id string) error {
	if id == "" || checkID(id) != "" {
		return errs.Errorf(op, errs.Invalid, "memory id %q: want 1..%d printable characters", id, MaxIDLen)
	}
	return nil
}

// Get implements Service.Get.
func (s *Store) Get(ctx context.Context, id string) (Memory, error) {
	if err := checkMemoryID("pathway.get", id); err != nil {
		return Memory{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.mems[id]
	if e == nil {
		return Memory{}, errs.Errorf("pathway.get", errs.NotFound, "no memory %s", id)
	}
	return e.m, nil
}

// Update implements Service.Update.
func (s *Store) Update(ctx context.Context, id string, req UpdateRequest) (Memory, error) {
	const op = "pathway.update"
	if err := checkMemoryID(op, id); err != nil {
		return Memory{}, err
	}
	if err := req.Validate(); err != nil {
		return Memory{}, err
	}
	text := strings.TrimSpace(req.Text)
	var vecs [][]float32
	if text != "" {
		var err error
		if vecs, err = s.embed(ctx, []string{text}); err != nil {
			return Memory{}, err
		}
	}
	s.lockForWrite()
	e := s.lookup(id)
	if e == nil {
		s.mu.Unlock()
		return Memory{}, errs.Errorf(op, errs.NotFound, "no memory %s", id)
	}
	if text == "" {
		// Metadata alone (Validate): the text, and so its vector, stay.
		text, vecs = e.m.Memory, [][]float32{e.vec}
	}
	if e.m.Memory == text && req.Metadata == nil {
		m := e.m
		t := s.barrier() // e may not be durable yet
		s.mu.Unlock()
		if err := s.wait(op, t); err != nil {
			return Memory{}, err
		}
		return m, nil
	}
	old := e.m.Memory
	m := e.m
	m.Memory, m.Hash, m.UpdatedAt = text, hashText(text), s.now().UTC()
	if req.Metadata != nil {
		m.Metadata = req.Metadata
	}
	rec := record{Op: "update", TS: m.UpdatedAt, Memory: &m, Old: &old}
	t := s.commit([]record{rec}, vecs, false)
	s.mu.Unlock()
	if err := s.wait(op, t); err != nil {
		return Memory{}, err
	}
	return m, nil
}

// Delete implements Service.Delete.
func (s *Store) Delete(ctx context.Context, id string) error {
	const op = "pathway.delete"
	if err := checkMemoryID(op, id); err != nil {
		return err
	}
	s.lockForWrite()
	e := s.lookup(id)
	if e == nil {
		s.mu.Unlock()
		return errs.Errorf(op, errs.NotFound, "no memory %s", id)
	}
	old := e.m.Memory
	rec := record{Op: "delete", TS: s.now().UTC(), ID: id, Old: &old}
	t := s.commit([]record{rec}, [][]float32{nil}, false)
	s.mu.Unlock()
	return s.wait(op, t)
}

// DeleteAll implements Service.DeleteAll.
func (s *Store) DeleteAll(ctx context.Context, scope Scope) (int, error) {
	const op = "pathway.delete_all"
	if err := problems(op, scope.validate(true)); err != nil {
		return 0, err
	}
	s.lockForWrite()
	now := s.now().UTC()
	var recs []record
	s.inScopePending(scope, func(e *entry) {
		old := e.m.Memory
		recs = append(recs, record{Op: "delete", TS: now, ID: e.m.ID, Old: &old})
	})
	if len(recs) == 0 {
		t := s.barrier() // a pending delete may be why the scope looks empty
		s.mu.Unlock()
		return 0, s.wait(op, t)
	}
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.ID, b.ID) })
	t := s.commit(recs, make([][]float32, len(recs)), false)
	s.mu.Unlock()
	if err := s.wait(op, t); err != nil {
		return 0, err
	}
	return len(recs), nil
}

// History implements Service.History: only the page is copied, under the
// read lock.
func (s *Store) History(ctx context.Context, id string, opts HistoryOptions) (HistoryResponse, error) {
	const op = "pathway.history"
	if err := checkMemoryID(op, id); err != nil {
		return HistoryResponse{}, err
	}
	start, limit, err := parsePage(op, opts.After, opts.Limit, DefaultHistoryLimit, MaxHistoryLimit)
	if err != nil {
		return HistoryResponse{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.history[id]
	if len(h) == 0 {
		return HistoryResponse{}, errs.Errorf(op, errs.NotFound, "no memory %s", id)
	}
	size := func(e *HistoryEntry) int {
		n := 200 // the row's other fields as JSON, roughly
		if e.OldMemory != nil {
			n += len(*e.OldMemory)
		}
		if e.NewMemory != nil {
			n += len(*e.NewMemory)
		}
		return n
	}
	start = min(start, len(h))
	end, used := start, 0
	for end < len(h) && end-start < limit && (end == start || used+size(&h[end]) <= MaxHistoryPageBytes) {
		used += size(&h[end])
		end++
	}
	res := HistoryResponse{Results: slices.Clone(h[start:end])}
	if res.Results == nil {
		res.Results = []HistoryEntry{}
	}
	if end < len(h) {
		res.Next = strconv.Itoa(end - 1)
	}
	return res, nil
}

// Search implements Service.Search. A page is cut from the ranking by
// (score, id) after the cursor, so paging needs no server state: a memory
// that is neither changed nor deleted meanwhile is listed exactly once
// (the query's vector and the memories' are recomputed the same way).
func (s *Store) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	flt, alts, err := req.filter()
	if err != nil {
		return SearchResponse{}, err
	}
	cur, paged := parseSearchCursor(req.After)
	plan := planQuery(req.Query)
	text := req.Query
	if !s.legacySearch && plan.text != "" {
		text = plan.text // "Where does Alice live?" is embedded as "alice live"
	}
	vecs, err := s.embed(ctx, []string{text})
	if err != nil {
		return SearchResponse{}, err
	}
	q := vecs[0]
	// Rank (score, entry) pairs and copy only the page's memories (copying
	// every memory in scope cost more than scoring it); the copy is made
	// under the read lock, as entries change under the write lock.
	type hit struct {
		sc float64
		e  *entry
	}
	var hits []hit
	var out []SearchResult
	s.mu.RLock()
	s.inScopes(req.Scope, alts, func(e *entry) {
		if flt != nil && !flt.match(&e.m) {
			return
		}
		sc := cosine(q, e.vec)
		if !s.legacySearch {
			sc = plan.searchScore(sc, &e.terms, e.sh.holder)
		}
		if (req.Threshold == nil || sc >= *req.Threshold) && (!paged || cur.before(sc, e.m.ID)) {
			hits = append(hits, hit{sc, e})
		}
	})
	order := func(a, b hit) int { // ranking order: best first
		return cmp.Or(cmp.Compare(b.sc, a.sc), cmp.Compare(a.e.m.ID, b.e.m.ID))
	}
	limit := req.Limit
	if limit == 0 {
		limit = req.TopK // the same when both are given (validate)
	}
	top := topK(hits, limitOf(limit), order)
	out = make([]SearchResult, len(top))
	for i := range out {
		out[i] = SearchResult{Memory: top[i].e.m, Score: top[i].sc}
	}
	s.mu.RUnlock()
	end := pageEnd(len(out), len(out), func(i int) int { return jsonSize(&out[i]) })
	if end < len(hits) {
		last := out[end-1]
		return SearchResponse{Results: out[:end], Next: searchCursor{last.Score, last.ID}.String()}, nil
	}
	return SearchResponse{Results: out}, nil
}

// AppendTrace implements Service.AppendTrace.
func (s *Store) AppendTrace(ctx context.Context, req TraceRequest) (TraceAppendResponse, error) {
	const op = "pathway.traces"
	if err := req.Validate(); err != nil {
		return TraceAppendResponse{}, err
	}
	s.lockForWrite()
	now := s.now().UTC()
	recs := make([]record, len(req.Steps))
	for i := range req.Steps {
		st := req.Steps[i]
		if st.TS.IsZero() {
			st.TS = now
		}
		// UTC like every other time pathwayd answers; a step's "+01:00"
		// came back as sent (ADR-111).
		st.TS = st.TS.UTC()
		recs[i] = record{Op: "step", TS: now, RunID: req.RunID, Step: &st}
	}
	t := s.commit(recs, make([][]float32, len(recs)), false)
	total := len(s.traces[req.RunID]) + s.pendSteps[req.RunID]
	s.mu.Unlock()
	if err := s.wait(op, t); err != nil {
		return TraceAppendResponse{}, err
	}
	return TraceAppendResponse{RunID: req.RunID, Appended: len(req.Steps), Total: total}, nil
}

// parseTraceOptions checks opts and returns the first step index of the
// page and its step limit.
func parseTraceOptions(opts TraceOptions) (start, limit int, err error) {
	return parsePage("pathway.trace", opts.After, opts.Limit, DefaultTraceLimit, MaxTraceLimit)
}

// parsePage checks an index page's after (the previous page's next: the
// index of its last item) and limit (0 = def, at most max), and returns
// the first index of the page and its limit.
func parsePage(op, after string, lim, def, max int) (start, limit int, err error) {
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil || n < 0 {
			return 0, 0, errs.Errorf(op, errs.Invalid, "after %q: want an index (the previous page's next)", after)
		}
		// n+1 without overflow: after=9223372036854775807 made start
		// negative and the page slice panicked (a 500). Any index past
		// the end is an empty last page.
		start = min(n, math.MaxInt-1) + 1
	}
	switch {
	case lim < 0 || lim > max:
		return 0, 0, errs.Errorf(op, errs.Invalid, "limit %d: want 1..%d", lim, max)
	case lim == 0:
		limit = def
	default:
		limit = lim
	}
	return start, limit, nil
}

// Trace implements Service.Trace: only the page is copied, under the read
// lock, so the cost of an answer is bounded by the page, not the run.
func (s *Store) Trace(ctx context.Context, runID string, opts TraceOptions) (Trace, error) {
	if runID == "" || checkID(runID) != "" {
		return Trace{}, errs.Errorf("pathway.trace", errs.Invalid, "run_id %q: want 1..%d printable characters", runID, MaxIDLen)
	}
	start, limit, err := parseTraceOptions(opts)
	if err != nil {
		return Trace{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	steps := s.traces[runID]
	if len(steps) == 0 {
		return Trace{}, errs.Errorf("pathway.trace", errs.NotFound, "no trace for run %s", runID)
	}
	start = min(start, len(steps))
	end, used := start, 0
	for end < len(steps) && end-start < limit && (end == start || used+steps[end].size <= MaxTracePageBytes) {
		used += steps[end].size
		end++
	}
	t := Trace{RunID: runID, Steps: slices.Clone(steps[start:end]), Total: len(steps)}
	if t.Steps == nil {
		t.Steps = []Step{}
	}
	if end < len(steps) {
		t.Next = strconv.Itoa(end - 1)
	}
	return t, nil
}

// Close commits what is queued and closes state.jsonl.
func (s *Store) Close(ctx context.Context) error { return s.j.Close() }

// JournalStats exposes the group committer's counters (fsyncs, entries).
func (s *Store) JournalStats() journal.Stats { return s.j.Stats() }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// diskReason is the OS's words for a journal failure ("no space left on
// device"), without the path.
func diskReason(err error) string { return errs.OSReason(err, "the disk refused the write") }

// JournalFailed is the journal's refusal while it refuses writes (nil when
// it takes them), for /health.
func (s *Store) JournalFailed() error {
	if err := s.j.Failed(); err != nil {
		return errs.Errorf("pathway.journal", errs.Unavailable, "state.jsonl refused the last write (%s); writes resume when the disk takes one again", diskReason(err))
	}
	return nil
}
