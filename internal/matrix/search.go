package matrix

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/embed"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix/keyword"
	"lakehouse-go/internal/query"
	"lakehouse-go/internal/vector"
)

// maxDepth bounds the candidate depth of a post-filtered search.
const maxDepth = 10_000

// Search implements Service.
func (m *Matrix) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	start, mode := time.Now(), req.Mode
	resp, err := m.search(ctx, req)
	m.metrics.searched(mode, start, err)
	return resp, err
}

// search is Search's work; Search counts and times it.
func (m *Matrix) search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	if err := req.Validate(); err != nil {
		return SearchResponse{}, err
	}
	var xs []*dsIndex
	if len(req.Datasets) == 0 {
		for _, x := range m.snapshot() {
			x.mu.Lock()
			ok := x.kw != nil
			x.mu.Unlock()
			if ok {
				xs = append(xs, x)
			}
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].spec.Dataset < xs[j].spec.Dataset })
	} else {
		m.mu.Lock()
		for _, d := range req.Datasets {
			x := m.idx[d]
			if x == nil {
				m.mu.Unlock()
				return SearchResponse{}, errs.Errorf("matrix.search", errs.NotFound, "dataset %q has no search index; create it with POST %s", d, IndexesPath)
			}
			xs = append(xs, x)
		}
		m.mu.Unlock()
		for _, x := range xs {
			x.mu.Lock()
			st, ready := x.status, x.kw != nil
			x.mu.Unlock()
			if !ready {
				msg := fmt.Sprintf("the search index of %q is %s (%d of %d rows); search once it is ready", st.Dataset, st.State, st.RowsDone, st.RowsTotal)
				if st.State == StateFailed {
					msg = fmt.Sprintf("the search index of %q failed: %s", st.Dataset, st.Error)
				}
				return SearchResponse{}, errs.Errorf("matrix.search", errs.Conflict, "%s", msg)
			}
		}
	}
	if len(req.Datasets) == 0 && strings.TrimSpace(req.Where) != "" {
		if err := checkWhereSpan(xs, req.Where); err != nil {
			return SearchResponse{}, err
		}
	}
	for _, x := range xs {
		m.maybeRefresh(x)
	}
	// Query vectors, one per model in use, and the revision of the
	// weights that made each (embedd's answer: no round trip of its own).
	vecs := map[string][]float32{}
	revs := map[string]string{}
	if req.Mode != ModeKeyword {
		for _, x := range xs {
			x.mu.Lock()
			model := x.status.Model
			x.mu.Unlock()
			if _, ok := vecs[model]; ok || model == "" {
				continue
			}
			er, err := m.deps.Embed.Embed(ctx, embed.EmbedRequest{Input: []string{req.Query}, Model: model})
			if err != nil {
				return SearchResponse{}, embed.ConfiguredModel("matrix.search", model, err)
			}
			vecs[model] = er.Embeddings[0]
			revs[model] = er.Revision
		}
		// A model answering other dims than an index holds (replaced under
		// its name): vectord's 400 would blame the caller (ADR-112). So
		// does one answering with other weights of the same dims (pulled
		// again: another revision): its ranking would be silently
		// meaningless (ADR-115).
		for _, x := range xs {
			x.mu.Lock()
			model, dims, name, indexRev := x.status.Model, x.status.Dims, x.spec.Dataset, x.status.ModelRevision
			vec, ok := vecs[model]
			rev := revs[model]
			if ok && dims > 0 && (len(vec) != dims || (indexRev != "" && rev != "" && rev != indexRev)) {
				m.noteModelChange(x, model, len(vec), rev)
				x.mu.Unlock()
				return SearchResponse{}, changeError("matrix.search", "the "+req.Mode+" search", name, dims, model, indexRev, model, len(vec), rev)
			}
			if ok && dims > 0 && indexRev == "" && rev != "" && !x.dropped {
				// An index built before matrixd recorded revisions: it
				// adopts its model's revision now, and is checked from
				// then on (ADR-115).
				x.status.ModelRevision = rev
				x.revAt = time.Now()
				m.opts.Log.Info("vector index adopts the embedding model's revision", "op", "search", "dataset", name, "model", model, "revision", rev)
				if err := m.saveState(x); err != nil {
					m.opts.Log.Warn("save index state", "op", "search", "dataset", name, "err", err.Error())
				}
			}
			x.mu.Unlock()
		}
	}
	results := make([][]Result, len(xs))
	errList := make([]error, len(xs))
	var wg sync.WaitGroup
	for i, x := range xs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errList[i] = m.searchOne(ctx, x, req, vecs)
		}()
	}
	wg.Wait()
	var all []Result
	for i := range xs {
		if errList[i] != nil {
			return SearchResponse{}, errList[i]
		}
		all = append(all, results[i]...)
	}
	// Equal scores across datasets keep the datasets' order (by name when
	// every index is searched, else the request's), each dataset's hits in
	// their fused order: the same request ranks a tie the same every time.
	sort.SliceStable(all, func(i, j int) bool { return all[i].Score > all[j].Score })
	if len(all) > req.K {
		all = all[:req.K]
	}
	if all == nil {
		all = []Result{}
	}
	return SearchResponse{Results: all}, nil
}

