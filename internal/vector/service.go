package vector

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector/hnsw"
	"lakehouse-go/internal/vector/lhv1"
	"lakehouse-go/internal/vector/wal"
)

// SnapshotPrefix is where LHV1 snapshots live in storaged:
// _vectors/{name}/index.lhv1, replaced atomically by each snapshot.
const SnapshotPrefix = "_vectors/"

func snapshotKey(name string) string { return SnapshotPrefix + name + "/index.lhv1" }

// Limits of one request.
const (
	MaxK           = 10_000
	DefaultK       = 10 // a search that gives no k (DESIGN.md's example; matrixd's default too)
	MaxUpsertItems = 100_000
	// MaxMetadataBytes bounds one item's metadata: the JSON object as sent
	// ({"field":value,...}, as encoding/json writes it without HTML
	// escaping) is at most 64 KiB. Metadata lives in memory, in every
	// snapshot and in every search answer, so it is a small payload
	// (labels, ids, short text), not a document store; a larger one is
	// refused with 413 too_large naming the item, and nothing of its batch
	// is applied. Items stored before the limit load as they are.
	MaxMetadataBytes = 64 << 10
)

// index is one live index with its writer lock and persistence marks.
type index struct {
	name string
	ix   *hnsw.Index
	wmu  sync.Mutex // orders WAL append + apply for this index
	// lastSeq is the seq of the last WAL record applied; snapSeq the seq the
	// stored snapshot covers. lastSeq > snapSeq = dirty.
	lastSeq, snapSeq uint64
	// pending counts the items (upserted or deleted) logged since the
	// stored snapshot: what a start after a kill -9 would link into the
	// graph again. A pass Run takes for snapshot_ops snapshots the indexes
	// with the most first (snapshotPass).
	pending int64
	// snapAt is when the last snapshot of the index was stored and
	// snapDur how long it took (encode and store); a bounded pass spaces
	// the index's snapshots by snapDuty times that (snapshotPass).
	snapAt  time.Time
	snapDur time.Duration
	// snapHeld is how long the last snapshot held the writer lock: what
	// a write to the index waited for it at most (ADR-135).
	snapHeld time.Duration
}

// Store is vectord's Service: HNSW indexes in memory, every change appended
// to the write-ahead log (fsync, group commit) before it is applied and
// acknowledged, LHV1 snapshots written to storaged in the background, and
// the log truncated behind them.
//
// A Store loads in the background (Start): every snapshot, then the log.
// Until that has succeeded as a whole it serves nothing — every call is
// Unavailable naming what could not be read — so no index is ever served
// half-loaded, empty for want of its snapshot, or written over; a failed
// load is retried with backoff until it succeeds or the Store is closed.
// Damage confined to some indexes does not fail the load (ADR-095): a
// snapshot the log cannot rebuild, one in an LHV1 version this build does
// not read, or a damaged log record that may have been an index's change
// holds those indexes unservable (broken) and the others are served.
type Store struct {
	log     *slog.Logger
	objects storage.Store
	dir     string
	w       *wal.WAL // set by the load, before ready
	// lock is dir's exclusive lock (shared.LockDir), taken by Start before
	// anything in dir is read or written and released by Close: a second
	// vectord on the same directory would interleave its log records
	// with this one's.
	lock *shared.DirLock

	// ready is set once the load has succeeded; indexes, pendingDrops and w
	// are written by the load only before it, so a caller that saw ready
	// sees them whole.
	ready    atomic.Bool
	loadDone chan struct{} // closed when the loader has returned
	stopLoad context.CancelFunc
	loadMu   sync.Mutex
	loadErr  error // the last failed attempt's error while not ready

	mu      sync.RWMutex
	indexes map[string]*index
	// pendingDrops maps a dropped index to its drop seq while its snapshot
	// object may still exist; the log is not truncated past it until the
	// object is gone (else a restart would resurrect the index).
	pendingDrops map[string]uint64
	// broken holds the indexes vectord cannot serve (ADR-095), set by the
	// load before ready: every route on one answers its error, nothing
	// writes its snapshot object, and the log keeps what it holds of it,
	// until DELETE drops it.
	broken map[string]*broken

	// accepted (a scratch Store of Recover only) collects the damaged log
	// records replay steps over instead of holding indexes for them.
	accepted *[]wal.Damage

	snapMu       sync.Mutex // one snapshot pass at a time
	opsSinceSnap int64
	// snapOps is Run's ops bound (snapshot_ops; 0: by time only) and kick
	// wakes Run as soon as a write takes opsSinceSnap to it: a restart
	// after a kill -9 links at most about that many items into the graph
	// again (ADR-130), not up to a tick's writes more.
	snapOps atomic.Int64
	kick    chan struct{}
	// boundedAfter (UnixNano) holds Run's next bounded pass back while
	// the indexes it would write are within their snapDuty spacing.
	boundedAfter atomic.Int64
	// replayedItems counts the items the load's replay applied (upserted
	// or deleted: records no snapshot covered); snapAfterLoad asks Run for
	// a snapshot pass at once when they were many (loadSnapshotItems).
	replayedItems int64
	snapAfterLoad atomic.Bool

	// What reloadHeld did (vectord's /metrics): looks at a held index's
	// object, reads of it (it had changed), and held indexes it loaded.
	heldChecks, heldReads, heldLoaded atomic.Int64
	// What Recover did (ADR-116): indexes recovered, and the log records
	// their recoveries accepted as lost.
	recovered, lostRecords atomic.Int64
	healthLook             atomic.Bool   // health's background reloadAllHeld is running
	headTimeout            time.Duration // heldHeadTimeout, set by Start
	lookers                chan struct{} // a slot per look reloadAllHeld runs (heldLookers)
}

var _ Service = (*Store)(nil)

// broken is an index vectord holds but cannot serve: its snapshot is
// damaged and the log cannot rebuild it (a 502 naming the object), its
// snapshot is in an LHV1 version this build does not read (502), or a
// damaged log record may have been one of its changes (503 naming the
// record). What is stored stays as it is for the operator (restore the
// object from a backup — read again on the next request, ADR-105 — or
// DELETE the index); the
// other indexes are served meanwhile. It stopped the whole vectord before
// (ADR-091's "left alone").
type broken struct {
	err error // what every route on the index answers
	// hold is the first log record that names the index (0: none): the log
	// is not truncated past it while the index is broken, so a snapshot
	// restored from a backup still gets the writes logged after it.
	hold uint64
	// seen is the snapshot object as it was read when the index was held
	// (or last re-read): reloadHeld reads it again only once it differs.
	seen objState

	// lost is the damaged log record the index is held for (breakByLog),
	// nil for a hold of another cause; Recover serves such an index.
	lost *wal.Damage

	// last is the seq of the index's last change below hold, when known
	// (lastKnown): every change of the index the log may no longer hold
	// is at or below it: the seq of the snapshot vectord last wrote (the
	// hold keeps every record of the index after it). A snapshot restored later
	// lacks changes the log does not fill in only if it is older than
	// last; reloadHeld warns then and only then (it warned whenever the
	// log started after the snapshot, normal after truncations driven by
	// other indexes). Unknown for a snapshot in a newer version or one
	// whose header is unreadable: the warning as before.
	last      uint64
	lastKnown bool

	mu      sync.Mutex // held by the one reloadHeld (or Recover) at work; guards checked
	checked time.Time  // reloadHeld's last look at the object
}

// A held index's snapshot object is looked at (a HEAD, bounded by
// heldHeadTimeout) at most once per heldRecheck, by the requests that name
// the index (and the list); it is read again only when its etag or size
// changed since it was last read, bounded by heldReadTimeout.
const (
	heldRecheck     = time.Second
	heldReadTimeout = 10 * time.Minute
	// A list (and /health's background look) looks at the held indexes at
	// most heldLookers at a time and waits for them at most heldListWait
	// all together: it answers what is known then, the looks not finished
	// go on in the background (a later request sees what they found), so
	// a hung storaged costs a list heldListWait, not a HEAD's bound per
	// held index.
	heldLookers  = 4
	heldListWait = 2 * time.Second
)

