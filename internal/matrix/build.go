package matrix

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix/keyword"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/vector"
)

// plan is what one job does.
type plan struct {
	spec    IndexRequest
	idType  string
	target  catalog.Dataset
	full    bool
	offset  int64 // append: rows before the new files
	kw      *keyword.Index
	oldKW   *keyword.Index
	version int64  // indexed before the job
	fullGen uint64 // dsIndex.fullGen when planned
	written *written
}

// job brings x up to the dataset's latest version (ADR-033): nothing when
// it is current; an append refresh (only the rows after the indexed ones)
// when every version since is an append whose file list extends the
// indexed one or a compaction that kept the rows in order (appendOnly);
// else a full rebuild into a fresh keyword index that replaces the served
// one when done, with vectors upserted in place and stale ids deleted.
// ctx ends at Close or when Drop stops the job.
//
// vectord may come to hold the vector index (ADR-095) after refresh's
// own check, at any later step: its 502/503 is then the same held
// conflict (ADR-103), failed once for the target version and not retried
// as an outage (ADR-106 addendum).
func (m *Matrix) job(ctx context.Context, x *dsIndex) error {
	target := int64(-1)
	err := m.refresh(ctx, x, &target)
	if err == nil || !errs.Is(err, errs.Unavailable) || ctx.Err() != nil || target < 0 {
		return err
	}
	x.mu.Lock()
	name, drop := x.spec.Dataset, x.dropVectors
	x.mu.Unlock()
	if drop {
		return err // a POST queued the held index's drop and rebuild
	}
	ve := m.heldVectors(ctx)[VectorIndex(name)]
	if ve == nil {
		return err // an outage: retried with backoff
	}
	x.mu.Lock()
	x.status.TargetVersion = target
	x.mu.Unlock()
	return heldError("matrix.index", errs.Conflict, 0, name, ve, "the refresh")
}