// checkWhereSpan checks a search of every index's where against each
// index's columns (ADR-149). As a Qdrant filter on a payload field a point
// lacks does not match that point, a where naming a column a dataset lacks
// matches nothing in that dataset (searchIndex leaves it out) — the whole
// where, also under NOT, OR or IS NULL: the column is not there to be null.
// A column no searched dataset has is a 400 (a typo is still reported),
// and so is anything CompileWhere refuses for any dataset (ADR-106's
// unsafe predicates), whatever columns it names. A search naming its
// datasets keeps CompileWhere's 400 for a column one of them lacks: the
// caller chose them, so the filter is wrong for one it meant to search.
func checkWhereSpan(xs []*dsIndex, where string) error {
	count := map[string]int{}
	var first map[string]tok
	for _, x := range xs {
		x.mu.Lock()
		name, cols := x.spec.Dataset, x.columns
		x.mu.Unlock()
		_, missing, err := compileWhereSpan(where, cols)
		if err != nil {
			return errs.E("matrix.search", errs.Invalid, fmt.Sprintf("dataset %s", name), err)
		}
		for c := range missing {
			count[c]++
		}
		first = missing
	}
	var bad *tok
	for c, n := range count {
		if n == len(xs) {
			if t := first[c]; bad == nil || t.pos < bad.pos {
				bad = &t
			}
		}
	}
	if bad != nil {
		return errs.E("matrix.search", errs.Invalid, whereErr("unknown column %q at offset %d (no indexed dataset has it)", bad.text, bad.pos))
	}
	return nil
}

// candidate is one fused id with its ranks.
type candidate struct {
	id    string
	score float64
	vr    int // 1-based; 0 = absent
	kr    int
}

// fuse merges the lists with the configured weights.
func (m *Matrix) fuse(mode string, vec []vector.Result, kw []keyword.Hit) []candidate {
	return fuse(mode, vec, kw, m.opts.VectorWeight, m.opts.KeywordWeight)
}

// Fused is one id of Fuse's answer: its score and 1-based ranks (0 = absent).
type Fused struct {
	ID                  string
	Score               float64
	VectorRank, KeyRank int
}

// Fuse is matrixd's fusion, exported for bench/matrixbench: for hybrid,
// score = wv/(RRFK+vector rank) + wk/(RRFK+keyword rank) over the lists an
// id is in; for vector or keyword mode, that list's own score.
func Fuse(mode string, vec []vector.Result, kw []keyword.Hit, wv, wk float64) []Fused {
	cs := fuse(mode, vec, kw, wv, wk)
	out := make([]Fused, len(cs))
	for i, c := range cs {
		out[i] = Fused{ID: c.id, Score: c.score, VectorRank: c.vr, KeyRank: c.kr}
	}
	return out
}

