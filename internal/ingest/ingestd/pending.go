package ingestd

// Pending-ingest markers and the sweep of abandoned ingests.
//
// Before it uploads the first Parquet part, an ingest writes a marker
// _ingest/pending/{name}/{id}.json (create-only, through storaged) and keeps
// it alive while it runs: the marker is rewritten every lease/12 with a new
// "renewed" time (a lease). The marker is removed once the ingest is
// settled: committed, or failed with every file it uploaded deleted. An
// ingest that dies in between (kill -9, a crash, a lost host) leaves the
// marker, so its files can be found again.
//
// Sweep looks at every marker whose lease ran out (not renewed for the
// lease period, by the marker's time and by storaged's modification time)
// and that no ingest of this process still holds. It decides from the
// catalog whether that ingest was committed: some version of the dataset,
// scanned from the latest back while its updated_at is not older than the
// ingest's start (less a clock-skew margin), lists a file under
// datasets/{name}/{id}/. If so, only the marker goes (the files belong to
// the dataset, ADR-012); if not, every object under datasets/{name}/{id}/
// is deleted, then the marker. A missing dataset counts as "not committed";
// any doubt (catalogd or storaged unavailable, a version that cannot be
// read, a marker renewed meanwhile) leaves everything for the next sweep.
//
// An ingest never commits on an expired lease: before each commit attempt
// it checks that its last successful renewal is younger than half the
// lease, so a sweep of another ingestd can never delete the files of a
// commit still to come.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// PendingPrefix is the key prefix of pending-ingest markers.
const PendingPrefix = "_ingest/pending/"

// Sweep defaults: what [ingestd].pending_lease and sweep_interval of 0
// mean. ([ingestd].sweep_delay, 30s by default, lets storaged and catalogd
// come up first when all daemons start together.)
const (
	// DefaultPendingLease is how long a marker stays untouched after its
	// last renewal before a sweep may act on it.
	DefaultPendingLease = time.Hour
	// DefaultSweepInterval is the time between two sweeps of a running
	// ingestd; a sweep left in doubt is retried after sweepRetry.
	DefaultSweepInterval = time.Hour
	sweepRetry           = 5 * time.Minute
	// clockSkew widens the version scan: versions whose updated_at is
	// this much older than the ingest's id are still read.
	clockSkew = 15 * time.Minute
)

// PendingKey is the marker key of ingest id into dataset name.
func PendingKey(name, id string) string { return PendingPrefix + name + "/" + id + ".json" }

// IngestPrefix is where ingest id of dataset name uploads its parts.
func IngestPrefix(name, id string) string { return catalog.DatasetPrefix(name) + id + "/" }

// marker is the JSON body of a pending-ingest marker.
type marker struct {
	Dataset string    `json:"dataset"`
	ID      string    `json:"id"`
	Prefix  string    `json:"prefix"` // datasets/{name}/{id}/
	Mode    string    `json:"mode"`
	Created time.Time `json:"created"`
	Renewed time.Time `json:"renewed"`
	// LeaseSeconds is the lease the writer keeps: a sweep waits for the
	// longer of it and its own.
	LeaseSeconds float64 `json:"lease_seconds"`
}

// parsePendingKey splits _ingest/pending/{name}/{id}.json.
func parsePendingKey(key string) (name, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, PendingPrefix)
	if !ok {
		return "", "", false
	}
	name, file, ok := strings.Cut(rest, "/")
	id, isJSON := strings.CutSuffix(file, ".json")
	if !ok || !isJSON || id == "" || strings.ContainsAny(id, "/") || catalog.ValidateName(name) != nil {
		return "", "", false
	}
	return name, id, true
}

