package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix/keyword"
	"lakehouse-go/internal/query"
)

// defaultRowStoreBytes is Options.RowStoreBytes' default.
const defaultRowStoreBytes = 256 << 20

// rowStore is the rows of an index's dataset at the version the index
// serves, each id's row as hydrate would pick it, kept so that a search
// without a where needs no Parquet scan (ADR-133). A row store answers only
// while the catalog's latest version is still its version (checked on every
// search): a row replaced or deleted since is never shown from it.
type rowStore struct {
	version int64
	kw      *keyword.Index       // the keyword index its copies were picked with
	rows    map[string]storedRow // by id (as text)
	// base holds the rows before an append (rows has only the appended
	// ids, none of base's); depth counts the bases below.
	base  *rowStore
	depth int
	size  int64 // bytes counted, bases included
	n     int64 // ids kept, bases included
}

// maxStoreDepth bounds the appends a row store is extended with before it
// is read again whole.
const maxStoreDepth = 8

// appendedRows is what an append refresh kept: the version it started
// from and that version's row count (dsIndex.appended).
type appendedRows struct {
	from, rows int64
}

// get returns id's row from st or its bases.
func (st *rowStore) get(id string) (storedRow, bool) {
	for ; st != nil; st = st.base {
		if r, ok := st.rows[id]; ok {
			return r, true
		}
	}
	return storedRow{}, false
}

// storedRow is an id's row in a row store.
type storedRow struct {
	row     []byte // a JSON object
	matched bool   // its text has the keyword index's sum for the id
	// dup: the dataset has more than one copy of the id, so a where that
	// holds on one of them may not hold on this one (lookupWhere).
	dup bool
}

// storeOff makes searches ignore row stores (tests: SetRowStore).
var storeOff atomic.Bool

// storeKey is what a row store was (or is being) read for.
type storeKey struct {
	version int64
	kw      *keyword.Index
}

// storeEntryBytes approximates what a row store keeps for one row beyond
// its id and JSON bytes (map entry, headers).
const storeEntryBytes = 120

