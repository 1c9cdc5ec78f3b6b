package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

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
}

// storedRow is an id's row in a row store.
type storedRow struct {
	row     []byte // a JSON object
	matched bool   // its text has the keyword index's sum for the id
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
// a dataset over the budget is not read again and again).
func (m *Matrix) maybeLoadStore(x *dsIndex) {
	if m.opts.RowStoreBytes < 0 {
		return
	}
	x.mu.Lock()
	key := storeKey{x.status.Version, x.kw}
	want := x.kw != nil && !x.running && !x.dropped && !x.storeBusy && x.storeTried != key &&
		(x.store == nil || x.store.version != key.version || x.store.kw != key.kw)
	if want {
		// A store of another version or index is never used again: let
		// it go before the new one is read.
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
		start := time.Now()
		st, size, err := m.loadStore(m.ctx, x)
		x.mu.Lock()
		defer x.mu.Unlock()
		x.storeBusy = false
		if err != nil {
			m.opts.Log.Info("rows not kept for search; hydration reads them through queryd", "op", "rowstore", "dataset", name, "reason", err.Error())
			return
		}
		if x.dropped || x.kw != st.kw || x.status.Version != st.version {
			return
		}
		x.store = st
		m.opts.Log.Info("rows kept for search", "op", "rowstore", "dataset", name, "version", st.version,
			"rows", len(st.rows), "bytes", size, "dur_ms", time.Since(start).Milliseconds())
	}()
}

// loadStore reads every row of x's dataset in row order (rowOrdered, pages
// of storePageRows on its row number: one plain scan each, no sort of the
// dataset) and keeps each id's copy as hydrate picks it (pickCopy in row
// order: the last copy whose text has the sum the keyword index keeps for
// the id, else the last copy); it checks that the catalog was at the
// index's version before and after the read.
func (m *Matrix) loadStore(ctx context.Context, x *dsIndex) (*rowStore, int64, error) {
	x.mu.Lock()
	spec, kw, v := x.spec, x.kw, x.status.Version
	x.mu.Unlock()
	fresh := func() error {
		d, err := m.deps.Catalog.Get(ctx, spec.Dataset, 0)
		if err != nil {
			return err
		}
		if d.Version != v {
			return fmt.Errorf("the dataset is at version %d, the index at %d", d.Version, v)
		}
		return nil
	}
	if err := fresh(); err != nil {
		return nil, 0, err
	}
	st := &rowStore{version: v, kw: kw, rows: make(map[string]storedRow, kw.Len())}
	var size int64
	rn := sqlIdent(rnAlias)
	base := "SELECT * EXCLUDE (" + rn + "), " + textSelect(spec) + " FROM " + rowOrdered(spec.Dataset) + " WHERE " + rn + " > %d ORDER BY " + rn + " LIMIT %d"
	limit := 5 * m.opts.PageRows
	for done := 0; ; {
		res, err := m.deps.Query.Query(ctx, query.Request{SQL: fmt.Sprintf(base, done, limit), MaxRows: limit})
		if err != nil {
			return nil, 0, err
		}
		n := len(res.Columns) - 1 - len(spec.TextColumns)
		if n < 0 {
			return nil, 0, errs.E("matrix.rowstore", errs.Internal, "queryd answered too few columns")
		}
		for _, r := range res.Rows {
			id, c := hydrateCopy(spec, "", res.Columns, r)
			if r[n] == nil {
				continue // a NULL id: no candidate has it
			}
			want, ok := kw.TextSum(id)
			matched := ok && c.sum == want
			old, seen := st.rows[id]
			if seen && old.matched && !matched {
				continue // an earlier copy holds the indexed text
			}
			b, err := json.Marshal(c.row)
			if err != nil {
				return nil, 0, errs.E("matrix.rowstore", errs.Internal, err)
			}
			if seen {
				size -= int64(len(old.row))
			} else {
				size += int64(len(id) + storeEntryBytes)
			}
			size += int64(len(b))
			if size > m.opts.RowStoreBytes {
				return nil, 0, fmt.Errorf("the rows take more than %d bytes (Options.RowStoreBytes)", m.opts.RowStoreBytes)
			}
			st.rows[id] = storedRow{row: b, matched: matched}
		}
		done += len(res.Rows)
		if len(res.Rows) == 0 || len(res.Rows) < limit && !res.Truncated {
			break
		}
	}
	if err := fresh(); err != nil {
		return nil, 0, err
	}
	return st, size, nil
}

// freshStore returns x's row store when it serves kw at the catalog's
// latest version (one catalog GET: the version queryd's own freshness check
// would find), else nil: hydration then reads through queryd.
func (m *Matrix) freshStore(ctx context.Context, x *dsIndex, kw *keyword.Index) *rowStore {
	x.mu.Lock()
	st := x.store
	name, version := x.spec.Dataset, x.status.Version
	x.mu.Unlock()
	if st == nil || storeOff.Load() || st.kw != kw || st.version != version {
		return nil
	}
	d, err := m.deps.Catalog.Get(ctx, name, 0)
	if err != nil || d.Version != st.version {
		return nil
	}
	return st
}

// lookup returns the rows of ids the store holds.
func (st *rowStore) lookup(ids []string) (map[string]map[string]any, error) {
	out := make(map[string]map[string]any, len(ids))
	for _, id := range ids {
		r, ok := st.rows[id]
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