// idTime is the start time carried by an ingest id (20060102T150405Z-...).
func idTime(id string) (time.Time, bool) {
	ts, _, ok := strings.Cut(id, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405Z", ts)
	return t, err == nil
}

// intent is a running ingest's marker and the lease it keeps.
type intent struct {
	s    *Server
	key  string
	m    marker
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	renewed time.Time // wall clock: the last successful write of the marker
	lapsed  bool      // half a lease passed without a renewal: never commit
}

// begin writes the marker of ingest id (create-only) and starts renewing
// it. Errors: what storaged answered (no file was uploaded yet).
func (s *Server) begin(ctx context.Context, name, id, mode string) (*intent, error) {
	now := s.now()
	in := &intent{
		s: s, key: PendingKey(name, id),
		m: marker{
			Dataset: name, ID: id, Prefix: IngestPrefix(name, id), Mode: mode,
			Created: now, Renewed: now, LeaseSeconds: s.opts.PendingLease.Seconds(),
		},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.hold(id, true)
	start := time.Now().Round(0)
	if err := in.write(ctx, true); err != nil {
		s.hold(id, false)
		return nil, errs.E("ingest", errs.KindOf(err), "storaged: writing the pending-ingest marker", err)
	}
	in.renewed = start
	go in.renew()
	return in, nil
}

func (in *intent) write(ctx context.Context, create bool) error {
	b, _ := json.Marshal(in.m)
	_, err := in.s.opts.Store.Put(ctx, in.key, strings.NewReader(string(b)), int64(len(b)), storage.PutOptions{CreateOnly: create, ContentType: "application/json"})
	return err
}

// renew rewrites the marker every lease/12 until end.
func (in *intent) renew() {
	defer close(in.done)
	every := max(in.s.opts.PendingLease/12, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-t.C:
		}
		// Wall-clock readings (Round(0) drops the monotonic one, which
		// stands still while the machine is suspended): a gap of half a
		// lease without a renewal is final — a sweep elsewhere may have
		// judged the ingest abandoned and deleted its parts, and a renewal
		// now would write the marker again over files that are gone.
		in.mu.Lock()
		lapsed := in.lapsed || time.Now().Round(0).Sub(in.renewed) >= in.s.opts.PendingLease/2
		in.lapsed = lapsed
		in.mu.Unlock()
		if lapsed {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(every, time.Second))
		start := time.Now().Round(0)
		in.m.Renewed = in.s.now()
		err := in.write(ctx, false)
		cancel()
		if err != nil {
			in.s.log.Warn("pending-ingest marker not renewed", "op", "ingest", "key", in.key, "err", err.Error())
			continue
		}
		in.mu.Lock()
		in.renewed = start
		in.mu.Unlock()
	}
}

// valid says whether the ingest may still commit: its lease was renewed
// less than half a lease ago, so no sweep can have judged it abandoned.
func (in *intent) valid() error {
	in.mu.Lock()
	age := time.Now().Round(0).Sub(in.renewed)
	if age >= in.s.opts.PendingLease/2 {
		in.lapsed = true
	}
	lapsed := in.lapsed
	in.mu.Unlock()
	if lapsed {
		return errs.E("ingest", errs.Unavailable, fmt.Sprintf("the ingest could not renew its pending marker for %v (storaged unreachable?); nothing was committed", age.Round(time.Second)))
	}
	return nil
}

// end stops the renewal (waiting for a write in progress) and releases the
// id; the marker stays unless remove, which deletes it.
func (in *intent) end(ctx context.Context, remove bool) {
	in.once.Do(func() {
		close(in.stop)
		<-in.done
		in.s.hold(in.m.ID, false)
	})
	if !remove {
		return
	}
	if err := in.s.opts.Store.Delete(ctx, in.key); err != nil {
		in.s.log.Warn("pending-ingest marker left for the sweep", "op", "ingest", "key", in.key, "err", err.Error())
	}
}

// Retries of a cleanup that storaged refused (cleanupRetryFirst, doubling
// up to cleanupRetryMax).
var (
	cleanupRetryFirst = time.Second
	cleanupRetryMax   = 30 * time.Second
)

// retryCleanup goes on deleting the files of failed ingest id of dataset
// name in the background after the first try failed (err: storaged down or
// restarting), and its marker when the failure was definite, until that
// succeeds, Close, or half a lease has passed — then the sweep decides, as
// before. Without it a failed ingest's files waited for the sweep, a lease
// (an hour) after every storaged outage (ADR-117). The id stays held, so
// this process's sweep leaves it alone meanwhile.
func (s *Server) retryCleanup(op, name, id string, keys []string, definite bool, err error) {
	s.log.Warn("data files of a failed ingest not deleted yet; retrying in the background", "op", op, "ingest", id, "err", err.Error())
	s.hold(id, true)
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		defer s.hold(id, false)
		deadline := time.Now().Add(s.opts.PendingLease / 2)
		wait := cleanupRetryFirst
		for {
			select {
			case <-s.bg.Done():
				s.log.Warn("data files of a failed ingest left for the sweep", "op", op, "ingest", id, "err", "ingestd stopping")
				return
			case <-time.After(wait):
			}
			ctx, cancel := context.WithTimeout(s.bg, 30*time.Second)
			_, err := s.deletePrefix(ctx, IngestPrefix(name, id), keys)
			if err == nil && definite {
				err = s.opts.Store.Delete(ctx, PendingKey(name, id))
			}
			cancel()
			if err == nil {
				s.log.Info("data files of a failed ingest deleted", "op", op, "ingest", id)
				return
			}
			if time.Now().After(deadline) {
				s.log.Warn("data files of a failed ingest left for the sweep", "op", op, "ingest", id, "err", err.Error())
				return
			}
			wait = min(wait*2, cleanupRetryMax)
		}
	}()
}