func fuse(mode string, vec []vector.Result, kw []keyword.Hit, wv, wk float64) []candidate {
	byID := map[string]*candidate{}
	var order []*candidate
	get := func(id string) *candidate {
		c := byID[id]
		if c == nil {
			c = &candidate{id: id}
			byID[id] = c
			order = append(order, c)
		}
		return c
	}
	for i, r := range vec {
		c := get(r.ID)
		c.vr = i + 1
		if mode == ModeVector {
			c.score = float64(r.Score)
		} else {
			c.score += wv / float64(RRFK+i+1)
		}
	}
	for i, h := range kw {
		c := get(h.ID)
		c.kr = i + 1
		if mode == ModeKeyword {
			c.score = h.Score
		} else {
			c.score += wk / float64(RRFK+i+1)
		}
	}
	out := make([]candidate, len(order))
	for i, c := range order {
		out[i] = *c
	}
	// A tie keeps first-seen order: the vector list's order, then the
	// keyword list's for ids only it holds (vectord orders its own ties by
	// id, and so does BM25). Deterministic for
	// equal lists; no map order reaches the answer (byID is only looked up).
	sort.SliceStable(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out
}

// searchOne searches one dataset: candidate lists, fusion, where, hydration.
// A not_found whose cause is the dataset deleted from the catalog (its
// index kept: the refresh fails on it and serves what it has, ADR-033)
// is deletedResult's answer: the rows are gone, only the index is left.
func (m *Matrix) searchOne(ctx context.Context, x *dsIndex, req SearchRequest, vecs map[string][]float32) ([]Result, error) {
	out, err := m.searchIndex(ctx, x, req, vecs)
	if err != nil && errs.Is(err, errs.NotFound) && ctx.Err() == nil {
		name := x.name()
		if m.datasetDeleted(ctx, name) {
			return deletedResult(name, req)
		}
	}
	return out, err
}

// datasetDeleted reports whether the catalog says name is deleted (its
// latest version a tombstone) or unknown (purged).
func (m *Matrix) datasetDeleted(ctx context.Context, name string) bool {
	v, err := m.latestVersion(ctx, name)
	return (err == nil && v == 0) || errs.Is(err, errs.NotFound)
}

// deletedResult is searchOne's answer for an index whose dataset was
// deleted (ADR-147), as droppedResult's for an index deleted: a search of
// every index leaves it out; one naming the dataset is a 404 saying so
// and what to do. Before, both were queryd's 404 `no dataset or table
// named "x"`: one deleted dataset failed the search of every index.
func deletedResult(dataset string, req SearchRequest) ([]Result, error) {
	if len(req.Datasets) == 0 {
		return nil, nil
	}
	return nil, errs.Errorf("matrix.search", errs.NotFound, "dataset %q was deleted: its search index has no rows to show; ingest the dataset again (the index refreshes from it) or remove the index with DELETE %s/%s", dataset, IndexesPath, dataset)
}

// searchIndex is searchOne's search.
func (m *Matrix) searchIndex(ctx context.Context, x *dsIndex, req SearchRequest, vecs map[string][]float32) ([]Result, error) {
	x.mu.Lock()
	spec, idType, cols, kw, model, dropped := x.spec, x.idType, x.columns, x.kw, x.status.Model, x.dropped
	x.mu.Unlock()
	if dropped || kw == nil {
		// Dropped since Search found it (Drop clears kw; it was a nil
		// dereference, a 500).
		return droppedResult(spec.Dataset, req)
	}
	var pred string
	var allow map[string]bool
	var whereStore *rowStore // kept rows the prefilter's answer can be hydrated from
	if strings.TrimSpace(req.Where) != "" {
		var err error
		var missing map[string]tok
		if len(req.Datasets) == 0 {
			// every index: a column this dataset lacks matches nothing
			// here (checkWhereSpan refused one no dataset has; ADR-149)
			pred, missing, err = compileWhereSpan(req.Where, cols)
		} else {
			pred, err = CompileWhere(req.Where, cols)
		}
		if err != nil {
			return nil, errs.E("matrix.search", errs.Invalid, fmt.Sprintf("dataset %s", spec.Dataset), err)
		}
		if len(missing) > 0 {
			return nil, nil
		}
		// Rows kept before the prefilter runs: their version was committed
		// before it, so when the catalog's latest is still theirs after
		// it, the prefilter read exactly that version (ADR-136).
		whereStore = keptStore(x, kw)
		// Selective predicate: the matching ids restrict both lists
		// before ranking, so k is never starved.
		ids, more, err := m.matchingIDs(ctx, spec, pred)
		if err != nil {
			return nil, err
		}
		if !more {
			if len(ids) == 0 {
				return nil, nil
			}
			allow = make(map[string]bool, len(ids))
			for _, id := range ids {
				allow[id] = true
			}
		}
	}
	// Rows kept in memory at the version the catalog serves: hydration
	// without a where needs no Parquet scan (ADR-133). Else (none yet: one
	// is read in the background) through queryd.
	m.maybeLoadStore(x)
	var st *rowStore
	switch {
	case pred == "":
		st = m.freshStore(ctx, x, kw)
	case allow != nil && whereStore != nil:
		// The prefilter's whole answer, at the kept rows' version: the
		// rows come from memory, the where judged by that answer (one
		// scan, not two).
		if m.freshStore(ctx, x, kw) == whereStore {
			st = whereStore
		}
	}
	base := m.opts.Depth
	if base <= 0 {
		base = max(100, 4*req.K)
	}
	depth := base
	if allow != nil {
		depth = min(depth, len(allow))
	}
	for {
		var vlist []vector.Result
		var klist []keyword.Hit
		if req.Mode != ModeKeyword && vecs[model] != nil {
			var err error
			vlist, err = m.vectorList(ctx, spec.Dataset, vecs[model], depth, allow)
			if err != nil {
				x.mu.Lock()
				dropped := x.dropped
				x.mu.Unlock()
				if dropped { // vectord's 404 is the DELETE's, not an outsider's
					return droppedResult(spec.Dataset, req)
				}
				return nil, err
			}
		}
		if req.Mode != ModeVector {
			var fn func(string) bool
			if allow != nil {
				fn = func(id string) bool { return allow[id] }
			}
			klist = kw.Search(req.Query, depth, fn)
		}
		cands := m.fuse(req.Mode, vlist, klist)
		out, err := m.hydrate(ctx, spec, idType, pred, kw, st, allow, cands, req.K)
		if err != nil {
			return nil, err
		}
		if len(out) >= req.K || allow != nil {
			return out, nil
		}
		// Without a where, hydration drops only candidates whose row is
		// gone: vectors of a job cut short, rows deleted or replaced since
		// the index was built (ADR-121). None dropped: the lists ran out,
		// and hold every indexed row there is when vectord's list is as
		// long as the keyword index (every indexed row has a vector) or the
		// depth; else vectord's graph answered short, and deeper lists
		// follow as for a where.
		if pred == "" && len(out) == len(cands) &&
			(req.Mode == ModeKeyword || vecs[model] == nil || len(vlist) >= min(depth, kw.Len())) {
			return out, nil
		}
		// BM25 lists every doc holding a query term: a short keyword list
		// is the whole truth. vectord's list is not (an HNSW graph can
		// answer fewer than k of many live items), so it never ends the
		// search early.
		if req.Mode == ModeKeyword && len(klist) < depth {
			return out, nil
		}
		if depth < maxDepth {
			depth = min(depth*4, maxDepth)
			continue
		}
		// Post-filtering (or, without a where, hydration dropping gone
		// rows) came up short at the deepest lists: rank exactly among
		// every matching row (ADR-032, never starving k).
		ids, err := m.allMatchingIDs(ctx, spec, idType, pred)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return out, nil
		}
		allow = make(map[string]bool, len(ids))
		for _, id := range ids {
			allow[id] = true
		}
		depth = min(base, len(allow))
	}
}