// refresh is job's work; *target is the catalog version it builds once
// read.
func (m *Matrix) refresh(ctx context.Context, x *dsIndex, target *int64) error {
	x.mu.Lock()
	name := x.spec.Dataset
	x.mu.Unlock()
	d, err := m.deps.Catalog.Get(ctx, name, 0)
	if err != nil {
		return err
	}
	*target = d.Version
	x.mu.Lock()
	if x.dropped {
		x.mu.Unlock()
		return nil
	}
	spec, idType, cols, err := resolve(x.spec, d.Schema)
	if err != nil {
		// The version this failure is about: the poll does not run the
		// job again until a newer one (it ran it every poll, ADR-106).
		x.status.TargetVersion = d.Version
		x.mu.Unlock()
		return err
	}
	x.spec, x.idType, x.columns = spec, idType, cols
	// fullGen is read with the spec: a mark set after this (x.mu is let go
	// below to ask vectord) is of a spec this job does not build.
	p := plan{spec: spec, idType: idType, target: d, version: x.status.Version, oldKW: x.kw, fullGen: x.fullGen}
	drop := x.dropVectors
	// The embedding model changed (ADR-112, ADR-115): a full rebuild
	// starts from an empty vector index, as for other dims, so that while
	// it runs vector search ranks only rows embedded with the new model,
	// not every old row's vector against a query of the new one.
	newModel := x.modelChange != nil
	if x.kw != nil && !drop {
		// A refresh into a vector index vectord holds (ADR-095) fails at
		// once with vectord's error, not retried (it is no outage) and not
		// on this version again; the held index is left for a restore
		// until a POST rebuilds it (ADR-103).
		x.mu.Unlock()
		ve := m.heldVectors(ctx)[VectorIndex(name)]
		x.mu.Lock()
		if ve != nil && !x.dropVectors {
			x.status.TargetVersion = d.Version
			x.mu.Unlock()
			return heldError("matrix.index", errs.Conflict, 0, name, ve, "the refresh")
		}
		drop = x.dropVectors
	}
	if x.kw != nil && !x.full && x.status.Version == d.Version {
		x.status.State = StateReady
		if x.again {
			x.status.State = StatePending // a run queued during this one follows
		}
		x.status.Error = ""
		x.status.putBack() // nothing built: the last job is still the one before
		x.mu.Unlock()
		return nil
	}
	p.full = x.kw == nil || x.full
	oldFiles, oldRows := x.files, x.rows
	x.mu.Unlock()

	if !p.full {
		p.full = !m.appendOnly(ctx, name, p.version, d, oldFiles, oldRows)
	}
	if !p.full && p.oldKW.Len() > 0 {
		// An append adds to the vectors of the rows indexed so far: when
		// vectord's index is gone (deleted by hand) or was made again
		// empty, the append would create it with the new rows alone and
		// vector search would find nothing else (ADR-106).
		info, err := m.deps.Vectors.GetIndex(ctx, VectorIndex(name))
		switch {
		case errs.Is(err, errs.NotFound) || err == nil && info.Count == 0:
			m.opts.Log.Warn("vector index missing or empty; rebuilding in full", "op", "index", "dataset", name, "index", VectorIndex(name))
			p.full = true
		case err != nil:
			return err
		}
	}
	if p.full {
		p.kw = keyword.New()
	} else {
		p.kw = p.oldKW
		p.offset = oldRows
	}
	total := d.RowCount - p.offset
	now := time.Now().UTC()
	x.mu.Lock()
	x.status.State = StateBuilding
	x.status.TargetVersion = d.Version
	x.status.Refresh = map[bool]string{true: "full", false: "append"}[p.full]
	x.status.RowsDone, x.status.RowsTotal, x.status.Skipped = 0, total, 0
	x.status.Error = ""
	x.status.StartedAt, x.status.UpdatedAt, x.status.FinishedAt = now, now, time.Time{}
	x.status.RowsPerSec = 0
	x.status.PreviousJob = nil
	if err := m.saveState(x); err != nil {
		m.opts.Log.Warn("save index state", "op", "index", "dataset", name, "err", err.Error())
	}
	x.mu.Unlock()
	m.opts.Log.Info("index job", "op", "index", "dataset", name, "version", d.Version, "refresh", x.status.Refresh, "rows", total)

	// Vectors no job of this matrixd recorded (left by a build cut short
	// before the written-ids journal, ADR-121, or upserted by hand): a
	// full build embeds every row anyway, so it starts from an empty
	// vector index and ends holding exactly the rows it wrote (ADR-124).
	unknown := false
	if p.full && p.oldKW != nil && !drop && !newModel {
		if unknown, err = m.unknownVectors(ctx, name, p.oldKW); err != nil {
			return err
		}
	}
	if p.full && (p.oldKW == nil || drop || newModel || unknown) {
		// First build (or state lost), a rebuild of a vector index
		// vectord holds (ADR-103), of one built with another model
		// (ADR-115), or of one holding ids no job recorded (ADR-124):
		// start from an empty vector index.
		if err := m.deps.Vectors.DeleteIndex(ctx, VectorIndex(name)); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		// No vector of an earlier job is left to delete.
		if err := m.openWritten(name).reset(); err != nil {
			return err
		}
		if newModel && !drop {
			m.opts.Log.Info("vector index of the old embedding model dropped for a rebuild with the new one", "op", "index", "dataset", name, "index", VectorIndex(name))
		}
		if drop {
			m.opts.Log.Warn("vector index held by vectord dropped for a rebuild", "op", "index", "dataset", name, "index", VectorIndex(name))
			x.mu.Lock()
			x.dropVectors = false
			x.mu.Unlock()
		}
	}
	if p.full {
		// A full build records the revision of its first embedding as
		// the index's: embedd's listing refreshes its digests first, so
		// a rebuild started right after a re-pull is not labelled with
		// the old weights' digest embedd still trusted (ADR-115 left it
		// labelled old for up to the digest TTL, then a 409; ADR-124).
		// One listing per full build, bounded by modelListTimeout.
		m.askModels(ctx, true)
	}
	p.written = m.openWritten(name)
	defer p.written.close()
	seen, err := m.load(ctx, x, &p)
	if err != nil {
		return err
	}
	if p.full && p.oldKW != nil {
		// Rows gone in the new version: out of vectord too.
		var stale []string
		p.oldKW.IDs(func(id string) {
			if !p.kw.Has(id) {
				stale = append(stale, id)
			}
		})
		if err := m.deleteVectors(ctx, name, stale); err != nil {
			return err
		}
	}
	// Vectors a job cut short upserted (ids no saved keyword index holds,
	// so the loop above never sees them): out of vectord too (ADR-121).
	if err := m.sweepWritten(ctx, name, p.written, p.kw); err != nil {
		return err
	}
	if err := p.kw.Save(filepath.Join(m.dir(name), "keyword.lhkw")); err != nil {
		return errs.E("matrix.index", errs.Internal, err)
	}
	files := make([]string, len(d.Files))
	for i, f := range d.Files {
		files[i] = f.Key
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dropped {
		return nil
	}
	x.kw = p.kw
	if p.full {
		// A row store of the index replaced is never used again (ADR-133).
		x.appended, x.store = appendedRows{}, nil
	} else {
		// A row store of the version before can be extended with the
		// rows after p.offset (ADR-133).
		x.appended = appendedRows{from: p.version, rows: p.offset}
	}
	x.files, x.rows = files, d.RowCount
	x.status.Version = d.Version
	x.status.State = StateReady
	if x.again {
		x.status.State = StatePending // a run queued during this one follows
	}
	if x.fullGen == p.fullGen {
		x.full = false
	} else {
		// A POST during the job changed the spec (or found the vector
		// index held): this build is of the old one, and the run the POST
		// queued rebuilds; ready now would be ready at the same version
		// with the old text indexed (ADR-104).
		x.status.State = StatePending
	}
	x.status.Docs = p.kw.Len()
	x.status.FinishedAt = time.Now().UTC()
	x.status.UpdatedAt = x.status.FinishedAt
	if el := x.status.FinishedAt.Sub(x.status.StartedAt).Seconds(); el > 0 {
		x.status.RowsPerSec = float64(seen) / el
	}
	m.opts.Log.Info("index ready", "op", "index", "dataset", name, "version", d.Version, "docs", x.status.Docs,
		"dur_ms", x.status.FinishedAt.Sub(x.status.StartedAt).Milliseconds())
	return nil
}

// appendOnly reports whether the rows indexed at version have (oldRows of
// them, in files oldFiles) are still the first rows of d, in the same
// order, so only the rows after them are new: every version after have up
// to d is an append (its files extend the previous version's) or a compact
// (catalog.ModeCompact: the previous version's rows rewritten into other
// files in the same order, ADR-013), none a replace or a delete. Without a
// compaction the indexed files must be a prefix of d's; with one the file
// keys changed, and the versions' row counts must tell the same story
// (a compact keeps the count, an append never lowers it). A compaction of
// an older version committed over appends (ADR-013 "Compact commits")
// holds the previous version's rows too: the rewritten rows of the version
// it read, then the appended files, each in order; its count is the
// previous version's, so the same rule holds and the OFFSET tail read
// stays right. Only the versions after have are listed (ADR-013
// "Thousands of versions").
func (m *Matrix) appendOnly(ctx context.Context, name string, have int64, d catalog.Dataset, oldFiles []string, oldRows int64) bool {
	if have <= 0 || d.Version <= have || d.RowCount < oldRows {
		return false
	}
	next, rows, compacted := have+1, oldRows, false
	q := catalog.VersionsQuery{After: have, Limit: catalog.MaxVersionsLimit}
	for next <= d.Version {
		page, err := m.deps.Catalog.VersionsPage(ctx, name, q)
		if err != nil || len(page.Versions) == 0 {
			return false
		}
		for _, v := range page.Versions {
			if v.Version > d.Version {
				break
			}
			if v.Version != next || v.Deleted {
				return false // a gap (never expected: versions are gapless) or a delete
			}
			switch v.Mode {
			case catalog.ModeAppend:
				if v.RowCount < rows {
					return false
				}
			case catalog.ModeCompact:
				if v.RowCount != rows {
					return false
				}
				compacted = true
			default:
				return false
			}
			next, rows = next+1, v.RowCount
		}
		if next > d.Version || page.Next <= q.After {
			break
		}
		q.After = page.Next
	}
	if next <= d.Version || rows != d.RowCount {
		return false
	}
	if compacted {
		return true
	}
	if len(oldFiles) > len(d.Files) {
		return false
	}
	for i, k := range oldFiles {
		if d.Files[i].Key != k {
			return false
		}
	}
	return true
}

// page is one batch of rows read from queryd, each id once (duplicates
// collapsed, last one wins: see collapse).
type page struct {
	ids     []string
	texts   []string
	last    string // keyset cursor after this page
	n       int    // rows queryd answered (NULL ids included)
	rows    int64  // rows this page stands for (collapsed copies included)
	skipped int64  // rows whose id vectord cannot hold (empty, too long)
	badID   string // the first such id (for the log)
	more    bool   // another page may follow
	err     error
}

// maxIDBytes is vectord's longest id (internal/vector/hnsw maxID): a row
// with a longer id, or an empty one, would fail vectord's whole batch, so
// it is skipped and counted like a row with no text.
const maxIDBytes = 1024

// load reads the rows to index through queryd and feeds them to embedd,
// vectord and the keyword index, reading the next page while the current
// one is embedded. It returns how many rows it read.
func (m *Matrix) load(ctx context.Context, x *dsIndex, p *plan) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 2)
	go func() {
		defer close(pages)
		cursor, haveCursor := "", false
		offset := p.offset
		for {
			pg := m.readPage(ctx, p, cursor, haveCursor, offset)
			select {
			case pages <- pg:
			case <-ctx.Done():
				return
			}
			if pg.err != nil || !pg.more {
				return
			}
			cursor, haveCursor = pg.last, true
			offset += int64(pg.n)
		}
	}()
	var done int64
	dimsKnown, badLogged := false, false
	for pg := range pages {
		if pg.err != nil {
			return done, pg.err
		}
		if pg.badID != "" && !badLogged {
			badLogged = true
			m.opts.Log.Warn("rows skipped: id empty or longer than vectord holds", "op", "index", "dataset", p.spec.Dataset,
				"max_bytes", maxIDBytes, "id_prefix", idPrefix(pg.badID), "id_bytes", len(pg.badID))
		}
		x.mu.Lock()
		x.status.Skipped += pg.skipped
		x.mu.Unlock()
		pageDone := done
		for start := 0; start < len(pg.ids); start += m.opts.BatchRows {
			end := min(start+m.opts.BatchRows, len(pg.ids))
			skipped, err := m.indexBatch(ctx, x, p, pg.ids[start:end], pg.texts[start:end], &dimsKnown)
			if err != nil {
				return done, err
			}
			done += int64(end - start)
			m.progress(x, done, skipped)
		}
		// The page's rows, collapsed copies and skipped ids included.
		done = pageDone + pg.rows
		m.progress(x, done, 0)
	}
	return done, ctx.Err()
}