// hold marks ingest id as running in this process (or not).
func (s *Server) hold(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.running[id] = true
	} else {
		delete(s.running, id)
	}
}

func (s *Server) holds(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[id]
}

// deletePrefix deletes the objects keys and every object under prefix.
func (s *Server) deletePrefix(ctx context.Context, prefix string, keys []string) (int, error) {
	n := 0
	for _, k := range keys {
		if err := s.opts.Store.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	var left []string
	if err := storage.ListAll(ctx, s.opts.Store, prefix, func(o storage.ObjectInfo) error {
		left = append(left, o.Key)
		return nil
	}); err != nil {
		return n, err
	}
	for _, k := range left {
		if err := s.opts.Store.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SweepResult counts what one Sweep did.
type SweepResult struct {
	Markers   int `json:"markers"`   // pending markers seen
	Abandoned int `json:"abandoned"` // uncommitted ingests cleaned: files and marker deleted
	Files     int `json:"files"`     // data files deleted
	Committed int `json:"committed"` // markers of committed ingests removed, files kept
	Kept      int `json:"kept"`      // markers left: lease alive, running here, or in doubt
}

// Sweep cleans up after abandoned ingests (see the top of this file). It
// deletes only objects under datasets/{name}/{id}/ of an ingest that no
// catalog version references. The error joins the doubts that made it keep
// markers (catalogd or storaged unavailable); they are retried by the next
// Sweep.
func (s *Server) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var objs []storage.ObjectInfo
	if err := storage.ListAll(ctx, s.opts.Store, PendingPrefix, func(o storage.ObjectInfo) error {
		objs = append(objs, o)
		return nil
	}); err != nil {
		return res, errs.E("ingest.sweep", errs.KindOf(err), "storaged: listing pending markers", err)
	}
	var doubts []error
	for _, o := range objs {
		res.Markers++
		if err := s.sweepOne(ctx, o, &res); err != nil {
			res.Kept++
			doubts = append(doubts, err)
			s.log.Warn("pending ingest left for the next sweep", "op", "ingest.sweep", "key", o.Key, "err", err.Error())
		}
	}
	return res, errors.Join(doubts...)
}

// sweepOne settles one marker or leaves it (counted in res, or an error).
func (s *Server) sweepOne(ctx context.Context, o storage.ObjectInfo, res *SweepResult) error {
	name, id, ok := parsePendingKey(o.Key)
	if !ok {
		s.log.Warn("not a pending-ingest marker; left alone", "op", "ingest.sweep", "key", o.Key)
		res.Kept++
		return nil
	}
	if s.holds(id) {
		res.Kept++
		return nil
	}
	m, info, err := s.readMarker(ctx, o.Key)
	if errs.Is(err, errs.NotFound) {
		return nil // settled meanwhile
	}
	if err != nil {
		return err
	}
	// Alive: the latest sign of life, by the writer's clock and storaged's.
	alive := info.Modified
	for _, t := range []time.Time{m.Renewed, m.Created} {
		if t.After(alive) {
			alive = t
		}
	}
	start, ok := idTime(id)
	if ok && start.After(alive) {
		alive = start
	}
	lease := max(s.opts.PendingLease, time.Duration(m.LeaseSeconds*float64(time.Second)))
	if s.now().Sub(alive) < lease {
		res.Kept++
		return nil
	}
	// Versions committed before the ingest started cannot hold its files.
	since := time.Time{}
	if ok {
		since = start
	}
	if !m.Created.IsZero() && (since.IsZero() || m.Created.Before(since)) {
		since = m.Created
	}
	if !since.IsZero() {
		since = since.Add(-clockSkew)
	}
	committed, err := s.committed(ctx, name, id, since)
	if err != nil {
		return err
	}
	// The marker must be the one judged: a renewal meanwhile means the
	// ingest is alive after all.
	now, err := s.opts.Store.Head(ctx, o.Key)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return errs.E("ingest.sweep", errs.KindOf(err), "storaged", err)
	}
	if now.ETag != info.ETag || !now.Modified.Equal(info.Modified) {
		res.Kept++
		return nil
	}
	if committed {
		res.Committed++
	} else {
		n, err := s.deletePrefix(ctx, IngestPrefix(name, id), nil)
		res.Files += n
		if err != nil {
			return errs.E("ingest.sweep", errs.KindOf(err), "storaged: deleting the files of abandoned ingest "+id, err)
		}
		res.Abandoned++
		s.log.Info("abandoned ingest cleaned", "op", "ingest.sweep", "dataset", name, "ingest", id, "files", n)
	}
	if err := s.opts.Store.Delete(ctx, o.Key); err != nil {
		return errs.E("ingest.sweep", errs.KindOf(err), "storaged: deleting marker", err)
	}
	return nil
}

// readMarker reads a marker; a body that does not decode gives a zero
// marker (its times then come from the key and storaged).
func (s *Server) readMarker(ctx context.Context, key string) (marker, storage.ObjectInfo, error) {
	rc, info, err := s.opts.Store.Get(ctx, key, storage.Whole)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return marker{}, info, err
		}
		return marker{}, info, errs.E("ingest.sweep", errs.KindOf(err), "storaged: reading marker", err)
	}
	defer rc.Close()
	var m marker
	b, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	if err != nil {
		return marker{}, info, errs.E("ingest.sweep", errs.Unavailable, "storaged: reading marker", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		s.log.Warn("pending-ingest marker does not decode; using its key and time", "op", "ingest.sweep", "key", key, "err", err.Error())
		m = marker{}
	}
	return m, info, nil
}

