package matrix

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/matrix/keyword"
	"lakehouse-go/internal/query"
)

// SetModelCheckEvery shortens Options.ModelCheckEvery's default for the
// matrixd daemons a test starts.
func SetModelCheckEvery(t *testing.T, d time.Duration) {
	old := defaultModelCheckEvery
	defaultModelCheckEvery = d
	t.Cleanup(func() { defaultModelCheckEvery = old })
}

// SetJournal turns the written-ids journal's writes on or off (ADR-121;
// for measuring what it costs a build).
func SetJournal(t *testing.T, on bool) {
	journalOff.Store(!on)
	t.Cleanup(func() { journalOff.Store(false) })
}

// JournalWrites times the journal's writes of batches batches of size ids
// each (the ids of a build of batches*size rows) into a journal in dir,
// as a job's note calls make them.
func JournalWrites(dir string, batches, size int) (time.Duration, error) {
	w := &written{path: dir + "/" + writtenFile}
	defer w.close()
	ids := make([]string, size)
	start := time.Now()
	for b := range batches {
		for i := range ids {
			ids[i] = "d" + strconv.Itoa(b*size+i)
		}
		if err := w.note(ids); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// SetRowStore makes searches use the row stores they find (on) or hydrate
// through queryd as if there were none (ADR-133; to compare the two).
func SetRowStore(t *testing.T, on bool) {
	storeOff.Store(!on)
	t.Cleanup(func() { storeOff.Store(false) })
}

// Hydrator runs a search's hydration step alone, both ways (ADR-133), for
// measuring it on a dataset too big to index in a test: through queryd
// (hydrateRows, one Parquet scan) and from a row store read with
// loadStore. Its keyword index is empty (no text sums: the last copy of an
// id wins, as for an index loaded without sums).
type Hydrator struct {
	m *Matrix
	x *dsIndex
}

// NewHydrator hydrates spec's dataset (id column of DuckDB type idType) at
// version through cat and q.
func NewHydrator(cat catalog.Service, q query.Service, spec IndexRequest, idType string, version int64) *Hydrator {
	m := &Matrix{deps: Deps{Catalog: cat, Query: q}, opts: Options{}.withDefaults(), ctx: context.Background(), idx: map[string]*dsIndex{}, storeSem: make(chan struct{}, 1)}
	x := &dsIndex{spec: spec, idType: idType, kw: keyword.New(), status: IndexStatus{Dataset: spec.Dataset, Version: version}}
	return &Hydrator{m: m, x: x}
}

// Scan is hydrateRows: the rows of ids through queryd.
func (h *Hydrator) Scan(ctx context.Context, ids []string) (map[string]map[string]any, error) {
	return h.m.hydrateRows(ctx, h.x.spec, h.x.idType, "", h.x.kw, ids)
}

// LoadStore reads the row store; it returns its rows and bytes.
func (h *Hydrator) LoadStore(ctx context.Context) (int, int64, error) {
	st, err := h.m.loadStore(ctx, h.x, nil, 0)
	if err != nil {
		return 0, 0, err
	}
	h.x.store = st
	return len(st.rows), st.size, nil
}

// FromStore is a search's hydration from the row store: the catalog check
// (freshStore), then the lookup.
func (h *Hydrator) FromStore(ctx context.Context, ids []string) (map[string]map[string]any, error) {
	st := h.m.freshStore(ctx, h.x, h.x.kw)
	if st == nil {
		return nil, errors.New("no fresh row store")
	}
	return st.lookup(ids)
}

// Advance makes the hydrator's index serve version after an append
// refresh from the version it served, whose first rows rows were kept
// (what a job records), starts the row store's read as a search does and
// waits for it: whether the store was extended rather than read whole.
func (h *Hydrator) Advance(version, rows int64) (bool, error) {
	h.x.mu.Lock()
	h.x.appended = appendedRows{from: h.x.status.Version, rows: rows}
	h.x.status.Version = version
	h.x.mu.Unlock()
	h.m.maybeLoadStore(h.x)
	h.m.wg.Wait()
	h.x.mu.Lock()
	defer h.x.mu.Unlock()
	if h.x.store == nil || h.x.store.version != version {
		return false, errors.New("no row store of the version")
	}
	return h.x.store.base != nil, nil
}

// SetFilterChunk lowers the most ids one vectord search is restricted to,
// so a test's small allow-set is searched in several chunks.
func SetFilterChunk(t *testing.T, n int) {
	old := filterChunk
	filterChunk = n
	t.Cleanup(func() { filterChunk = old })
}