// heldHeadTimeout bounds one look (a HEAD) at a held index's object; a
// var only for tests, copied into the Store by Start.
var heldHeadTimeout = 5 * time.Second

// Load retry backoff: the first retry after loadRetryMin, doubling up to loadRetryMax.
const (
	loadRetryMin = 200 * time.Millisecond
	loadRetryMax = 5 * time.Second
)

// Start returns a Store that loads in the background: every snapshot from
// objects, then the log in dir. Until the load has succeeded every call
// answers Unavailable (see Store); Close stops the loader.
func Start(log *slog.Logger, objects storage.Store, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, errs.E("vector.Open", errs.Internal, err)
	}
	lock, err := shared.LockDir(dir)
	if err != nil {
		return nil, errs.E("vector.Open", errs.Unavailable, err)
	}
	// Snapshot temp files (snapshotOne) left by a process killed while
	// encoding or uploading: no snapshot of this one runs yet.
	if left, err := filepath.Glob(filepath.Join(dir, snapTempPattern)); err == nil {
		for _, f := range left {
			if err := os.Remove(f); err != nil {
				log.Warn("remove a left snapshot temp file", "op", "vector.Open", "file", f, "err", err.Error())
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{log: log, objects: objects, dir: dir, lock: lock, indexes: map[string]*index{}, pendingDrops: map[string]uint64{},
		broken: map[string]*broken{}, loadDone: make(chan struct{}), stopLoad: cancel, kick: make(chan struct{}, 1),
		headTimeout: heldHeadTimeout, lookers: make(chan struct{}, heldLookers)}
	go s.loadLoop(ctx)
	return s, nil
}

// Open is Start waiting for the load: it returns the loaded Store, or the
// error of a load that retrying cannot fix (a log whose header is damaged;
// damage confined to some indexes holds only those, ADR-095), or
// the last error once wait has passed (storage still unavailable).
func Open(ctx context.Context, log *slog.Logger, objects storage.Store, dir string, wait time.Duration) (*Store, error) {
	s, err := Start(log, objects, dir)
	if err != nil {
		return nil, err
	}
	if err := s.await(ctx, wait, wait); err != nil {
		s.stopLoader()
		if !s.ready.Load() { // else the load won the race with the stop
			s.lock.Unlock()
			return nil, err
		}
	}
	return s, nil
}

// await waits for the load: nil once it has succeeded; the error of a
// failed attempt that retrying cannot fix; the last error once attempts
// have failed for grace; an Unavailable error when wait has passed (or
// ctx ended) with the first attempt still running. The load goes on in
// every case but the second.
func (s *Store) await(ctx context.Context, grace, wait time.Duration) error {
	start := time.Now()
	for !s.ready.Load() {
		err := s.lastLoadErr()
		if err != nil && (!retryable(err) || time.Since(start) >= grace) {
			return err
		}
		if time.Since(start) >= wait || ctx.Err() != nil {
			return s.notReady("vector.load")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// retryable reports whether a failed load may succeed later by itself
// (storage down or slow) rather than needing an operator (damage).
func retryable(err error) bool {
	return errs.Is(err, errs.Unavailable) || errs.Is(err, errs.Timeout)
}

func (s *Store) lastLoadErr() error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	return s.loadErr
}

// loadLoop runs load until it succeeds or ctx ends, with backoff.
func (s *Store) loadLoop(ctx context.Context) {
	defer close(s.loadDone)
	backoff := loadRetryMin
	var lastMsg string
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := s.load(ctx)
		if err == nil {
			if attempt > 1 {
				s.log.Info("vector indexes loaded after storage came back", "op", "vector.load", "attempts", attempt)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.loadMu.Lock()
		s.loadErr = err
		s.loadMu.Unlock()
		// One line when the cause changes, then about one a minute.
		if msg := err.Error(); msg != lastMsg || attempt%12 == 0 {
			lastMsg = msg
			lvl := slog.LevelWarn
			if !retryable(err) {
				lvl = slog.LevelError
			}
			s.log.Log(ctx, lvl, "vector indexes not loaded; requests answer 503 until they are; retrying", "op", "vector.load",
				"attempt", attempt, "err", msg, "dur_ms", time.Since(start).Milliseconds(), "retry_in_ms", backoff.Milliseconds())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, loadRetryMax)
	}
}

// stopLoader stops the background load and waits for it.
func (s *Store) stopLoader() {
	s.stopLoad()
	<-s.loadDone
}

// errNotLoaded marks notReady's errors (its kind keeps it out of the
// message): the routes answer them with Retry-After (retryWhileLoading).
var errNotLoaded = &errs.Error{Kind: errs.Internal, Msg: "the load has not finished"}

// notReady is the Unavailable error of a call before the load has succeeded.
func (s *Store) notReady(op string) error {
	if s.ready.Load() {
		return nil
	}
	if err := s.lastLoadErr(); err != nil {
		return errs.E(op, errs.Unavailable, fmt.Sprintf("vector indexes are not loaded yet: reading their snapshots from storaged failed (%s); vectord retries in the background", errs.Message(err)), errNotLoaded)
	}
	return errs.E(op, errs.Unavailable, "vector indexes are still loading from storaged", errNotLoaded)
}

// health is /health's check: "degraded" until the indexes are loaded, and
// while the write-ahead log refuses appends after a failed fsync (until
// vectord restarts and replays it).
func (s *Store) health(op string) error {
	if err := s.notReady(op); err != nil || !s.ready.Load() {
		return err
	}
	if err := s.w.Err(); err != nil {
		return errs.Errorf(op, errs.Unavailable, "vectord's write-ahead log failed to sync (%s); writes are refused until vectord restarts", errs.OSReason(err, "an I/O error"))
	}
	if bad := s.unreadable(); len(bad) > 0 {
		// Look at the held indexes' objects in the background (ADR-105):
		// /health itself never waits for storage, and an operator who
		// restored an object sees /health turn ok without sending a
		// request for the index.
		if s.healthLook.CompareAndSwap(false, true) {
			go func() {
				defer s.healthLook.Store(false)
				s.reloadAllHeld(context.Background())
			}()
		}
		msgs := make([]string, len(bad))
		for i, u := range bad {
			msgs[i] = u.Error.Message
		}
		return errs.Errorf(op, errs.Unavailable, "%d index(es) cannot be served (the others are): %s", len(bad), strings.Join(msgs, "; "))
	}
	return nil
}

// unreadable lists the broken indexes by name.
func (s *Store) unreadable() []Unreadable {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.unreadableLocked()
}

// unreadableLocked is unreadable with s.mu held.
func (s *Store) unreadableLocked() []Unreadable {
	out := make([]Unreadable, 0, len(s.broken))
	for name, b := range s.broken {
		out = append(out, Unreadable{Name: name, Error: UnreadableError{Kind: errs.KindOf(b.err), Message: errs.Message(b.err)}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// load reads every snapshot, replays the log and opens it for appends,
// then marks the Store ready. A failed attempt leaves nothing behind: the
// next one starts afresh.
func (s *Store) load(ctx context.Context) error {
	start := time.Now()
	s.replayedItems = 0 // a failed attempt's count is not this one's
	indexes, damaged, states, err := s.loadSnapshots(ctx)
	if err != nil {
		return err
	}
	s.indexes, s.pendingDrops, s.broken = indexes, map[string]uint64{}, map[string]*broken{}
	walPath := s.walPath()
	replayed, created, first, info, err := s.replayLog(ctx, walPath, "", damaged)
	if err != nil {
		return err
	}
	s.checkDamaged(damaged, created, first)
	for name, b := range s.broken {
		b.seen = states[name] // absent when there is no object
	}
	// Replayed changes are linked into the graph again on every start
	// until a snapshot covers them: ask Run for a pass at once when they
	// were many, not a whole interval later (a vectord killed more often
	// than its interval replayed its whole log on every start, the log
	// growing: 7-16 s for 40-90k vectors on 2 cores, ADR-122).
	s.mu.Lock() // Run may be asking already (a load that outlived startWait)
	s.opsSinceSnap = s.replayedItems
	s.mu.Unlock()
	w, err := wal.OpenDamaged(walPath)
	if err != nil {
		return err
	}
	s.w = w
	var vecs int
	for _, ix := range s.indexes {
		vecs += ix.ix.Len()
		// A log that numbers below a snapshot (the log lost with vectord's
		// directory, the snapshots kept in storaged) would give the next
		// writes seqs the snapshot covers: no snapshot pass would write
		// them and replay would skip them. It continues after them.
		w.Advance(ix.lastSeq + 1)
	}
	n, unservable := len(s.indexes), len(s.broken)
	s.loadMu.Lock()
	s.loadErr = nil
	s.loadMu.Unlock()
	s.ready.Store(true) // from here on the indexes are the callers' (s.mu)
	if s.replayedItems >= loadSnapshotItems {
		s.snapAfterLoad.Store(true) // after ready: a pass before it does nothing
	}
	s.log.Info("vector indexes loaded", "op", "vector.load", "indexes", n, "vectors", vecs, "unservable", unservable,
		"wal_records", replayed, "replayed_items", s.replayedItems, "torn_bytes", info.TornBytes, "wal_damaged", info.Damaged, "dur_ms", time.Since(start).Milliseconds())
	return nil
}

// replayLog replays the log at walPath into s's maps (indexes, broken,
// pendingDrops, as the load sets them up): every record, or only those of
// index only when it is not "" (a held index re-read, reloadHeld). damaged
// names the snapshots that did not decode. It returns the records replayed,
// the indexes whose create or drop record the log holds, each index's first
// record, and what the scan found.
func (s *Store) replayLog(ctx context.Context, walPath, only string, damaged map[string]error) (int, map[string]bool, map[string]uint64, wal.Info, error) {
	replayed := 0
	created := map[string]bool{} // indexes whose create or drop record the log holds
	first := map[string]uint64{} // each index's first record in the log
	var lost *wal.Damage         // the last damaged log record seen
	info, err := wal.ReplayDamaged(walPath, func(rec wal.Record) error {
		if only != "" && rec.Index != only {
			return nil
		}
		replayed++
		if rec.Op == wal.OpCreate || rec.Op == wal.OpDrop {
			created[rec.Index] = true
		}
		if _, ok := first[rec.Index]; !ok {
			first[rec.Index] = rec.Seq
		}
		// A change to an index neither loaded nor created before it, after
		// a damaged record: the lost record may have been its create.
		if lost != nil && (rec.Op == wal.OpUpsert || rec.Op == wal.OpDelete) &&
			s.indexes[rec.Index] == nil && s.broken[rec.Index] == nil && damaged[rec.Index] == nil {
			s.breakByLog(rec.Index, *lost, 0)
		}
		return s.replay(ctx, rec)
	}, func(d wal.Damage) error {
		lost = &d
		if s.accepted != nil { // Recover: the loss is accepted, the index not held for it
			*s.accepted = append(*s.accepted, d)
			return nil
		}
		s.log.Error("damaged record in the write-ahead log (not a torn tail): the indexes it may have changed are not served, the others are",
			"op", "vector.load", "offset", d.Offset, "bytes", d.Bytes, "first_seq", d.FirstSeq, "next_seq", d.NextSeq)
		last := max(d.FirstSeq, d.NextSeq-1)
		for name, ix := range s.indexes {
			if ix.snapSeq < last { // its snapshot does not cover every lost record
				s.breakByLog(name, d, first[name])
			}
		}
		return nil
	})
	return replayed, created, first, info, err
}

// reloadHeld looks again at held index name's snapshot object (ADR-105):
// an operator who restores it from a backup (a PUT through storaged at the
// same key) expects vectord to serve it without a restart, as a Qdrant
// operator expects a restored collection to load. At most once per
// heldRecheck it asks storaged for the object's etag and size (a HEAD);
// only when they differ from what was last read does it read the object
// again and replay the index's records from the log, exactly as the load
// does for one index. If that gives the index whole, it is served (no
// longer unreadable); if not, it stays held with the new reason. Nothing is
// written: not the object, not the log (whose records of the index were
// kept since the hold). A read storaged could not finish is not judged:
// the next look reads again. One request does the work; the others answer
// what is known meanwhile (the hold) rather than wait; a DELETE meanwhile
// wins (nothing is installed over it).
func (s *Store) reloadHeld(ctx context.Context, name string) {
	s.mu.RLock()
	b := s.broken[name]
	s.mu.RUnlock()
	if b == nil {
		return
	}
	if !b.mu.TryLock() {
		return // another request is at it: this one answers what is known
	}
	defer b.mu.Unlock()
	if time.Since(b.checked) < heldRecheck || !s.stillHeld(name, b) {
		return
	}
	b.checked = time.Now()
	// Not the request's: a client that gives up does not cut a read
	// half-way, to be started again by the next request; bounded all the
	// same, the look much shorter (a hung storaged must not hold up a list).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), heldReadTimeout)
	defer cancel()
	key := snapshotKey(name)
	s.heldChecks.Add(1)
	var now objState
	hctx, hcancel := context.WithTimeout(ctx, s.headTimeout)
	oi, err := s.objects.Head(hctx, key)
	hcancel()
	switch {
	case err == nil:
		now = stateOf(oi)
	case errs.Is(err, errs.NotFound):
	default:
		s.log.Debug("held index: could not look at its snapshot object; it stays held", "op", "vector.reload", "index", name, "key", key, "err", err.Error())
		return
	}
	if now == b.seen {
		return
	}
	s.heldReads.Add(1)
	start := time.Now()
	ix, derr, st, err := s.readSnapshot(ctx, key)
	if err != nil && !errs.Is(err, errs.NotFound) {
		s.log.Warn("held index: its snapshot object changed but could not be read; it stays held and is read again on a later request", "op", "vector.reload", "index", name, "key", key, "err", err.Error())
		return
	}
	// The load, for this index alone, into a scratch Store.
	l, err := s.loadAlone(ctx, name, ix, derr, nil)
	scratch, snapSeq, replayed, info := l.st, l.snapSeq, l.replayed, l.info
	if err != nil {
		s.log.Warn("held index: its snapshot object changed but the write-ahead log could not be read; it stays held", "op", "vector.reload", "index", name, "err", err.Error())
		return
	}
	nix, nb := scratch.indexes[name], scratch.broken[name]
	if nb == nil && nix == nil {
		msg := fmt.Sprintf("index %q cannot be served: its snapshot %s is no longer in storage; restore it from a backup (vectord reads it again on the next request for the index), or DELETE the index to drop it", name, key)
		if st.present {
			msg = fmt.Sprintf("index %q cannot be served: its snapshot %s was read again but the write-ahead log drops the index after it; DELETE the index to drop it", name, key)
		}
		nb = &broken{err: errs.E("vector", errs.Unavailable, http.StatusBadGateway, msg)}
	}

	s.mu.Lock()
	if s.broken[name] != b {
		s.mu.Unlock()
		return // dropped (DELETE) while it was read: nothing is installed over it
	}
	if nb == nil {
		if next := s.w.NextSeq(); nix.lastSeq >= next {
			// A snapshot from another history covers seqs this log has not
			// assigned yet: the next writes must come after it, or replay
			// would skip them as covered.
			s.w.Advance(nix.lastSeq + 1)
		}
		delete(s.broken, name)
		s.indexes[name] = nix
		s.mu.Unlock()
		s.heldLoaded.Add(1)
		s.log.Info("held index loaded: its snapshot object changed and reads whole; it is served again", "op", "vector.reload", "index", name, "key", key,
			"snapshot_seq", snapSeq, "log_records", replayed, "items", nix.ix.Len(), "dur_ms", time.Since(start).Milliseconds())
		// Changes of the index after the snapshot that the log no longer
		// holds are lost: only when the log starts after it and the index
		// had changes after it below its hold (b.last); unknown: warned.
		if ix != nil && info.BaseSeq > snapSeq+1 && (!b.lastKnown || b.last > snapSeq) {
			if b.lastKnown && b.last < info.BaseSeq { // that change at least is lost
				s.log.Warn("held index loaded from a snapshot older than the one it replaces, and the write-ahead log no longer holds the changes between them: they are not in the index",
					"op", "vector.reload", "index", name, "snapshot_seq", snapSeq, "replaced_seq", b.last, "log_first_seq", info.BaseSeq)
			} else {
				s.log.Warn("held index loaded from a snapshot older than the write-ahead log: changes logged between them (if the index had any) are not in it",
					"op", "vector.reload", "index", name, "snapshot_seq", snapSeq, "log_first_seq", info.BaseSeq)
			}
		}
		return
	}
	nb.seen, nb.checked = st, b.checked
	// What vectord knew of the index's changes when it held it stays: the
	// new object is the operator's, not a snapshot vectord wrote.
	nb.last, nb.lastKnown = b.last, b.lastKnown
	if b.hold > 0 && (nb.hold == 0 || b.hold < nb.hold) {
		nb.hold = b.hold // the log keeps what it kept
	}
	s.broken[name] = nb
	s.mu.Unlock()
	s.log.Error("held index read again after its snapshot object changed: it still cannot be served", "op", "vector.reload", "index", name, "key", key,
		"err", errs.Message(nb.err))
}

// stillHeld reports whether b is still name's hold.
func (s *Store) stillHeld(name string, b *broken) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.broken[name] == b
}

// breakByLog holds index name broken for the damaged log record d, which
// may have been one of its changes (its checksum fails, so which index it
// was for is unknown): the index is not served, its snapshot object is not
// written, and the log keeps d until the index is dropped (ADR-095).
//
// The message names the log file, the byte offset and the sequence numbers,
// and both ways out (ADR-116): POST .../recover with {"accept_loss":true}
// serves the index from its snapshot object (restored from a backup first,
// if the operator likes) and every intact record, losing only what the
// damaged record held if it was this index's; or DELETE.
//
// first is the index's first record in the log (0: none): the hold keeps
// the log from there, not only from d — its intact records before the
// damage are changes its snapshot lacks, and another index's snapshot pass
// cut them, so a recover served the index without them (ADR-122).
func (s *Store) breakByLog(name string, d wal.Damage, first uint64) {
	var last uint64 // no object and no record before the damage: nothing below it
	if ix := s.indexes[name]; ix != nil {
		last = ix.snapSeq // its records after it are kept from first on
	}
	delete(s.indexes, name)
	seqs := fmt.Sprintf("sequence %d", d.FirstSeq)
	if d.NextSeq > d.FirstSeq+1 {
		seqs = fmt.Sprintf("sequences %d-%d", d.FirstSeq, d.NextSeq-1)
	}
	hold := d.FirstSeq
	if first > 0 && first < hold {
		hold = first
	}
	s.broken[name] = &broken{hold: hold, lost: &d, last: last, lastKnown: true, err: errs.Errorf("vector", errs.Unavailable,
		"index %q cannot be served: vectord's write-ahead log has a damaged record (byte %d, %s, %d bytes, in %s) that may have been one of its changes (its checksum fails, so which index it was for is unknown); nothing has been dropped: the log and the index's snapshot are kept as they are. "+
			"To serve the index from its snapshot and every intact log record, losing what the damaged record held if it was this index's, POST {\"accept_loss\":true} to %s/%s/recover (restore the snapshot object from a backup first to start from that); or DELETE the index to drop it and index its data again",
		name, d.Offset, seqs, d.Bytes, walFile+" in vectord's data_dir", IndexesPath, name)}
	s.log.Error("index not served: a damaged record of the write-ahead log may have been one of its changes", "op", "vector.load", "index", name,
		"log", s.walPath(), "offset", d.Offset, "bytes", d.Bytes, "seq", d.FirstSeq, "next_seq", d.NextSeq)
}

// walPath is the write-ahead log's file.
// walFile is the write-ahead log's name in vectord's data_dir. Answers
// name the file, never its path (ADR-078: the log line has the path).
const walFile = "vectord.wal"

func (s *Store) walPath() string { return filepath.Join(s.dir, walFile) }

// aloneLoad is what loadAlone made.
type aloneLoad struct {
	st       *Store   // the scratch Store, holding the index or its hold
	snapSeq  uint64   // the snapshot's sequence number (0: none)
	replayed int      // log records replayed
	first    uint64   // the index's first record in the log (0: none)
	info     wal.Info // the log's
}

// loadAlone loads index name alone into a scratch Store, as a start would:
// its snapshot ix (nil when there is none, or when it is damaged: derr),
// then its records of the log. A held index's reload uses it, and recover,
// which passes accepted to step over damaged frames.
func (s *Store) loadAlone(ctx context.Context, name string, ix *hnsw.Index, derr error, accepted *[]wal.Damage) (aloneLoad, error) {
	scratch := &Store{log: s.log, dir: s.dir, indexes: map[string]*index{}, pendingDrops: map[string]uint64{}, broken: map[string]*broken{}, accepted: accepted}
	damaged := map[string]error{}
	var snapSeq uint64
	switch {
	case ix != nil:
		snapSeq = ix.Seq()
		scratch.indexes[name] = &index{name: name, ix: ix, lastSeq: snapSeq, snapSeq: snapSeq}
	case derr != nil:
		damaged[name] = derr
	}
	replayed, created, first, info, err := scratch.replayLog(ctx, s.walPath(), name, damaged)
	if err != nil {
		return aloneLoad{}, err
	}
	scratch.checkDamaged(damaged, created, first)
	return aloneLoad{st: scratch, snapSeq: snapSeq, replayed: replayed, first: first[name], info: info}, nil
}

// checkDamaged decides about the snapshots that did not decode (damaged:
// name -> error). The log is a contiguous run of records, so one that holds
// an index's create record holds everything after it: replay has rebuilt
// the index whole, and its next snapshot replaces the damaged object; one
// that holds its drop record has dropped it (the object is removed as any
// dropped index's). Otherwise the log was truncated behind that snapshot
// and cannot rebuild it: the index is held broken (ADR-095) — never served
// partial or empty, its object never written over — and the others are
// served. first is each index's first record in the log.
func (s *Store) checkDamaged(damaged map[string]error, created map[string]bool, first map[string]uint64) {
	names := make([]string, 0, len(damaged))
	for name := range damaged {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		err := damaged[name]
		if s.broken[name] != nil {
			continue // held for a damaged log record already
		}
		if errors.Is(err, lhv1.ErrVersion) {
			if _, dropped := s.pendingDrops[name]; dropped && s.indexes[name] == nil {
				// The log drops it (after its last create): an acknowledged
				// DELETE whose object was not removed yet. Dropped as any
				// index, its object removed; it came back held before.
				s.log.Warn("snapshot in a format this vectord does not read, of an index the write-ahead log drops: dropped, the object is removed",
					"op", "vector.load", "index", name, "key", snapshotKey(name))
				continue
			}
			// Written by a newer vectord, most likely: never rebuilt from
			// the log and written over in the old format.
			delete(s.indexes, name)
			delete(s.pendingDrops, name)
			s.broken[name] = &broken{hold: first[name], err: errs.E("vector", errs.Unavailable, http.StatusBadGateway,
				fmt.Sprintf("index %q cannot be served: its snapshot %s in storage is in a format this vectord does not read (%s); run the vectord that wrote it, restore an object this vectord wrote (it is read again on the next request for the index), or DELETE the index to drop it",
					name, snapshotKey(name), errs.Message(err)))}
			s.log.Error("index not served: its snapshot is in a format this vectord does not read; the other indexes are served",
				"op", "vector.load", "index", name, "key", snapshotKey(name), "err", err.Error())
			continue
		}
		if !created[name] {
			b := &broken{hold: first[name], err: errs.E("vector", errs.Unavailable, http.StatusBadGateway,
				fmt.Sprintf("index %q cannot be served: its snapshot %s in storage is damaged (%s) and the write-ahead log no longer holds the index from its creation, so it cannot be rebuilt; restore the object from a backup (vectord reads it again on the next request for the index, no restart needed), or DELETE the index to drop it",
					name, snapshotKey(name), errs.Message(err)))}
			// Its changes the log no longer holds are all in the object
			// (the log is cut behind a snapshot only): through the seq its
			// header says, when the damage spared the header.
			var dh *damagedSnapshot
			if errors.As(err, &dh) && dh.seqOK {
				b.last, b.lastKnown = dh.seq, true
			}
			s.broken[name] = b
			s.log.Error("index not served: damaged snapshot the write-ahead log cannot rebuild; the other indexes are served",
				"op", "vector.load", "index", name, "key", snapshotKey(name), "err", err.Error())
			continue
		}
		count := 0
		if ix := s.indexes[name]; ix != nil {
			count = ix.ix.Len()
		}
		s.log.Warn("damaged snapshot ignored: the write-ahead log holds the index from its creation (or its drop) and rebuilt it; the next snapshot replaces the object",
			"op", "vector.load", "index", name, "key", snapshotKey(name), "items", count, "err", err.Error())
	}
}

// loadSnapshots reads every snapshot object: the decoded indexes, the
// errors of those that are damaged (lhv1.ErrCorrupt) or in a version this
// build does not read (lhv1.ErrVersion; see checkDamaged), and each
// object's state as read (for reloadHeld).
func (s *Store) loadSnapshots(ctx context.Context) (map[string]*index, map[string]error, map[string]objState, error) {
	var keys []string
	err := storage.ListAll(ctx, s.objects, SnapshotPrefix, func(o storage.ObjectInfo) error {
		if strings.HasSuffix(o.Key, "/index.lhv1") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	indexes := make(map[string]*index, len(keys))
	damaged := map[string]error{}
	states := make(map[string]objState, len(keys))
	for _, key := range keys {
		name := strings.TrimSuffix(strings.TrimPrefix(key, SnapshotPrefix), "/index.lhv1")
		ix, derr, st, err := s.readSnapshot(ctx, key)
		if err != nil {
			return nil, nil, nil, err
		}
		states[name] = st
		if derr != nil {
			damaged[name] = derr
			continue
		}
		seq := ix.Seq()
		indexes[name] = &index{name: name, ix: ix, lastSeq: seq, snapSeq: seq}
	}
	return indexes, damaged, states, nil
}

// objState is what a held index's snapshot object was when it was last
// read: absent, or its etag and size (its modified time when the backend
// gives no etag). A held index is re-read only once it differs.
type objState struct {
	present  bool
	etag     string
	size     int64
	modified time.Time
}

func stateOf(info storage.ObjectInfo) objState {
	st := objState{present: true, etag: info.ETag, size: info.Size}
	if st.etag == "" {
		st.modified = info.Modified
	}
	return st
}

// readSnapshot reads and decodes the snapshot object at key: the index, or
// derr when the object is damaged (lhv1.ErrCorrupt) or in a version this
// build does not read (lhv1.ErrVersion), and the object's state as read.
// err is a failed read (NotFound; storaged unavailable or stopped
// sending): the object is not judged.
func (s *Store) readSnapshot(ctx context.Context, key string) (ix *hnsw.Index, derr error, st objState, err error) {
	rc, oi, err := s.objects.Get(ctx, key, storage.Whole)
	if err != nil {
		return nil, nil, objState{}, err
	}
	r := &readErr{r: rc}
	var head headBytes
	ix, err = lhv1.Decode(io.TeeReader(r, &head))
	rc.Close()
	if r.err != nil && retryable(r.err) {
		// storaged stopped sending: a cut, not a damaged snapshot
		// (lhv1 reports both as corrupt); the next attempt reads it again.
		return nil, nil, objState{}, errs.E("vector.load", errs.KindOf(r.err), fmt.Sprintf("snapshot %s", key), r.err)
	}
	if errors.Is(err, lhv1.ErrCorrupt) || errors.Is(err, lhv1.ErrVersion) {
		d := &damagedSnapshot{err: err}
		d.seq, d.seqOK = lhv1.HeaderSeq(head.b)
		return nil, d, stateOf(oi), nil
	}
	if err != nil {
		return nil, nil, objState{}, errs.E("vector.load", errs.KindOf(err), fmt.Sprintf("snapshot %s", key), err)
	}
	return ix, nil, stateOf(oi), nil
}

// headBytes keeps the first lhv1.HeaderLen bytes written to it.
type headBytes struct{ b []byte }

func (h *headBytes) Write(p []byte) (int, error) {
	if n := lhv1.HeaderLen - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// damagedSnapshot is readSnapshot's error for an object that did not
// decode (it wraps lhv1's), with the seq its header gives (seqOK) when the
// header is one this build reads.
type damagedSnapshot struct {
	err   error
	seq   uint64
	seqOK bool
}

func (d *damagedSnapshot) Error() string { return d.err.Error() }
func (d *damagedSnapshot) Unwrap() error { return d.err }

// readErr keeps the first error of r other than io.EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// replay applies one logged record that the snapshots do not cover.
func (s *Store) replay(ctx context.Context, rec wal.Record) error {
	if s.broken[rec.Index] != nil { // by a damaged log record (breakByLog)
		if rec.Op != wal.OpCreate && rec.Op != wal.OpDrop {
			return nil
		}
		// A create is a new incarnation, whole from here (the old one was
		// dropped: a create is only logged for a name that does not
		// exist); a drop ends the one the lost record may have changed.
		delete(s.broken, rec.Index)
	}
	cur := s.indexes[rec.Index]
	if cur != nil && rec.Seq <= cur.snapSeq {
		return nil // covered by the snapshot
	}
	switch rec.Op {
	case wal.OpCreate:
		if cur != nil {
			return nil
		}
		var p hnsw.Params
		if err := json.Unmarshal(rec.Data, &p); err != nil {
			return errs.E("vector.replay", errs.Internal, fmt.Sprintf("create record %d", rec.Seq), err)
		}
		ix, err := hnsw.New(p)
		if err != nil {
			return err
		}
		ix.SetSeq(rec.Seq)
		s.indexes[rec.Index] = &index{name: rec.Index, ix: ix, lastSeq: rec.Seq}
		// A drop replayed before this create is no longer pending: a create
		// is logged only once the old incarnation's object is removed
		// (CreateIndex), and this incarnation's first snapshot writes the
		// key anyway — the log is not truncated before it (the index is
		// dirty from seq 0). Kept, nothing ever cleared it (removeDropped
		// skips a re-created name) and every snapshot pass kept the log
		// from that drop on, growing until a restart.
		delete(s.pendingDrops, rec.Index)
	case wal.OpDrop:
		delete(s.indexes, rec.Index)
		s.pendingDrops[rec.Index] = rec.Seq
	case wal.OpUpsert, wal.OpDelete:
		if cur == nil {
			return nil // the index was dropped later in the log
		}
		var err error
		n := int64(len(rec.IDs))
		if rec.Op == wal.OpUpsert {
			err = cur.ix.Upsert(rec.Items)
			n = int64(len(rec.Items))
		} else {
			_, err = cur.ix.Delete(rec.IDs)
		}
		s.replayedItems += n
		cur.pending += n
		if err != nil && !errs.Is(err, errs.Invalid) {
			return err
		}
		cur.ix.SetSeq(rec.Seq)
		cur.lastSeq = rec.Seq
	}
	return nil
}

func (s *Store) get(ctx context.Context, name string) (*index, error) {
	if err := ValidateIndexName(name); err != nil {
		return nil, err
	}
	if err := s.notReady("vector"); err != nil {
		return nil, err
	}
	s.mu.RLock()
	ix, b := s.indexes[name], s.broken[name]
	s.mu.RUnlock()
	if b != nil {
		// Held: its object may have been restored meanwhile (ADR-105).
		s.reloadHeld(ctx, name)
		s.mu.RLock()
		ix, b = s.indexes[name], s.broken[name]
		s.mu.RUnlock()
	}
	if b != nil {
		return nil, b.err
	}
	if ix == nil {
		return nil, errs.Errorf("vector", errs.NotFound, "index %q not found", name)
	}
	return ix, nil
}

// live reports whether ix is still the index registered under its name.
func (s *Store) live(ix *index) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.indexes[ix.name] == ix
}

func info(ix *index) IndexInfo { return IndexInfo{Name: ix.name, Stats: ix.ix.Stats()} }

// CreateIndex implements Service. Re-creating with the same params is a no-op.
func (s *Store) CreateIndex(ctx context.Context, name string, req CreateIndexRequest) (IndexInfo, error) {
	const op = "vector.CreateIndex"
	if err := ValidateIndexName(name); err != nil {
		return IndexInfo{}, err
	}
	p := hnsw.Params{Dims: req.Dims, Metric: hnsw.Metric(req.Metric), M: req.M, EfConstruction: req.EfConstruction}.WithDefaults()
	ix, err := hnsw.New(p)
	if err != nil {
		return IndexInfo{}, err
	}
	// Not before the load: the name may have a snapshot not read yet.
	if err := s.notReady(op); err != nil {
		return IndexInfo{}, err
	}
	s.reloadHeld(ctx, name) // a restored object: the index it holds, not a 409
	// snapMu: no snapshot pass may write this name's key while it is re-created.
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.broken[name]; b != nil {
		// As Qdrant's create of an existing collection: a 409, never a
		// new empty index over the damaged one.
		return IndexInfo{}, errs.Errorf(op, errs.Conflict, "index %q exists but cannot be served (%s); DELETE it first to drop it, then create it again", name, errs.Message(b.err))
	}
	if cur := s.indexes[name]; cur != nil {
		have := cur.ix.Params()
		have.Capacity, have.Seed = 0, 0
		want := p
		want.Capacity, want.Seed = 0, 0
		if have != want {
			return IndexInfo{}, errs.Errorf(op, errs.Conflict, "index %q exists with other params (dims %d, metric %s, m %d, ef_construction %d)", name, have.Dims, have.Metric, have.M, have.EfConstruction)
		}
		return info(cur), nil
	}
	if _, dropped := s.pendingDrops[name]; dropped {
		// The old incarnation's snapshot must go before the new one can be written.
		if err := s.objects.Delete(ctx, snapshotKey(name)); err != nil {
			return IndexInfo{}, errs.E(op, errs.KindOf(err), fmt.Sprintf("index %q was dropped and its old snapshot could not be removed yet", name), err)
		}
		delete(s.pendingDrops, name)
	}
	data, _ := json.Marshal(p)
	seq, err := s.w.Append(&wal.Record{Op: wal.OpCreate, Index: name, Data: data})
	if err != nil {
		return IndexInfo{}, s.walError(op, err)
	}
	ix.SetSeq(seq)
	cur := &index{name: name, ix: ix, lastSeq: seq}
	s.indexes[name] = cur
	return info(cur), nil
}

// GetIndex implements Service.
func (s *Store) GetIndex(ctx context.Context, name string) (IndexInfo, error) {
	ix, err := s.get(ctx, name)
	if err != nil {
		return IndexInfo{}, err
	}
	return info(ix), nil
}

// ListAll is GET /v1/vectors/indexes: the indexes served, and those held
// broken (ADR-095), each sorted by name — both read at one moment, so an
// index loaded or dropped meanwhile is in exactly one of them, or gone.
// A held index whose object changed is read again first (ADR-105).
func (s *Store) ListAll(ctx context.Context) (ListResponse, error) {
	if err := s.notReady("vector.ListIndexes"); err != nil {
		return ListResponse{}, err
	}
	s.reloadAllHeld(ctx)
	s.mu.RLock()
	out := s.served()
	bad := s.unreadableLocked()
	s.mu.RUnlock()
	return ListResponse{Indexes: out, Unreadable: bad}, nil
}

// ListIndexes implements Service: the indexes served (sorted by name).
func (s *Store) ListIndexes(ctx context.Context) ([]IndexInfo, error) {
	if err := s.notReady("vector.ListIndexes"); err != nil {
		return nil, err
	}
	s.reloadAllHeld(ctx)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.served(), nil
}

// served lists the indexes served, sorted by name (s.mu held).
func (s *Store) served() []IndexInfo {
	out := make([]IndexInfo, 0, len(s.indexes))
	for _, ix := range s.indexes {
		out = append(out, info(ix))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// reloadAllHeld is reloadHeld for every held index, in name order, at
// most heldLookers at a time (across all lists), waiting for them at most
// heldListWait (or until ctx ends): the looks do not add up, and those not
// finished then go on in the background (reloadHeld is not the request's).
// No lock of the Store is held while storaged is asked.
func (s *Store) reloadAllHeld(ctx context.Context) {
	s.mu.RLock()
	names := make([]string, 0, len(s.broken))
	for name := range s.broken {
		names = append(names, name)
	}
	s.mu.RUnlock()
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, name := range names {
			s.lookers <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-s.lookers; wg.Done() }()
				s.reloadHeld(ctx, name)
			}()
		}
		wg.Wait()
	}()
	t := time.NewTimer(heldListWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// DeleteIndex implements Service: logged, dropped from memory, snapshot removed.
// Lock order everywhere: snapMu, then an index's wmu, then mu.
func (s *Store) DeleteIndex(ctx context.Context, name string) error {
	const op = "vector.DeleteIndex"
	if err := ValidateIndexName(name); err != nil {
		return err
	}
	if err := s.notReady(op); err != nil {
		return err
	}
	if ok, err := s.dropBroken(ctx, name); ok {
		return err
	}
	ix, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	ix.wmu.Lock()
	s.mu.Lock()
	if s.indexes[name] != ix {
		s.mu.Unlock()
		ix.wmu.Unlock()
		return errs.Errorf(op, errs.NotFound, "index %q not found", name)
	}
	seq, err := s.w.Append(&wal.Record{Op: wal.OpDrop, Index: name})
	if err != nil {
		s.mu.Unlock()
		ix.wmu.Unlock()
		return s.walError(op, err)
	}
	delete(s.indexes, name)
	s.pendingDrops[name] = seq
	s.mu.Unlock()
	ix.wmu.Unlock()
	// Under snapMu: a snapshot pass that encoded this index before the drop
	// cannot store it after the delete below.
	s.snapMu.Lock()
	s.removeDropped(ctx)
	s.snapMu.Unlock()
	return nil
}

// dropBroken drops name if it is held broken (ok): logged as any drop, its
// snapshot object removed (as Qdrant's delete of a collection removes its
// files), so the name can be created again.
func (s *Store) dropBroken(ctx context.Context, name string) (ok bool, err error) {
	s.mu.Lock()
	if s.broken[name] == nil {
		s.mu.Unlock()
		return false, nil
	}
	seq, err := s.w.Append(&wal.Record{Op: wal.OpDrop, Index: name})
	if err != nil {
		s.mu.Unlock()
		return true, s.walError("vector.DeleteIndex", err)
	}
	delete(s.broken, name)
	s.pendingDrops[name] = seq
	s.mu.Unlock()
	s.log.Warn("index that could not be served dropped", "op", "vector.drop", "index", name, "key", snapshotKey(name))
	s.snapMu.Lock()
	s.removeDropped(ctx)
	s.snapMu.Unlock()
	return true, nil
}

// removeDropped deletes the snapshots of dropped indexes (retried by the snapshot loop).
func (s *Store) removeDropped(ctx context.Context) {
	s.mu.RLock()
	var names []string
	for n := range s.pendingDrops {
		names = append(names, n)
	}
	s.mu.RUnlock()
	for _, n := range names {
		s.mu.RLock()
		_, recreated := s.indexes[n]
		s.mu.RUnlock()
		if recreated {
			continue // CreateIndex removed the old snapshot before re-creating
		}
		if err := s.objects.Delete(ctx, snapshotKey(n)); err != nil {
			s.log.Warn("snapshot delete failed; will retry", "op", "vector.drop", "index", n, "err", err.Error())
			continue
		}
		s.mu.Lock()
		delete(s.pendingDrops, n)
		s.mu.Unlock()
	}
}

// Upsert implements Service: durable in the log before it is applied.
func (s *Store) Upsert(ctx context.Context, name string, items []Item) (int, error) {
	const op = "vector.Upsert"
	if len(items) == 0 {
		return 0, errs.Errorf(op, errs.Invalid, "items: empty; want at least one item")
	}
	if len(items) > MaxUpsertItems {
		return 0, errs.Errorf(op, errs.TooLarge, "%d items in one upsert; at most %d", len(items), MaxUpsertItems)
	}
	ix, err := s.get(ctx, name)
	if err != nil {
		return 0, err
	}
	// Validate before logging: an invalid batch changes nothing, not even the log.
	if err := hnsw.ValidateItems(ix.ix.Params(), items); err != nil {
		return 0, err
	}
	if err := checkMetadataSizes(op, items); err != nil {
		return 0, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if !s.live(ix) {
		return 0, errs.Errorf(op, errs.NotFound, "index %q not found", name)
	}
	seq, err := s.w.Append(&wal.Record{Op: wal.OpUpsert, Index: name, Items: items})
	if err != nil {
		return 0, s.walError(op, err)
	}
	if err := ix.ix.Upsert(items); err != nil {
		return 0, err
	}
	ix.ix.SetSeq(seq)
	ix.lastSeq = seq
	ix.pending += int64(len(items))
	s.countOps(len(items))
	return len(items), nil
}

// checkMetadataSizes refuses a batch in which an item's metadata is longer
// than MaxMetadataBytes as JSON: TooLarge naming the first such item (its
// index in the batch and its id), its size and the limit.
func checkMetadataSizes(op string, items []Item) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range items {
		md := items[i].Metadata
		if len(md) == 0 || metadataBound(md) <= MaxMetadataBytes {
			continue
		}
		buf.Reset()
		if err := enc.Encode(md); err != nil {
			return errs.E(op, errs.Invalid, fmt.Sprintf("item %d metadata", i), err)
		}
		if n := buf.Len() - 1; n > MaxMetadataBytes { // less Encode's newline
			id := items[i].ID
			if len(id) > 64 {
				id = strings.ToValidUTF8(id[:64], "") + "..."
			}
			return errs.Errorf(op, errs.TooLarge, "item %d (id %q) has %d bytes of metadata (as JSON); at most %d bytes per item, and nothing of the batch was applied",
				i, id, n, MaxMetadataBytes)
		}
	}
	return nil
}

// metadataBound is an upper bound of md's size as JSON, without encoding
// it: a string escapes to at most 6 bytes a byte (\u00XX), a number takes
// at most 32; a value of another type makes it unbounded (then the caller
// encodes).
func metadataBound(md Metadata) int {
	n := 2 // {}
	for k, v := range md {
		n += 6*len(k) + 4 // "k": and a comma
		switch x := v.(type) {
		case string:
			n += 6*len(x) + 2
		case json.Number:
			n += len(x)
		case nil, bool, float64, float32, int, int64, int32, uint64, uint32, uint:
			n += 32
		default:
			return math.MaxInt
		}
	}
	return n
}

// Delete implements Service.
func (s *Store) Delete(ctx context.Context, name string, ids []string) (int, error) {
	const op = "vector.Delete"
	if len(ids) == 0 {
		return 0, errs.Errorf(op, errs.Invalid, "ids: empty; want at least one id")
	}
	for i, id := range ids {
		if id == "" {
			return 0, errs.Errorf(op, errs.Invalid, "ids[%d] is empty", i)
		}
	}
	ix, err := s.get(ctx, name)
	if err != nil {
		return 0, err
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if !s.live(ix) {
		return 0, errs.Errorf(op, errs.NotFound, "index %q not found", name)
	}
	seq, err := s.w.Append(&wal.Record{Op: wal.OpDelete, Index: name, IDs: ids})
	if err != nil {
		return 0, s.walError(op, err)
	}
	n, err := ix.ix.Delete(ids)
	if err != nil {
		return 0, err
	}
	ix.ix.SetSeq(seq)
	ix.lastSeq = seq
	ix.pending += int64(len(ids))
	s.countOps(len(ids))
	return n, nil
}

// Search implements Service.
func (s *Store) Search(ctx context.Context, name string, req SearchRequest) ([]Result, error) {
	const op = "vector.Search"
	if req.K == 0 {
		req.K = DefaultK
	}
	if req.K < 0 || req.K > MaxK {
		return nil, errs.Errorf(op, errs.Invalid, "k = %d: want 1..%d (absent: %d)", req.K, MaxK, DefaultK)
	}
	if req.Ef < 0 || req.Ef > hnsw.MaxEf {
		return nil, errs.Errorf(op, errs.Invalid, "ef = %d: want 0 (default) .. %d", req.Ef, hnsw.MaxEf)
	}
	if err := checkThreshold(req.ScoreThreshold); err != nil {
		return nil, err
	}
	ix, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	ef := req.Ef
	if ef == 0 {
		ef = max(64, req.K)
	}
	res, err := ix.ix.Search(req.Vector, req.K, ef, req.Filter)
	if err != nil {
		return nil, err
	}
	// The k best, then the threshold: fewer than k only when fewer items
	// that match the filter pass it.
	res = applyThreshold(res, req.ScoreThreshold, ix.ix.Params().Metric == hnsw.L2)
	if res == nil {
		res = []Result{}
	}
	return res, nil
}

// GetItem implements Service.
func (s *Store) GetItem(ctx context.Context, name, id string) (Item, error) {
	ix, err := s.get(ctx, name)
	if err != nil {
		return Item{}, err
	}
	it, ok := ix.ix.Get(id)
	if !ok {
		return Item{}, errs.Errorf("vector.GetItem", errs.NotFound, "item %q not found in index %q", id, name)
	}
	return it, nil
}

func (s *Store) countOps(n int) {
	s.mu.Lock()
	s.opsSinceSnap += int64(n)
	pending := s.opsSinceSnap
	s.mu.Unlock()
	if ops := s.snapOps.Load(); ops > 0 && pending >= ops {
		select {
		case s.kick <- struct{}{}: // Run takes a pass now
		default: // one is asked for already
		}
	}
}

// OpsSinceSnapshot reports changes not yet covered by a snapshot pass.
func (s *Store) OpsSinceSnapshot() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.opsSinceSnap
}

// Snapshot writes an LHV1 snapshot of every dirty index to storaged, then
// truncates the log behind what the snapshots cover. Searches and writes go
// on while it runs: each index is copied (writes wait for the last step of
// the copy only, ADR-135) and the copy encoded and stored.
func (s *Store) Snapshot(ctx context.Context) error { return s.snapshotPass(ctx, 0) }

// snapshotPass is Snapshot, or with bound > 0 the pass Run takes because
// bound items were logged since the last (snapshot_ops, ADR-130): it leaves
// out the dirty indexes with the fewest pending items while theirs add up
// to less than bound/2, and counts those towards the next such pass. A big
// index that takes a trickle of writes is then not encoded again each time
// a busy one reaches the bound (Run's interval pass still writes it), while
// what a kill -9 leaves to replay stays under about bound.
func (s *Store) snapshotPass(ctx context.Context, bound int64) error {
	if !s.ready.Load() {
		return nil // nothing loaded, nothing changed
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.removeDropped(ctx)
	s.mu.Lock()
	s.opsSinceSnap = 0
	all := make([]*index, 0, len(s.indexes))
	for _, ix := range s.indexes {
		all = append(all, ix)
	}
	s.mu.Unlock()
	type dirtyIndex struct {
		ix      *index
		pending int64
	}
	var dirty []dirtyIndex
	for _, ix := range all {
		ix.wmu.Lock()
		if ix.lastSeq > ix.snapSeq {
			dirty = append(dirty, dirtyIndex{ix, ix.pending})
		}
		ix.wmu.Unlock()
	}
	if bound > 0 {
		slices.SortFunc(dirty, func(a, b dirtyIndex) int { return cmp.Compare(a.pending, b.pending) })
		var left int64
		k := 0
		for k < len(dirty) && left+dirty[k].pending < bound/2 {
			left += dirty[k].pending
			k++
		}
		dirty = dirty[k:]
		// An index whose last snapshot is more recent than snapDuty times
		// what that snapshot took waits: re-encoding a big index every
		// bound items would spend most of the time encoding (a 1M-vector
		// index is a 526 MiB snapshot). Its items count towards the pass
		// Run takes once the spacing is over.
		now := time.Now()
		var wait time.Time
		kept := dirty[:0]
		for _, d := range dirty {
			d.ix.wmu.Lock()
			next := d.ix.snapAt.Add(snapDuty * d.ix.snapDur)
			spaced := d.ix.snapDur >= minSpacedSnapshot
			d.ix.wmu.Unlock()
			if spaced && now.Before(next) {
				left += d.pending
				if wait.IsZero() || next.Before(wait) {
					wait = next
				}
				continue
			}
			kept = append(kept, d)
		}
		dirty = kept
		if !wait.IsZero() {
			s.boundedAfter.Store(wait.UnixNano())
		}
		s.mu.Lock()
		s.opsSinceSnap += left
		s.mu.Unlock()
	}
	var errList []error
	for _, d := range dirty {
		ix := d.ix
		if err := s.snapshotOne(ctx, ix); err != nil {
			errList = append(errList, err)
		}
	}
	if len(errList) > 0 {
		return errors.Join(errList...)
	}
	return s.truncate()
}

// snapTempPattern names the local file a snapshot is encoded into before
// its upload; Start removes any left by a killed process.
const snapTempPattern = "snap-*.lhv1"

// snapshotSink is what snapshotOne encodes into: the temp file; a test
// wraps it to hold an encode in its middle.
var snapshotSink = func(f *os.File) io.Writer { return f }

func (s *Store) snapshotOne(ctx context.Context, ix *index) error {
	const op = "vector.Snapshot"
	tmp, err := os.CreateTemp(s.dir, snapTempPattern)
	if err != nil {
		return errs.E(op, errs.Internal, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	start := time.Now()
	// A copy of the index is encoded, not the index (ADR-135): writes to it
	// go on while the snapshot is encoded and stored. Copy takes the
	// writer lock (hold) for its last step only, so the copy, the log
	// position it covers and the pending items it covers are one moment:
	// read without it, Seq could include a write the copy lacks, and
	// truncating the log through it would lose that write.
	var locked time.Time
	snap := ix.ix.Copy(func() { ix.wmu.Lock(); locked = time.Now() })
	seq := snap.Seq()
	covered := ix.pending
	held := time.Since(locked)
	ix.wmu.Unlock()
	err = lhv1.EncodeSnapshot(snapshotSink(tmp), snap)
	if err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return errs.E(op, errs.Internal, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return errs.E(op, errs.Internal, err)
	}
	// The index may have been dropped meanwhile: do not resurrect its snapshot.
	if !s.live(ix) {
		return nil
	}
	if _, err := s.objects.Put(ctx, snapshotKey(ix.name), tmp, size, storage.PutOptions{ContentType: "application/vnd.lakehouse.lhv1"}); err != nil {
		return err
	}
	ix.wmu.Lock()
	ix.snapSeq = max(ix.snapSeq, seq)
	ix.pending -= covered
	ix.snapAt, ix.snapDur, ix.snapHeld = time.Now(), time.Since(start), held
	ix.wmu.Unlock()
	s.log.Info("snapshot stored", "op", "vector.snapshot", "index", ix.name, "seq", seq, "bytes", size, "dur_ms", time.Since(start).Milliseconds(),
		"writes_held_us", held.Microseconds())
	return nil
}

// truncate drops log records every snapshot covers.
func (s *Store) truncate() error {
	s.mu.RLock()
	through := s.w.NextSeq() - 1
	live := make([]*index, 0, len(s.indexes))
	for _, ix := range s.indexes {
		live = append(live, ix)
	}
	for _, dropSeq := range s.pendingDrops {
		through = min(through, dropSeq-1)
	}
	for _, b := range s.broken {
		if b.hold > 0 {
			through = min(through, b.hold-1)
		}
	}
	s.mu.RUnlock()
	for _, ix := range live { // lock order: wmu is never taken under s.mu
		ix.wmu.Lock()
		if ix.lastSeq > ix.snapSeq {
			through = min(through, ix.snapSeq)
		}
		ix.wmu.Unlock()
	}
	if through == 0 {
		return nil
	}
	return s.w.TruncateThrough(through)
}

// loadSnapshotItems is how many replayed items make Run take a snapshot
// pass as soon as the load is done: linking 1,000 items of 100 dims into
// the graph again costs a restart about 0.3 s of a core, more than encoding
// and storing a snapshot of a 30k-item index does.
const loadSnapshotItems = 1000

// snapDuty spaces a bounded pass's snapshots of one index by this many
// times what its last snapshot took, so snapshot_ops passes spend at most
// about a quarter of a busy index's time encoding it. A 100k x 100-d index
// (about 0.5 s a snapshot) is still written every snapshot_ops items at
// ~1.4k writes/s; a 1M one (several seconds) every few tens of thousands,
// which a restart after a kill -9 then replays (ADR-130).
const snapDuty = 3

// minSpacedSnapshot: a snapshot quicker than this is not spaced (a small
// index; a spacing under Run's one-second tick would only delay its pass by
// up to a tick). A var for tests.
var minSpacedSnapshot = 250 * time.Millisecond

// Run takes snapshots every interval, or as soon as ops changes (upserted
// or deleted items) pile up, and once right after a load that replayed
// loadSnapshotItems or more logged items, until ctx ends.
//
// ops bounds what a kill -9 leaves to replay: every logged item a snapshot
// does not cover is linked into the graph again by the next start (about
// 1.4 ms of CPU per item at 100k × 100-d, TestRestartBound), so a start after a kill
// replays at most about ops items plus those written during one pass
// (ADR-130). ops <= 0: by time only.
func (s *Store) Run(ctx context.Context, interval time.Duration, ops int64) {
	if interval <= 0 {
		interval = time.Minute
	}
	s.snapOps.Store(max(ops, 0))
	defer s.snapOps.Store(0)
	t := time.NewTicker(min(interval, time.Second))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		full := s.snapAfterLoad.Swap(false) || time.Since(last) >= interval
		if !full && (ops <= 0 || s.OpsSinceSnapshot() < ops || time.Now().UnixNano() < s.boundedAfter.Load()) {
			continue
		}
		var err error
		if full {
			// Only a whole pass restarts the interval: the indexes a
			// bounded pass leaves out are written at least every interval
			// (and the log truncated behind them), however busy the others.
			last = time.Now()
			err = s.Snapshot(ctx)
		} else {
			err = s.snapshotPass(ctx, ops)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("snapshot failed; the write-ahead log keeps every change", "op", "vector.snapshot", "err", err.Error())
		}
	}
}

// Close stops a load still under way, then takes a last snapshot (bounded
// by ctx) and closes the log. A failed snapshot is logged, not returned: the
// log still holds every change.
func (s *Store) Close(ctx context.Context) error {
	s.stopLoader()
	defer s.lock.Unlock() // last: after the log is closed
	if !s.ready.Load() {
		return nil // never loaded: nothing written, the log not even open
	}
	if err := s.Snapshot(ctx); err != nil {
		s.log.Warn("final snapshot failed; the write-ahead log keeps every change", "op", "vector.close", "err", err.Error())
	}
	return s.w.Close()
}

// walError is a write-ahead log append that failed: nothing of the change
// is applied. The answer names the OS's reason, never the path (the log
// has the whole error); the message was "write-ahead log", also in
// matrixd's index state.
//
// A change too large for one log record (wal.MaxPayload: 4 bytes per
// vector value plus ids and metadata, so a batch of small integers such as
// [0,0,...] is about twice its JSON size) is the client's: 413 too_large,
// written nowhere — it was a 503 telling the client to retry once the disk
// takes writes, which no retry could ever satisfy.
//
// After a failed fsync the log refuses every append until vectord restarts
// and replays it (wal.WAL.Err): the answer says so. It used to say "retry
// once the disk takes writes again", which no retry could satisfy.
func (s *Store) walError(op string, err error) error {
	if errs.Is(err, errs.TooLarge) {
		return errs.E(op, errs.TooLarge, errs.Message(err)+"; send it in smaller batches (nothing was changed)")
	}
	if serr := s.w.Err(); serr != nil {
		return errs.E(op, errs.Unavailable, "vectord's write-ahead log failed to sync ("+errs.OSReason(serr, "an I/O error")+"); the change was not applied, and writes are refused until vectord restarts and replays its log", errs.E(op, errs.Internal, err))
	}
	return errs.E(op, errs.Unavailable, "could not make the change durable in vectord's write-ahead log ("+errs.OSReason(err, "the disk refused the write")+"); nothing was changed: retry once the disk takes writes again", errs.E(op, errs.Internal, err))
}