// droppedResult is searchOne's answer for an index deleted during the
// search (ADR-106): a search of every index leaves it out; one naming the
// dataset gets the 404 it would get a moment later.
func droppedResult(dataset string, req SearchRequest) ([]Result, error) {
	if len(req.Datasets) == 0 {
		return nil, nil
	}
	return nil, errs.Errorf("matrix.search", errs.NotFound, "dataset %q has no search index (it was deleted during the search); create it with POST %s", dataset, IndexesPath)
}

// filterChunk is the most ids one vectord search is restricted to; a
// larger allow-set is searched in chunks whose lists are merged by score.
// A var for tests (SetFilterChunk).
var filterChunk = 50_000

// vectorList is vectord's k-NN list of depth for vec, restricted to allow
// when it is not nil.
func (m *Matrix) vectorList(ctx context.Context, dataset string, vec []float32, depth int, allow map[string]bool) ([]vector.Result, error) {
	var chunks [][]any
	if allow != nil {
		// Sorted, not in map order: the chunks (and each request's bytes)
		// are the same from one search to the next.
		sorted := slices.Sorted(maps.Keys(allow))
		ids := make([]any, len(sorted))
		for i, id := range sorted {
			ids[i] = id
		}
		for len(ids) > 0 {
			n := min(filterChunk, len(ids))
			chunks = append(chunks, ids[:n])
			ids = ids[n:]
		}
	} else {
		chunks = [][]any{nil}
	}
	var out []vector.Result
	for _, ids := range chunks {
		sr := vector.SearchRequest{Vector: vec, K: depth, Ef: max(depth, 64)}
		if ids != nil {
			sr.Filter = vector.Filter{"id": ids}
		}
		res, err := m.deps.Vectors.Search(ctx, VectorIndex(dataset), sr)
		if errs.Is(err, errs.NotFound) {
			// vectord's index was dropped behind matrixd's back (DELETE
			// /v1/vectors/indexes/matrix.*): rebuild it in full, and say
			// so rather than pass on vectord's bare "not found".
			m.rebuild(dataset)
			return nil, errs.Errorf("matrix.search", errs.Conflict, "the vector index %s of dataset %q was deleted outside matrixd; it is being rebuilt (GET %s/%s shows progress)", VectorIndex(dataset), dataset, IndexesPath, dataset)
		}
		if err != nil {
			if ve := m.heldVectors(ctx)[VectorIndex(dataset)]; ve != nil {
				return nil, heldError("matrix.search", errs.Unavailable, http.StatusBadGateway, dataset, ve, "the vector search")
			}
			return nil, err
		}
		out = append(out, res...)
	}
	if len(chunks) > 1 {
		// Equal scores in id order, as vectord orders a tie within one
		// list (hnsw orderTies): the merge answers what one search over
		// the whole allow-set would. By score alone, a tie across chunks
		// came in chunk order, which was map order — the same search
		// listed tied hits (and, in hybrid mode, fused their ranks)
		// differently from call to call (ADR-031, determinism).
		slices.SortStableFunc(out, func(a, b vector.Result) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(a.ID, b.ID))
		})
		out = out[:min(depth, len(out))]
	}
	return out, nil
}