// maybeLoadStore starts reading x's rows into a row store when it has none
// for the version and keyword index it serves (once per version and index:
// a dataset over the budget is not read again and again). After an append
// refresh the store of the version before is extended with the appended
// rows alone, unless they hold ids it has.
//
// It is called when a job ends, for every index NewMatrix finds ready, and
// by every search (ADR-136: the read starts as soon as a version is
// served, not at its first search). Reads run one at a time per matrixd
// (storeSem); searches meanwhile hydrate through queryd.
func (m *Matrix) maybeLoadStore(x *dsIndex) {
	if m.opts.RowStoreBytes < 0 {
		x.mu.Lock()
		x.storeErr = "[matrixd].row_store_bytes is negative: no rows are kept"
		x.mu.Unlock()
		return
	}
	x.mu.Lock()
	key := storeKey{x.status.Version, x.kw}
	want := x.kw != nil && !x.running && !x.dropped && !x.storeBusy && x.storeTried != key &&
		(x.store == nil || x.store.version != key.version || x.store.kw != key.kw)
	var base *rowStore
	var from int64
	if want {
		if st := x.store; st != nil && st.kw == x.kw && x.appended.from > 0 && st.version == x.appended.from && st.depth < maxStoreDepth {
			base, from = st, x.appended.rows
		}
		// A store of another version is never used again: let it go
		// before the new one is read.
		x.store = nil
		x.storeBusy, x.storeTried = true, key
	}
	name := x.spec.Dataset
	x.mu.Unlock()
	if !want || m.ctx.Err() != nil {
		if want {
			x.mu.Lock()
			x.storeBusy = false
			x.mu.Unlock()
		}
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		select {
		case m.storeSem <- struct{}{}:
			defer func() { <-m.storeSem }()
		case <-m.ctx.Done():
			x.mu.Lock()
			x.storeBusy = false
			x.mu.Unlock()
			return
		}
		start := time.Now()
		st, err := m.loadStore(m.ctx, x, base, from)
		if errors.Is(err, errStoreHasID) {
			st, err = m.loadStore(m.ctx, x, nil, 0)
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		x.storeBusy = false
		if err != nil {
			x.storeErr = err.Error()
			if !errors.Is(err, errStoreTooBig) {
				// An outage or a version moving under the read: the next
				// search (or job end) tries again; a dataset over the
				// bound is not read again and again.
				x.storeTried = storeKey{}
			}
			m.opts.Log.Info("rows not kept for search; hydration reads them through queryd", "op", "rowstore", "dataset", name, "reason", err.Error())
			return
		}
		x.storeErr = ""
		if x.dropped || x.kw != st.kw || x.status.Version != st.version {
			return
		}
		x.store = st
		m.opts.Log.Info("rows kept for search", "op", "rowstore", "dataset", name, "version", st.version,
			"rows_read", len(st.rows), "appended", st.base != nil, "bytes", st.size, "dur_ms", time.Since(start).Milliseconds())
	}()
}

// errStoreTooBig: the rows take more than Options.RowStoreBytes.
var errStoreTooBig = errors.New("the rows take more bytes than [matrixd].row_store_bytes")

// errStoreDropped: the index was dropped before its rows were read.
var errStoreDropped = errors.New("the index was dropped")

// errStoreHasID: an appended row's id is in the row store it would extend
// (a new copy): the store is read again whole.
var errStoreHasID = errors.New("an appended row has an id the row store holds")

// loadStore reads every row of x's dataset in row order (rowOrdered, pages
// of 5 page_rows — 100,000 rows, queryd's default max_rows — on its row
// number: one plain scan each, no sort of the dataset) and keeps each id's copy as hydrate picks it (pickCopy in row
// order: the last copy whose text has the sum the keyword index keeps for
// the id, else the last copy); it checks that the catalog was at the
// index's version before and after the read. With base, only the rows
// after the first from are read, into a store over base.
func (m *Matrix) loadStore(ctx context.Context, x *dsIndex, base *rowStore, from int64) (*rowStore, error) {
	x.mu.Lock()
	spec, kw, v, dropped := x.spec, x.kw, x.status.Version, x.dropped
	x.mu.Unlock()
	if dropped || kw == nil {
		// Dropped while the read waited for storeSem (Drop sets kw nil).
		return nil, errStoreDropped
	}
	fresh := func() error {
		latest, err := m.latestVersion(ctx, spec.Dataset)
		if err != nil {
			return err
		}
		if latest != v {
			return fmt.Errorf("the dataset is at version %d, the index at %d", latest, v)
		}
		return nil
	}
	if err := fresh(); err != nil {
		return nil, err
	}
	st := &rowStore{version: v, kw: kw, base: base}
	var size, kept int64
	if base != nil {
		st.rows, st.depth, size, kept = map[string]storedRow{}, base.depth+1, base.size, base.n
	} else {
		from = 0
		st.rows = make(map[string]storedRow, kw.Len())
	}
	rn := sqlIdent(rnAlias)
	sql := "SELECT * EXCLUDE (" + rn + "), " + textSelect(spec) + " FROM " + rowOrdered(spec.Dataset) + " WHERE " + rn + " > %d ORDER BY " + rn + " LIMIT %d"
	limit := 5 * m.opts.PageRows
	for done := from; ; {
		res, err := m.deps.Query.Query(ctx, query.Request{SQL: fmt.Sprintf(sql, done, limit), MaxRows: limit})
		if err != nil {
			return nil, err
		}
		n := len(res.Columns) - 1 - len(spec.TextColumns)
		if n < 0 {
			return nil, errs.E("matrix.rowstore", errs.Internal, "queryd answered too few columns")
		}
		for _, r := range res.Rows {
			id, c := hydrateCopy(spec, "", res.Columns, r)
			if r[n] == nil {
				continue // a NULL id: no candidate has it
			}
			if _, in := base.get(id); in {
				return nil, errStoreHasID
			}
			want, ok := kw.TextSum(id)
			matched := ok && c.sum == want
			old, seen := st.rows[id]
			if seen && old.matched && !matched {
				if !old.dup {
					old.dup = true
					st.rows[id] = old
				}
				continue // an earlier copy holds the indexed text
			}
			b, err := json.Marshal(c.row)
			if err != nil {
				return nil, errs.E("matrix.rowstore", errs.Internal, err)
			}
			if seen {
				size -= int64(len(old.row))
			} else {
				size += int64(len(id) + storeEntryBytes)
				kept++
			}
			size += int64(len(b))
			if size > m.opts.RowStoreBytes {
				return nil, fmt.Errorf("%w (%d)", errStoreTooBig, m.opts.RowStoreBytes)
			}
			st.rows[id] = storedRow{row: b, matched: matched, dup: seen}
		}
		done += int64(len(res.Rows))
		if len(res.Rows) == 0 || len(res.Rows) < limit && !res.Truncated {
			break
		}
	}
	if err := fresh(); err != nil {
		return nil, err
	}
	st.size, st.n = size, kept
	return st, nil
}

// latestVersion is the catalog's latest version of name (0 when it is
// deleted): the first entry of its versions newest first (ADR-136). The
// dataset GET carried the whole manifest, every file's key, for a number
// (320 KB at 5,000 files); the page is one version's summary whatever the
// file count. A catalogd that ignores order=desc answers version 1 first:
// a mismatch, so a search hydrates through queryd (never wrong rows).
func (m *Matrix) latestVersion(ctx context.Context, name string) (int64, error) {
	p, err := m.deps.Catalog.VersionsPage(ctx, name, catalog.VersionsQuery{Limit: 1, Desc: true})
	if err != nil {
		return 0, err
	}
	if len(p.Versions) == 0 || p.Versions[0].Deleted {
		return 0, nil
	}
	return p.Versions[0].Version, nil
}

// freshStore returns x's row store when it serves kw at the catalog's
// latest version (latestVersion, asked on every search: no cache, so a
// search after a commit never answers from the rows of the version
// before), else nil: hydration then reads through queryd.
func (m *Matrix) freshStore(ctx context.Context, x *dsIndex, kw *keyword.Index) *rowStore {
	st := keptStore(x, kw)
	if st == nil {
		return nil
	}
	latest, err := m.latestVersion(ctx, x.name())
	if err != nil || latest != st.version {
		return nil
	}
	return st
}

// keptStore is x's row store when it serves kw at the index's version
// (no catalog check: freshStore), else nil.
func keptStore(x *dsIndex, kw *keyword.Index) *rowStore {
	x.mu.Lock()
	st, version := x.store, x.status.Version
	x.mu.Unlock()
	if st == nil || storeOff.Load() || st.kw != kw || st.version != version {
		return nil
	}
	return st
}

// lookupWhere returns the rows of ids that match a where, given matching:
// every id of st's version with a copy on which the where holds (the
// prefilter's whole answer, read at st's version). An id with one copy
// matches when it is in matching, and its row is st's; an id with several
// copies (the where may hold on one the index does not show) or none kept
// is left in rest, for hydration through queryd (ADR-136).
func (st *rowStore) lookupWhere(ids []string, matching map[string]bool) (map[string]map[string]any, []string, error) {
	var one, rest []string
	for _, id := range ids {
		r, ok := st.get(id)
		switch {
		case !ok || r.dup:
			rest = append(rest, id)
		case matching[id]:
			one = append(one, id)
		}
	}
	rows, err := st.lookup(one)
	return rows, rest, err
}

// lookup returns the rows of ids the store holds.
func (st *rowStore) lookup(ids []string) (map[string]map[string]any, error) {
	out := make(map[string]map[string]any, len(ids))
	for _, id := range ids {
		r, ok := st.get(id)
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(r.row))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			return nil, errs.E("matrix.search", errs.Internal, err)
		}
		out[id] = row
	}
	return out, nil
}