// progress records rows done and skipped rows of the running job.
func (m *Matrix) progress(x *dsIndex, done int64, skipped int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.status.RowsDone = done
	x.status.Skipped += int64(skipped)
	x.status.UpdatedAt = time.Now().UTC()
	if el := x.status.UpdatedAt.Sub(x.status.StartedAt).Seconds(); el > 0 {
		x.status.RowsPerSec = float64(done) / el
	}
}

// idPrefix is the start of a long id, for messages.
func idPrefix(id string) string {
	if len(id) <= 64 {
		return id
	}
	return strings.ToValidUTF8(id[:64], "") + "..."
}

// textSelect is the SELECT list of an indexing read: the id as text, then
// every text column as text.
func textSelect(spec IndexRequest) string {
	sel := make([]string, 0, 1+len(spec.TextColumns))
	sel = append(sel, "CAST("+sqlIdent(spec.IDColumn)+" AS VARCHAR) AS "+sqlIdent(idAlias))
	for _, c := range spec.TextColumns {
		sel = append(sel, "CAST("+sqlIdent(c)+" AS VARCHAR)")
	}
	return strings.Join(sel, ", ")
}

// rowText is the id and the indexed text of a row read with textSelect
// (ok false for a NULL id).
func rowText(row []any) (id, txt string, ok bool) {
	if len(row) == 0 || row[0] == nil {
		return "", "", false
	}
	var b strings.Builder
	for _, v := range row[1:] {
		if s := strings.TrimSpace(text(v)); s != "" {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(s)
		}
	}
	return text(row[0]), b.String(), true
}