// allMatchingIDs returns the id of every row matching pred (every row when
// pred is empty), read in keyset
// pages by id (a where can hold an IN list that DuckDB plans as a join,
// whose order is not stable between queries: OFFSET pages could skip ids).
func (m *Matrix) allMatchingIDs(ctx context.Context, spec IndexRequest, idType, pred string) ([]string, error) {
	const pageRows = 100_000
	id := sqlIdent(spec.IDColumn)
	base := fmt.Sprintf("SELECT CAST(%s AS VARCHAR) FROM %s WHERE %s IS NOT NULL", id, sqlIdent(spec.Dataset), id)
	if pred != "" {
		base += " AND (" + pred + ")"
	}
	var ids []string
	for cursor := ""; ; {
		sql, params := base, []any(nil)
		if len(ids) > 0 {
			sql += " AND " + id + " > " + idParam(idType, 1)
			params = []any{cursor}
		}
		sql += fmt.Sprintf(" ORDER BY %s LIMIT %d", id, pageRows)
		res, err := m.deps.Query.Query(ctx, query.Request{SQL: sql, Params: params, MaxRows: pageRows})
		if err != nil {
			return nil, m.queryErr(ctx, spec, pred, err)
		}
		for _, r := range res.Rows {
			if v := text(r[0]); len(ids) == 0 || v != ids[len(ids)-1] {
				ids = append(ids, v)
			}
		}
		if len(res.Rows) == 0 || (len(res.Rows) < pageRows && !res.Truncated) {
			return ids, nil
		}
		cursor = ids[len(ids)-1]
	}
}