// sweepVersionsPage is how many versions the sweep asks catalogd for at
// a time, newest first: the walk usually stops within the first page (at
// the commit that lists the ingest's files, or at a version older than the
// ingest), so a dataset with thousands of versions costs one small page.
const sweepVersionsPage = 50

// committed says whether a version of name committed since lists a file
// of ingest id. A dataset that never existed has none; a deleted one keeps
// its versions (and a committed ingest's files stay theirs, ADR-012). The
// versions are read in pages, newest first (ADR-013 "Thousands of
// versions"), and the walk stops at the first version older than since.
func (s *Server) committed(ctx context.Context, name, id string, since time.Time) (bool, error) {
	prefix := IngestPrefix(name, id)
	q := catalog.VersionsQuery{Desc: true, Limit: sweepVersionsPage}
	for {
		page, err := s.opts.Catalog.VersionsPage(ctx, name, q)
		if errs.Is(err, errs.NotFound) && q.After == 0 {
			return false, nil
		}
		if err != nil {
			return false, errs.E("ingest.sweep", errs.KindOf(err), "catalogd: versions of "+name, err)
		}
		vs := page.Versions
		if len(vs) > 1 && vs[0].Version < vs[len(vs)-1].Version {
			// Oldest first: a catalogd that ignores order=desc.
			vs = slices.Clone(vs)
			slices.Reverse(vs)
		}
		for _, v := range vs {
			if !since.IsZero() && !v.UpdatedAt.IsZero() && v.UpdatedAt.Before(since) {
				return false, nil
			}
			if v.Deleted || v.FileCount == 0 {
				continue
			}
			d, err := s.opts.Catalog.Get(ctx, name, v.Version)
			if err != nil {
				// A listed version that cannot be read (even NotFound) is doubt.
				return false, errs.E("ingest.sweep", errs.KindOf(err), fmt.Sprintf("catalogd: %s version %d", name, v.Version), err)
			}
			for _, f := range d.Files {
				if strings.HasPrefix(f.Key, prefix) {
					return true, nil
				}
			}
		}
		// The last page; or a next that would not move on (a catalogd that
		// does not page): every version was seen.
		if page.Next <= 0 || len(page.Versions) == 0 || (q.After > 0 && page.Next >= q.After) {
			return false, nil
		}
		q.After = page.Next
	}
}

// sweepLoop sweeps after delay, then every interval (sweepRetry after a
// sweep left in doubt), until ctx ends.
func (s *Server) sweepLoop(ctx context.Context, delay, interval time.Duration) {
	wait := min(delay, interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		res, err := s.Sweep(ctx)
		wait = interval
		if err != nil {
			wait = min(sweepRetry, interval)
			if ctx.Err() != nil {
				return
			}
		}
		if res.Abandoned+res.Committed > 0 || err != nil {
			s.log.Info("pending ingests swept", "op", "ingest.sweep", "markers", res.Markers, "abandoned", res.Abandoned,
				"files", res.Files, "committed", res.Committed, "kept", res.Kept)
		}
	}
}