// readPage reads one page: keyset by id for a full build (ORDER BY id, no
// OFFSET), the tail after offset rows in file order for an append.
func (m *Matrix) readPage(ctx context.Context, p *plan, cursor string, haveCursor bool, offset int64) page {
	id := sqlIdent(p.spec.IDColumn)
	var sql string
	var params []any
	limit := int64(m.opts.PageRows)
	if p.full {
		sql = "SELECT " + textSelect(p.spec) + " FROM " + sqlIdent(p.spec.Dataset) + " WHERE " + id + " IS NOT NULL"
		if haveCursor {
			sql += " AND " + id + " > " + idParam(p.idType, 1)
			params = []any{cursor}
		}
		sql += fmt.Sprintf(" ORDER BY %s LIMIT %d", id, m.opts.PageRows)
	} else {
		// Appended files come after the indexed ones in the view's file
		// order, a compaction keeps every row where it was (appendOnly),
		// and DuckDB preserves insertion order on a plain scan (no
		// filter it could plan as a join; DuckDB 1.5 reads LIMIT/OFFSET
		// of Parquet sorted on file index and row number): the new rows
		// are the rows after the first offset. queryd reads the latest
		// version, which may be newer than the target (an append or a
		// compaction carrying one committed since the job's catalog
		// read): its rows after the target's are left to the next job,
		// which starts from the target's row count, so the read stops at
		// the target's last row (appendOnly versions keep the target's
		// rows as their first rows) and no row is embedded twice.
		end := p.target.RowCount
		if offset >= end {
			return page{} // nothing left of the target (and no query)
		}
		limit = min(limit, end-offset)
		sql = "SELECT " + textSelect(p.spec) + " FROM " + sqlIdent(p.spec.Dataset) +
			fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	}
	res, err := m.deps.Query.Query(ctx, query.Request{SQL: sql, Params: params, MaxRows: m.opts.PageRows, TimeoutMS: 0})
	if err != nil {
		return page{err: err}
	}
	pg := page{n: len(res.Rows)}
	ids := make([]string, 0, len(res.Rows))
	texts := make([]string, 0, len(res.Rows))
	for _, row := range res.Rows {
		idv, t, ok := rowText(row)
		if !ok {
			continue // NULL id (append path): not indexable
		}
		ids = append(ids, idv)
		texts = append(texts, t)
	}
	// A full page, or one cut by queryd's own max_rows: keep paging.
	pg.more = pg.n > 0 && (int64(pg.n) >= limit || res.Truncated)
	if !p.full && offset+int64(pg.n) >= p.target.RowCount {
		pg.more = false // the target's last row is read
	}
	var spill string // full build: an id whose copies may go on past this page
	if p.full && len(ids) > 0 {
		pg.last = ids[len(ids)-1]
		if pg.more {
			// Copies of the page's last id may continue in the next page,
			// which starts after the cursor: leave them all to the next
			// page (its cursor is the id before), or, when the whole page
			// is that id, collapse it here from all its rows.
			i := len(ids) - 1
			for i > 0 && ids[i-1] == pg.last {
				i--
			}
			if i > 0 {
				ids, texts = ids[:i], texts[:i]
				pg.last = ids[i-1]
			} else {
				spill = pg.last
			}
		}
	}
	if err := m.collapse(ctx, p, &pg, ids, texts, spill); err != nil {
		return page{err: err}
	}
	return pg
}