// matchingIDs returns the ids of rows matching pred, or more=true when
// there are more than PrefilterMax.
func (m *Matrix) matchingIDs(ctx context.Context, spec IndexRequest, pred string) ([]string, bool, error) {
	limit := m.opts.PrefilterMax + 1
	sql := fmt.Sprintf("SELECT CAST(%s AS VARCHAR) FROM %s WHERE (%s) AND %s IS NOT NULL LIMIT %d",
		sqlIdent(spec.IDColumn), sqlIdent(spec.Dataset), pred, sqlIdent(spec.IDColumn), limit)
	res, err := m.deps.Query.Query(ctx, query.Request{SQL: sql, MaxRows: limit})
	if err != nil {
		return nil, false, m.queryErr(ctx, spec, pred, err)
	}
	if len(res.Rows) >= limit || res.Truncated {
		return nil, true, nil
	}
	ids := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		ids = append(ids, text(r[0]))
	}
	return ids, false, nil
}

// queryErr explains queryd's refusal of a search's SQL. The SQL holds the
// indexed columns and the caller's where: when the dataset has changed
// since it was indexed so that those columns are gone (replaced with
// another schema), the request is fine and the index is stale — 409
// conflict naming what is missing, not a 400 blaming a where (which the
// caller may not have sent). Without a where any other refusal is the same
// staleness (a changed column type). Else it is the where's fault
// (whereQueryErr).
func (m *Matrix) queryErr(ctx context.Context, spec IndexRequest, pred string, err error) error {
	if k := errs.KindOf(err); k != errs.Invalid && k != errs.Forbidden {
		return err
	}
	stale := func(why string) error {
		return errs.Errorf("matrix.search", errs.Conflict, "dataset %s changed since it was indexed: %s; the index still serves an older version (GET %s/%s shows its state; POST %s re-creates it)",
			spec.Dataset, why, IndexesPath, spec.Dataset, IndexesPath)
	}
	if d, cerr := m.deps.Catalog.Get(ctx, spec.Dataset, 0); cerr == nil {
		if _, _, _, rerr := resolve(spec, d.Schema); rerr != nil {
			return stale(errs.Message(rerr))
		}
	}
	if pred == "" {
		msg := errs.Message(err)
		if i := strings.Index(msg, "\nLINE "); i >= 0 {
			msg = strings.TrimSpace(msg[:i])
		}
		return stale(msg)
	}
	return whereQueryErr(spec.Dataset, err)
}

// whereQueryErr: DuckDB's refusal of a where, without the "LINE n: ..."
// excerpt DuckDB appends — that is the SQL matrixd generated around the
// predicate, which the caller never wrote (queryd keeps it for /v1/sql,
// where the statement is the caller's own).
func whereQueryErr(dataset string, err error) error {
	if k := errs.KindOf(err); k == errs.Invalid || k == errs.Forbidden {
		msg := errs.Message(err)
		if i := strings.Index(msg, "\nLINE "); i >= 0 {
			msg = strings.TrimSpace(msg[:i])
		}
		return errs.E("matrix.search", errs.Invalid, "where on dataset "+dataset+": "+msg)
	}
	return err
}

