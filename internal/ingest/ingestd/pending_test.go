package ingestd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/ingest/convert"
	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

// clock is a wall clock a test can move forward.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

var errKilled = errors.New("killed (test)")

// ingester is another ingestd on the stack's storaged and catalogd (a
// restarted one, or a second instance), with small files so an ingest
// uploads several parts.
func (st *stack) ingester(t *testing.T, cat catalog.Service, store storage.Store, lease time.Duration, c *clock) *ingestd.Server {
	t.Helper()
	if cat == nil {
		cat = st.catalog()
	}
	if store == nil {
		store = st.store
	}
	opts := ingestd.Options{
		Catalog: cat, Store: store, TempDir: t.TempDir(), PendingLease: lease,
		Convert: convert.Options{Threads: 2, MemoryLimit: "512MB", RowGroupSize: 1000, FileRows: 1000},
	}
	if c != nil {
		opts.Now = c.now
	}
	s, err := ingestd.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (st *stack) catalog() *catalog.Client {
	env := &shared.Env{Config: st.cfg, HTTP: shared.NewHTTPClient(time.Minute)}
	return catalog.NewClient(env.Client("catalogd"))
}

// rowsCSV is n rows "id,name" starting at id from.
func rowsCSV(from, n int) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%d,name %d\n", i, i)
	}
	return b.String()
}

func ingestCSV(s *ingestd.Server, name, mode, data string) (*ingest.Result, error) {
	return s.Ingest(context.Background(), ingest.Params{Name: name, Mode: mode, Format: "csv"}, strings.NewReader(data), int64(len(data)))
}