// collapse fills pg with each id of ids once (ADR-033: duplicate ids
// collapse, last one wins). "Last" is the dataset's row order (files in
// manifest order, rows in file order: rowOrdered), the order of a plain
// scan; hydrate shows the copy whose text is indexed. An append page is a
// plain scan in that order, so its last copy is at hand (and
// pages, batches and appends are applied in order, each replacing the
// last); a full build reads by id, so the ids seen more than once (and
// spill, whose copies go past the page) are read again in row order.
// Rows whose id vectord cannot hold are skipped.
func (m *Matrix) collapse(ctx context.Context, p *plan, pg *page, ids, texts []string, spill string) error {
	pos := make(map[string]int, len(ids)) // id -> index of its last copy
	var dups []string
	for i, id := range ids {
		if j, dup := pos[id]; dup && j >= 0 && p.full {
			dups = append(dups, id)
			pos[id] = -1 // listed once
			continue
		}
		if pos[id] != -1 {
			pos[id] = i
		}
	}
	if spill != "" && pos[spill] >= 0 {
		dups = append(dups, spill)
		pos[spill] = -1
	}
	pg.rows = int64(len(ids))
	resolved := map[string]string{}
	if len(dups) > 0 {
		copies, err := m.lastTexts(ctx, p, dups, resolved)
		if err != nil {
			return err
		}
		if spill != "" {
			pg.rows += copies[spill] - int64(len(ids)) // every row of the page is spill
			pg.rows = max(pg.rows, int64(len(ids)))
		}
	}
	emitted := make(map[string]bool, len(dups))
	for i, id := range ids {
		j := pos[id]
		t := texts[i]
		switch {
		case j == -1: // collapsed from a re-read in row order
			if emitted[id] {
				continue
			}
			emitted[id] = true
			if r, ok := resolved[id]; ok {
				t = r
			}
		case j != i: // a later copy in this page wins
			continue
		}
		if id == "" || len(id) > maxIDBytes {
			pg.skipped++
			if pg.badID == "" {
				pg.badID = id
			}
			continue
		}
		pg.ids = append(pg.ids, id)
		pg.texts = append(pg.texts, t)
	}
	return nil
}