// hydrate fetches the rows of the best candidates from queryd in windows,
// keeping fused order, until k rows are found or the candidates run out.
// An id's row is the copy whose text the indexes hold (pickCopy); the where
// predicate, if any, is judged on that row. Ids whose row is gone (stale
// index) are dropped. With st (a row store at the catalog's latest version)
// the rows are st's, picked the same way when it was read; with a where,
// st is given only with matching, the prefilter's whole answer at st's
// version, which judges the ids with one copy (lookupWhere; the others are
// hydrated through queryd).
func (m *Matrix) hydrate(ctx context.Context, spec IndexRequest, idType, pred string, kw *keyword.Index, st *rowStore, matching map[string]bool, cands []candidate, k int) ([]Result, error) {
	var out []Result
	for start := 0; start < len(cands) && len(out) < k; {
		window := max(2*(k-len(out)), 16)
		if pred != "" {
			window = max(window, 256)
		}
		end := min(start+window, len(cands))
		batch := cands[start:end]
		start = end
		ids := make([]string, len(batch))
		for i, c := range batch {
			ids[i] = c.id
		}
		var rows map[string]map[string]any
		var err error
		rest := ids
		switch {
		case st != nil && pred == "":
			rows, err = st.lookup(ids)
			rest = nil
		case st != nil && matching != nil:
			rows, rest, err = st.lookupWhere(ids, matching)
		}
		if err == nil && len(rest) > 0 {
			var more map[string]map[string]any
			if more, err = m.hydrateRows(ctx, spec, idType, pred, kw, rest); err != nil {
				err = m.queryErr(ctx, spec, pred, err)
			} else if rows == nil {
				rows = more
			} else {
				maps.Copy(rows, more)
			}
		}
		if err != nil {
			return nil, err
		}
		for _, c := range batch {
			row, ok := rows[c.id]
			if !ok {
				continue
			}
			res := Result{Dataset: spec.Dataset, ID: c.id, Score: c.score, Row: row}
			if c.vr > 0 {
				v := c.vr
				res.Ranks.Vector = &v
			}
			if c.kr > 0 {
				v := c.kr
				res.Ranks.Keyword = &v
			}
			out = append(out, res)
			if len(out) == k {
				break
			}
		}
	}
	return out, nil
}

// rowCopy is one row of an id in hydrate's answer.
type rowCopy struct {
	row   map[string]any
	sum   uint64 // keyword.TextSum of its text, computed as the build does
	match bool   // the where predicate holds (true without one)
}

// hydrateRows returns the row of each of ids that the indexes hold and that
// passes pred. It reads every copy of the ids in one query; queryd answers
// it in no particular order (DuckDB plans a long IN list as a hash join), so
// an id's row is picked by its text, not by its place in the answer: the
// copy whose text has the TextSum the keyword index keeps for the id. Only
// when that does not decide (copies with equal text, a text no copy has any
// more, an index loaded without sums) is row order asked for: those ids are
// read again in the dataset's row order (rowOrdered) and the last copy wins
// (ADR-033), as it did when the index was built.
func (m *Matrix) hydrateRows(ctx context.Context, spec IndexRequest, idType, pred string, kw *keyword.Index, ids []string) (map[string]map[string]any, error) {
	copies := map[string][]rowCopy{}
	// Room for a few copies an id: a where's hydration of its duplicated
	// ids alone (lookupWhere) asks for one or two ids with several copies.
	limit := max(2*len(ids), 64)
	res, err := m.deps.Query.Query(ctx, query.Request{SQL: hydrateSQL(spec, idType, pred, len(ids), false), Params: stringParams(ids), MaxRows: limit})
	if err != nil {
		return nil, err
	}
	undecided := ids
	if !res.Truncated && len(res.Rows) < limit {
		// The answer is whole: pick by text.
		for _, r := range res.Rows {
			id, c := hydrateCopy(spec, pred, res.Columns, r)
			copies[id] = append(copies[id], c)
		}
		undecided = nil
		for _, id := range ids {
			if cs := copies[id]; len(cs) > 1 && pickCopy(kw, id, cs, false) < 0 {
				undecided = append(undecided, id)
			}
		}
	}
	if len(undecided) > 0 {
		// Cut short (many copies) or not decided by text: read these ids
		// again in row order, paged on the row number.
		for _, id := range undecided {
			delete(copies, id)
		}
		err := m.scanRows(ctx, hydrateSQL(spec, idType, pred, len(undecided), true), stringParams(undecided), limit, func(cols []query.Column, r []any) {
			id, c := hydrateCopy(spec, pred, cols, r)
			copies[id] = append(copies[id], c)
		})
		if err != nil {
			return nil, err
		}
	}
	rows := make(map[string]map[string]any, len(copies))
	inOrder := make(map[string]bool, len(undecided))
	for _, id := range undecided {
		inOrder[id] = true
	}
	for id, cs := range copies {
		if i := pickCopy(kw, id, cs, inOrder[id]); i >= 0 && cs[i].match {
			rows[id] = cs[i].row
		}
	}
	return rows, nil
}