// pending lists the ids of the pending markers of dataset name.
func (st *stack) pending(t *testing.T, name string) []string {
	t.Helper()
	var ids []string
	err := storage.ListAll(context.Background(), st.store, ingestd.PendingPrefix+name+"/", func(o storage.ObjectInfo) error {
		ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(o.Key, ingestd.PendingPrefix+name+"/"), ".json"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// crash runs an ingest that dies after parts uploads, as kill -9 would
// leave it, and returns its id.
func (st *stack) crash(t *testing.T, s *ingestd.Server, name, mode, data string, parts int) string {
	t.Helper()
	before := st.pending(t, name)
	ingestd.SetAfterPut(s, func(i int) error {
		if i+1 == parts {
			return errKilled
		}
		return nil
	})
	defer ingestd.SetAfterPut(s, nil)
	if _, err := ingestCSV(s, name, mode, data); !errors.Is(err, errKilled) {
		t.Fatalf("crashing ingest: %v", err)
	}
	after := st.pending(t, name)
	if len(after) != len(before)+1 {
		t.Fatalf("pending markers %v -> %v, want one more", before, after)
	}
	id := after[len(after)-1]
	for _, b := range before {
		if b == id {
			id = after[0]
		}
	}
	if keys := st.dataKeys(t, name+"/"+id); len(keys) != parts {
		t.Fatalf("crashed ingest %s left %d parts (%v), want %d", id, len(keys), keys, parts)
	}
	return id
}

func sweep(t *testing.T, s *ingestd.Server) (ingestd.SweepResult, error) {
	t.Helper()
	res, err := s.Sweep(context.Background())
	t.Logf("sweep: %+v err=%v", res, err)
	return res, err
}

// TestSweepAbandonedIngest: an ingest killed while uploading its parts
// leaves the parts and its pending marker; a restarted ingestd's sweep
// leaves them while the lease may still be held, then deletes exactly
// them and the marker. The committed version's files stay and the dataset
// still reads whole.
func TestSweepAbandonedIngest(t *testing.T) { sweepAbandoned(t, startStack(t, config(t))) }

// TestSweepAbandonedIngestMinIO is the same on the s3 backend.
func TestSweepAbandonedIngestMinIO(t *testing.T) {
	sweepAbandoned(t, startStack(t, minioConfig(t)))
}

func sweepAbandoned(t *testing.T, st *stack) {
	c := &clock{}
	first := st.ingester(t, nil, nil, 0, c)
	res, err := ingestCSV(first, "sales", "", rowsCSV(0, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 2 {
		t.Fatalf("want several parts, got %d", len(res.Files))
	}
	if ids := st.pending(t, "sales"); len(ids) != 0 {
		t.Fatalf("a committed ingest left markers %v", ids)
	}
	committed := st.dataKeys(t, "sales")
	id := st.crash(t, first, "sales", "append", rowsCSV(3000, 5000), 3)

	// Restart: a new ingestd sweeps.
	restarted := st.ingester(t, nil, nil, 0, c)
	if r, err := sweep(t, restarted); err != nil || r.Kept != 1 || r.Abandoned != 0 {
		t.Fatalf("sweep within the lease: %+v %v", r, err)
	}
	if keys := st.dataKeys(t, "sales/"+id); len(keys) != 3 {
		t.Fatalf("parts deleted within the lease: %v", keys)
	}
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	if r, err := sweep(t, restarted); err != nil || r.Abandoned != 1 || r.Files != 3 || r.Kept != 0 {
		t.Fatalf("sweep after the lease: %+v %v", r, err)
	}
	if keys := st.dataKeys(t, "sales/"+id); len(keys) != 0 {
		t.Fatalf("orphan parts left: %v", keys)
	}
	if ids := st.pending(t, "sales"); len(ids) != 0 {
		t.Fatalf("markers left: %v", ids)
	}
	if keys := st.dataKeys(t, "sales"); strings.Join(keys, " ") != strings.Join(committed, " ") {
		t.Fatalf("committed files changed: %v -> %v", committed, keys)
	}
	if got := st.scalar(t, "SELECT count(*) FROM sales"); got != float64(3000) {
		t.Fatalf("count = %v", got)
	}
	// Nothing left to do.
	if r, err := sweep(t, restarted); err != nil || r.Markers != 0 {
		t.Fatalf("second sweep: %+v %v", r, err)
	}
}

// lostAnswer commits through catalogd and then reports catalogd as
// unreachable: the version exists, the ingest does not know it.
type lostAnswer struct {
	catalog.Service
	lost atomic.Bool
}

func (l *lostAnswer) Commit(ctx context.Context, name string, req catalog.CommitRequest) (catalog.Dataset, error) {
	d, err := l.Service.Commit(ctx, name, req)
	if err == nil && l.lost.Load() {
		return catalog.Dataset{}, errs.E("catalog.client", errs.Unavailable, "connection reset (test)")
	}
	return d, err
}

// TestSweepKeepsCommittedFiles: a commit whose answer is lost may have
// been written, so the failed ingest keeps its files and marker; the
// sweep finds the version that lists them and removes only the marker.
func TestSweepKeepsCommittedFiles(t *testing.T) {
	st := startStack(t, config(t))
	c := &clock{}
	cat := &lostAnswer{Service: st.catalog()}
	s := st.ingester(t, cat, nil, 0, c)
	if _, err := ingestCSV(s, "ledger", "", rowsCSV(0, 2000)); err != nil {
		t.Fatal(err)
	}
	cat.lost.Store(true)
	if _, err := ingestCSV(s, "ledger", "append", rowsCSV(2000, 3000)); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("append with a lost answer: %v", err)
	}
	cat.lost.Store(false)
	ids := st.pending(t, "ledger")
	if len(ids) != 1 {
		t.Fatalf("markers %v, want the lost commit's", ids)
	}
	if got := st.scalar(t, "SELECT count(*) FROM ledger"); got != float64(5000) {
		t.Fatalf("count after the lost answer = %v", got)
	}
	before := st.dataKeys(t, "ledger")
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	if r, err := sweep(t, s); err != nil || r.Committed != 1 || r.Abandoned != 0 || r.Files != 0 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	if after := st.dataKeys(t, "ledger"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("files of a committed version changed: %v -> %v", before, after)
	}
	if ids := st.pending(t, "ledger"); len(ids) != 0 {
		t.Fatalf("markers left: %v", ids)
	}
	if got := st.scalar(t, "SELECT count(*) FROM ledger"); got != float64(5000) {
		t.Fatalf("count after the sweep = %v", got)
	}
}

// TestSweepSparesRunningIngests: an ingest still uploading is never
// swept — not by its own process (whatever the clock says) nor by another
// ingestd once longer than the lease has passed (the marker is renewed) —
// and it then commits whole.
func TestSweepSparesRunningIngests(t *testing.T) {
	st := startStack(t, config(t))
	const lease = 2 * time.Second
	c := &clock{}
	a := st.ingester(t, nil, nil, lease, c)
	other := st.ingester(t, nil, nil, lease, nil)
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ingestd.SetAfterPut(a, func(i int) error {
		if i == 1 {
			once.Do(func() { close(reached) })
			<-release
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := ingestCSV(a, "live", "", rowsCSV(0, 4000))
		done <- err
	}()
	<-reached
	ids := st.pending(t, "live")
	if len(ids) != 1 {
		t.Fatalf("markers %v", ids)
	}
	// Its own process, clock far ahead.
	c.advance(10 * lease)
	if r, err := sweep(t, a); err != nil || r.Kept != 1 {
		t.Fatalf("own sweep: %+v %v", r, err)
	}
	c.advance(-10 * lease)
	// Another instance, after more than the lease.
	time.Sleep(lease + lease/2)
	if r, err := sweep(t, other); err != nil || r.Kept != 1 {
		t.Fatalf("other instance's sweep: %+v %v", r, err)
	}
	if keys := st.dataKeys(t, "live/"+ids[0]); len(keys) != 2 {
		t.Fatalf("parts of a running ingest: %v", keys)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the running ingest: %v", err)
	}
	if got := st.scalar(t, "SELECT count(*) FROM live"); got != float64(4000) {
		t.Fatalf("count = %v", got)
	}
	if ids := st.pending(t, "live"); len(ids) != 0 {
		t.Fatalf("markers left: %v", ids)
	}
}

// flaky fails Versions (catalogd down) or Delete (storaged down) on demand.
type flakyCatalog struct {
	catalog.Service
	down atomic.Bool
}

func (f *flakyCatalog) Versions(ctx context.Context, name string) ([]catalog.VersionInfo, error) {
	if f.down.Load() {
		return nil, errs.E("catalog.client", errs.Unavailable, "catalogd unreachable (test)")
	}
	return f.Service.Versions(ctx, name)
}

func (f *flakyCatalog) VersionsPage(ctx context.Context, name string, q catalog.VersionsQuery) (catalog.VersionsResponse, error) {
	if f.down.Load() {
		return catalog.VersionsResponse{}, errs.E("catalog.client", errs.Unavailable, "catalogd unreachable (test)")
	}
	return f.Service.VersionsPage(ctx, name, q)
}

type flakyStore struct {
	storage.Store
	down atomic.Bool
}

func (f *flakyStore) Delete(ctx context.Context, key string) error {
	if f.down.Load() && strings.HasPrefix(key, "datasets/") {
		return errs.E("storage.client", errs.Unavailable, "storaged unreachable (test)")
	}
	return f.Store.Delete(ctx, key)
}

// TestSweepDoubtAndDeletedDatasets: with catalogd or storaged down the
// sweep keeps everything and says so; an abandoned ingest into a dataset
// deleted meanwhile or never created is cleaned, and the deleted
// dataset's committed files stay (ADR-012).
func TestSweepDoubtAndDeletedDatasets(t *testing.T) {
	st := startStack(t, config(t))
	c := &clock{}
	cat := &flakyCatalog{Service: st.catalog()}
	store := &flakyStore{Store: st.store}
	s := st.ingester(t, cat, store, 0, c)

	if _, err := ingestCSV(s, "gone", "", rowsCSV(0, 1500)); err != nil {
		t.Fatal(err)
	}
	kept := st.dataKeys(t, "gone")
	gone := st.crash(t, s, "gone", "append", rowsCSV(1500, 5000), 2)
	if _, err := st.catalog().Delete(context.Background(), "gone", catalog.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	never := st.crash(t, s, "never", "", rowsCSV(0, 5000), 1)
	c.advance(ingestd.DefaultPendingLease + time.Minute)

	cat.down.Store(true)
	if r, err := sweep(t, s); !errs.Is(err, errs.Unavailable) || r.Kept != 2 || r.Files != 0 {
		t.Fatalf("catalogd down: %+v %v", r, err)
	}
	cat.down.Store(false)
	store.down.Store(true)
	if r, err := sweep(t, s); !errs.Is(err, errs.Unavailable) || r.Kept != 2 || r.Abandoned != 0 {
		t.Fatalf("storaged down: %+v %v", r, err)
	}
	if n := len(st.pending(t, "gone")) + len(st.pending(t, "never")); n != 2 {
		t.Fatalf("%d markers after sweeps in doubt, want 2", n)
	}
	if len(st.dataKeys(t, "gone/"+gone)) != 2 || len(st.dataKeys(t, "never/"+never)) != 1 {
		t.Fatal("parts deleted in doubt")
	}
	store.down.Store(false)
	if r, err := sweep(t, s); err != nil || r.Abandoned != 2 || r.Files != 3 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	if keys := st.dataKeys(t, "gone"); strings.Join(keys, " ") != strings.Join(kept, " ") {
		t.Fatalf("deleted dataset's files: %v, want %v", keys, kept)
	}
	if keys := st.dataKeys(t, "never"); len(keys) != 0 {
		t.Fatalf("never-created dataset's files: %v", keys)
	}
	if n := len(st.pending(t, "gone")) + len(st.pending(t, "never")); n != 0 {
		t.Fatalf("%d markers left", n)
	}
	// The deleted dataset's last version still reads (ADR-012).
	if d, err := st.catalog().Get(context.Background(), "gone", 1); err != nil || len(d.Files) != len(kept) {
		t.Fatalf("version 1: %+v %v", d, err)
	}
}

// countingCatalog counts the versions catalogd listed to its caller.
type countingCatalog struct {
	catalog.Service
	listed atomic.Int64
}

func (c *countingCatalog) Versions(ctx context.Context, name string) ([]catalog.VersionInfo, error) {
	vs, err := c.Service.Versions(ctx, name)
	c.listed.Add(int64(len(vs)))
	return vs, err
}

func (c *countingCatalog) VersionsPage(ctx context.Context, name string, q catalog.VersionsQuery) (catalog.VersionsResponse, error) {
	res, err := c.Service.VersionsPage(ctx, name, q)
	c.listed.Add(int64(len(res.Versions)))
	return res, err
}

// TestSweepReadsRecentVersions: the sweep walks a dataset's versions
// newest first, a page at a time (ADR-013 "Thousands of versions"): a lost
// commit answer on a dataset with 150 older versions is settled from the
// first page, not from a listing of every version; an abandoned ingest is
// still judged against every version since it started (several pages).
func TestSweepReadsRecentVersions(t *testing.T) {
	st := startStack(t, config(t))
	c := &clock{}
	counting := &countingCatalog{Service: st.catalog()}
	cat := &lostAnswer{Service: counting}
	s := st.ingester(t, cat, nil, 0, c)
	if _, err := ingestCSV(s, "busy", "", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := st.catalog().Get(ctx, "busy", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 150; i++ {
		if d, err = st.catalog().Commit(ctx, "busy", catalog.CommitRequest{BaseVersion: d.Version, Mode: catalog.ModeReplace, Schema: d.Schema, Files: d.Files}); err != nil {
			t.Fatal(err)
		}
	}
	cat.lost.Store(true)
	if _, err := ingestCSV(s, "busy", "append", rowsCSV(10, 10)); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("append with a lost answer: %v", err)
	}
	cat.lost.Store(false)
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	counting.listed.Store(0)
	if r, err := sweep(t, s); err != nil || r.Committed != 1 || r.Abandoned != 0 {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	if n := counting.listed.Load(); n == 0 || n > 50 {
		t.Fatalf("the sweep listed %d versions of 152 to find the latest one's files, want one page (<= 50)", n)
	}
	if got := st.scalar(t, "SELECT count(*) FROM busy"); got != float64(20) {
		t.Fatalf("count = %v", got)
	}

	// Abandoned: no version lists its files; all 152 are newer than it
	// started, so every page is read before it is cleaned.
	id := st.crash(t, s, "busy", "append", rowsCSV(20, 10), 1)
	c.advance(ingestd.DefaultPendingLease + time.Minute)
	counting.listed.Store(0)
	if r, err := sweep(t, s); err != nil || r.Abandoned != 1 || r.Files != 1 {
		t.Fatalf("sweep of the abandoned ingest: %+v %v", r, err)
	}
	if n := counting.listed.Load(); n != 152 {
		t.Fatalf("the sweep listed %d versions, want all 152", n)
	}
	if keys := st.dataKeys(t, "busy/"+id); len(keys) != 0 {
		t.Fatalf("orphan parts left: %v", keys)
	}
}

// refusedCommit sends Commit to a port where nothing listens (a catalogd
// that is down: the connect is refused) and everything else to catalogd.
type refusedCommit struct {
	catalog.Service
	down *catalog.Client
}

func (r *refusedCommit) Commit(ctx context.Context, name string, req catalog.CommitRequest) (catalog.Dataset, error) {
	return r.down.Commit(ctx, name, req)
}

// TestRefusedCommitCleansUp: a commit whose connect to catalogd was
// refused never reached it — a definite failure, not an answer lost — so
// the ingest deletes its parts and its marker at once (ADR-023). It used
// to leave both for the sweep, an hour or more later (ADR-117: kill -9 of
// catalogd under load left such orphans behind every outage).
func TestRefusedCommitCleansUp(t *testing.T) {
	st := startStack(t, config(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connects are refused
	down := catalog.NewClient(&shared.Client{Service: "catalogd", Base: "http://" + addr, HTTP: shared.NewHTTPClient(time.Minute)})
	s := st.ingester(t, &refusedCommit{Service: st.catalog(), down: down}, nil, 0, nil)
	good := st.ingester(t, nil, nil, 0, nil)
	if _, err := ingestCSV(good, "ledger", "", rowsCSV(0, 10)); err != nil {
		t.Fatal(err)
	}
	before := st.dataKeys(t, "ledger")
	_, err = ingestCSV(s, "ledger", "append", rowsCSV(10, 3000))
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "catalogd is unreachable") {
		t.Fatalf("append with catalogd refusing: %v", err)
	}
	if after := st.dataKeys(t, "ledger"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("data files after a refused commit: %v, want only %v", after, before)
	}
	if ids := st.pending(t, "ledger"); len(ids) != 0 {
		t.Errorf("pending markers left after a refused commit: %v", ids)
	}
	if got := st.scalar(t, "SELECT count(*) FROM ledger"); got != float64(10) {
		t.Fatalf("count = %v, want 10", got)
	}
}

// TestRefusedCompactCommitCleansUp: the same for a compaction — its merged
// file and marker go at once when catalogd refused the connect.
func TestRefusedCompactCommitCleansUp(t *testing.T) {
	st := startStack(t, config(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down := catalog.NewClient(&shared.Client{Service: "catalogd", Base: "http://" + addr, HTTP: shared.NewHTTPClient(time.Minute)})
	s := st.ingester(t, &refusedCommit{Service: st.catalog(), down: down}, nil, 0, nil)
	good := st.ingester(t, nil, nil, 0, nil)
	for i := 0; i < 3; i++ {
		if _, err := ingestCSV(good, "ledger", "append", rowsCSV(i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	before := st.dataKeys(t, "ledger")
	_, err = s.Compact(context.Background(), ingest.CompactParams{Name: "ledger"})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "catalogd is unreachable") {
		t.Fatalf("compaction with catalogd refusing: %v", err)
	}
	if after := st.dataKeys(t, "ledger"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("data files after a refused compaction commit: %v, want only %v", after, before)
	}
	if ids := st.pending(t, "ledger"); len(ids) != 0 {
		t.Errorf("pending markers left after a refused compaction commit: %v", ids)
	}
}