// lastTexts reads every row of ids in the dataset's row order (rowOrdered)
// and puts the text of each id's last row in into; it returns the number of
// rows of each id.
func (m *Matrix) lastTexts(ctx context.Context, p *plan, ids []string, into map[string]string) (map[string]int64, error) {
	copies := make(map[string]int64, len(ids))
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		ph := make([]string, len(part))
		for i := range part {
			ph[i] = idParam(p.idType, i+1)
		}
		sql := "SELECT " + textSelect(p.spec) + " FROM " + rowOrdered(p.spec.Dataset) +
			" WHERE " + sqlIdent(p.spec.IDColumn) + " IN (" + strings.Join(ph, ", ") + ")" +
			" ORDER BY " + sqlIdent(rnAlias)
		err := m.scanRows(ctx, sql, stringParams(part), m.opts.PageRows, func(_ []query.Column, row []any) {
			if id, t, ok := rowText(row); ok {
				into[id] = t
				copies[id]++
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return copies, nil
}

// rowOrdered is a FROM source for the dataset's rows numbered in row order
// (files in manifest order, rows in file order) as column rnAlias. The
// number is given by row_number() OVER () on the view's plain scan, before
// any filter: DuckDB preserves insertion order on a plain scan, but not
// through a filter it plans as a join (a long IN list becomes a hash mark
// join whose answer comes in another order, and another each run), and a
// window without PARTITION BY keeps filters above it (TestRowOrderPinned
// checks the plan). Sort on rnAlias to read copies in row order.
func rowOrdered(dataset string) string {
	return "(SELECT *, row_number() OVER () AS " + sqlIdent(rnAlias) + " FROM " + sqlIdent(dataset) + ") AS " + sqlIdent(rowsAlias)
}

// rnAlias and rowsAlias name rowOrdered's row number and subquery.
const (
	rnAlias   = "__matrix_rn"
	rowsAlias = "__matrix_rows"
)

// scanRows runs sql (a SELECT without LIMIT whose ORDER BY fixes the order
// of every row, e.g. on rowOrdered's number) and calls fn for each row in
// that order. An answer longer than limit, or cut by queryd's max_rows, is
// read on with OFFSET; without a total order OFFSET pages could repeat or
// skip rows, since DuckDB's order is not stable across runs of a query
// that it plans as a join.
func (m *Matrix) scanRows(ctx context.Context, sql string, params []any, limit int, fn func(cols []query.Column, row []any)) error {
	limit = max(limit, 1)
	for offset := 0; ; {
		q := fmt.Sprintf("%s LIMIT %d", sql, limit)
		if offset > 0 {
			q += fmt.Sprintf(" OFFSET %d", offset)
		}
		res, err := m.deps.Query.Query(ctx, query.Request{SQL: q, Params: params, MaxRows: limit})
		if err != nil {
			return err
		}
		for _, r := range res.Rows {
			fn(res.Columns, r)
		}
		if len(res.Rows) == 0 || (len(res.Rows) < limit && !res.Truncated) {
			return nil
		}
		offset += len(res.Rows)
	}
}

// idAlias names the id column cast to text in matrixd's queries.
const idAlias = "__matrix_id"

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// indexBatch embeds and stores one batch (each id once, see collapse); rows
// without text are counted as skipped (not searchable) and removed from
// both indexes. An append refresh leaves alone a row whose id the served
// index already holds with the same text (keyword.TextSum): its vector is
// in vectord. Such rows are those a full build read past its version (it
// reads keyset pages of queryd's latest version, so an append committed
// while it runs is read too, and the next refresh reads it again from the
// built version's row count), those a failed job had stored before its
// retry, and appended copies of a row that change nothing.
func (m *Matrix) indexBatch(ctx context.Context, x *dsIndex, p *plan, ids, texts []string, dimsKnown *bool) (int, error) {
	var eIDs, eTexts, empty []string
	for i, t := range texts {
		if t == "" {
			empty = append(empty, ids[i])
			continue
		}
		if !p.full {
			if sum, ok := p.kw.TextSum(ids[i]); ok && sum == keyword.TextSum(t) {
				continue
			}
		}
		eIDs = append(eIDs, ids[i])
		eTexts = append(eTexts, t)
	}
	name := VectorIndex(p.spec.Dataset)
	if len(eTexts) > 0 {
		er, err := m.deps.Embed.Embed(ctx, embed.EmbedRequest{Input: eTexts, Model: m.opts.Model})
		if err != nil {
			return 0, embed.ConfiguredModel("matrix.index", m.opts.Model, err)
		}
		x.mu.Lock()
		dims, indexModel, indexRev := x.status.Dims, x.status.Model, x.status.ModelRevision
		// An append over an index of other dims (the model was replaced
		// or the default model changed) is refused before anything is
		// stored: the index stays whole in the old model and is served;
		// a POST rebuilds it with the new one (ADR-112). So is one whose
		// model answers with other weights of the same dims (another
		// revision, or another model), which would mix vectors that do
		// not compare (ADR-115), and a batch whose dims or weights differ
		// from the job's first (changed mid-job).
		if (*dimsKnown || !p.full) && dims > 0 && (er.Dims != dims || modelDiffers(indexModel, indexRev, er.Model, er.Revision)) {
			m.noteModelChange(x, er.Model, er.Dims, er.Revision)
			x.mu.Unlock()
			return 0, changeError("matrix.index", "the refresh", p.spec.Dataset, dims, indexModel, indexRev, er.Model, er.Dims, er.Revision)
		}
		x.mu.Unlock()
		if !*dimsKnown {
			if err := m.ensureVectorIndex(ctx, x, p, er); err != nil {
				return 0, err
			}
			*dimsKnown = true
		}
		items := make([]vector.Item, len(eIDs))
		for i, id := range eIDs {
			items[i] = vector.Item{ID: id, Vector: er.Embeddings[i], Metadata: vector.Metadata{"id": id}}
		}
		// Journalled first: a job cut short after the upsert leaves ids
		// the next finished job deletes unless its rows hold them.
		if err := p.written.note(eIDs); err != nil {
			return 0, err
		}
		if _, err := m.deps.Vectors.Upsert(ctx, name, items); err != nil {
			return 0, err
		}
		m.metrics.rows.Add(float64(len(items)))
		docs := make([]keyword.Doc, len(eIDs))
		for i := range eIDs {
			docs[i] = keyword.Doc{ID: eIDs[i], Text: eTexts[i]}
		}
		p.kw.Add(docs)
	}
	if len(empty) > 0 && !p.full {
		p.kw.Delete(empty)
		if _, err := m.deps.Vectors.Delete(ctx, name, empty); err != nil && !errs.Is(err, errs.NotFound) {
			return 0, err
		}
	}
	return len(empty), nil
}

// ensureVectorIndex creates the dataset's vectord index for the model's
// dims; an index of other dims (the model changed) is recreated on a full
// build and fails an append.
func (m *Matrix) ensureVectorIndex(ctx context.Context, x *dsIndex, p *plan, er embed.EmbedResponse) error {
	name := VectorIndex(p.spec.Dataset)
	req := vector.CreateIndexRequest{Dims: er.Dims, Metric: "cosine"}
	_, err := m.deps.Vectors.CreateIndex(ctx, name, req)
	if errs.Is(err, errs.Conflict) {
		// vectord answers 409 for an index it came to hold after the
		// job's check: the held conflict (ADR-103), not other dims, and
		// never a drop without a POST (its snapshot may be restored).
		x.mu.Lock()
		drop := x.dropVectors
		x.mu.Unlock()
		if ve := m.heldVectors(ctx)[name]; ve != nil && !drop {
			return heldError("matrix.index", errs.Conflict, 0, p.spec.Dataset, ve, "the refresh")
		}
		if !p.full {
			return errs.Errorf("matrix.index", errs.Conflict, "vectord index %s has other dims than model %s (%d); rebuild the index", name, er.Model, er.Dims)
		}
		if err := m.deps.Vectors.DeleteIndex(ctx, name); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		_, err = m.deps.Vectors.CreateIndex(ctx, name, req)
	}
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.status.Model, x.status.Dims = er.Model, er.Dims
	// The index's weights: those of a full build's first answer ("" when
	// embedd named none); an append keeps the index's (it passed the check
	// above) and an index without one (built before matrixd recorded it)
	// adopts the answer's (ADR-115).
	if p.full || er.Revision != "" {
		if !p.full && x.status.ModelRevision == "" {
			m.opts.Log.Info("vector index adopts the embedding model's revision", "op", "index", "dataset", p.spec.Dataset, "model", er.Model, "revision", er.Revision)
		}
		x.status.ModelRevision = er.Revision
		x.revAt = time.Now()
	}
	if x.modelChange != nil {
		// The vector index now has the model's dims (a full rebuild, or
		// the model answers as before).
		x.modelChange = nil
		m.opts.Log.Info("vector index matches the embedding model again", "op", "index", "dataset", p.spec.Dataset, "model", er.Model, "dims", er.Dims)
	}
	x.mu.Unlock()
	return nil
}