// pickCopy returns the index of the copy of id whose text the indexes hold:
// the only copy; else the only one whose text has the sum kw keeps for id;
// else, when cs is in the dataset's row order (inOrder), the last of the
// copies with that sum (the last of all when none has it: the text changed
// since the index was built). -1: undecided.
func pickCopy(kw *keyword.Index, id string, cs []rowCopy, inOrder bool) int {
	if len(cs) == 1 {
		return 0
	}
	last, n := -1, 0
	if kw != nil {
		if want, ok := kw.TextSum(id); ok {
			for i, c := range cs {
				if c.sum == want {
					last, n = i, n+1
				}
			}
		}
	}
	switch {
	case n == 1:
		return last
	case !inOrder:
		return -1
	case n > 1:
		return last
	default:
		return len(cs) - 1
	}
}

// hydrateSQL reads every copy of n ids: all columns, then the id as text,
// the text columns as the build reads them (textSelect), and the where
// predicate's value. inOrder numbers the rows of the dataset's plain scan
// first (rowOrdered) and sorts on that number, so the copies come in row
// order and OFFSET pages (scanRows) are stable.
func hydrateSQL(spec IndexRequest, idType, pred string, n int, inOrder bool) string {
	ph := make([]string, n)
	for i := range ph {
		ph[i] = idParam(idType, i+1)
	}
	id := sqlIdent(spec.IDColumn)
	var b strings.Builder
	b.WriteString("SELECT *")
	if inOrder {
		b.WriteString(" EXCLUDE (" + sqlIdent(rnAlias) + ")")
	}
	b.WriteString(", " + textSelect(spec))
	if pred != "" {
		// CAST: a predicate whose value is not BOOLEAN (a bare INTEGER
		// column) is judged as WHERE judges it; COALESCE alone would keep
		// its type, and an INTEGER is never `true`.
		b.WriteString(", COALESCE(CAST((" + pred + ") AS BOOLEAN), false) AS " + sqlIdent(matchAlias))
	}
	from := sqlIdent(spec.Dataset)
	if inOrder {
		from = rowOrdered(spec.Dataset)
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s IN (%s)", from, id, strings.Join(ph, ", "))
	if inOrder {
		b.WriteString(" ORDER BY " + sqlIdent(rnAlias))
	}
	return b.String()
}

// hydrateCopy splits a row of hydrateSQL's answer into the id and its copy.
func hydrateCopy(spec IndexRequest, pred string, cols []query.Column, r []any) (string, rowCopy) {
	extra := 1 + len(spec.TextColumns)
	if pred != "" {
		extra++
	}
	n := len(cols) - extra
	id, txt, _ := rowText(r[n : n+1+len(spec.TextColumns)])
	c := rowCopy{row: make(map[string]any, n), sum: keyword.TextSum(txt), match: pred == "" || r[len(r)-1] == true}
	for i, col := range cols[:n] {
		c.row[col.Name] = r[i]
	}
	return id, c
}

// stringParams is ids as query parameters.
func stringParams(ids []string) []any {
	ps := make([]any, len(ids))
	for i, id := range ids {
		ps[i] = id
	}
	return ps
}

// matchAlias names the where predicate's value in hydrate's query.
const matchAlias = "__matrix_match"

// rebuild starts a full rebuild of dataset's index (if it still has one).
func (m *Matrix) rebuild(dataset string) {
	m.mu.Lock()
	x := m.idx[dataset]
	m.mu.Unlock()
	if x == nil {
		return
	}
	x.mu.Lock()
	running := x.running
	if !running {
		x.markFull()
	}
	x.mu.Unlock()
	if !running { // a search during a job asks again after it
		m.start(x)
	}
}
