package matrix

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

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
	for _, x := range xs {
		m.maybeRefresh(x)
	}
	// Query vectors, one per model in use.
	vecs := map[string][]float32{}
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
				return SearchResponse{}, err
			}
			vecs[model] = er.Embeddings[0]
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
	sort.SliceStable(all, func(i, j int) bool { return all[i].Score > all[j].Score })
	if len(all) > req.K {
		all = all[:req.K]
	}
	if all == nil {
		all = []Result{}
	}
	return SearchResponse{Results: all}, nil
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
	sort.SliceStable(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out
}

// searchOne searches one dataset: candidate lists, fusion, where, hydration.
func (m *Matrix) searchOne(ctx context.Context, x *dsIndex, req SearchRequest, vecs map[string][]float32) ([]Result, error) {
	x.mu.Lock()
	spec, idType, cols, kw, model := x.spec, x.idType, x.columns, x.kw, x.status.Model
	x.mu.Unlock()
	var pred string
	var allow map[string]bool
	if strings.TrimSpace(req.Where) != "" {
		var err error
		if pred, err = CompileWhere(req.Where, cols); err != nil {
			return nil, errs.E("matrix.search", errs.Invalid, fmt.Sprintf("dataset %s", spec.Dataset), err)
		}
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
		out, err := m.hydrate(ctx, spec, idType, pred, cands, req.K)
		if err != nil {
			return nil, err
		}
		if len(out) >= req.K || pred == "" || allow != nil {
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
		// Post-filtering came up short at the deepest lists: rank exactly
		// among every matching row (ADR-032, never starving k).
		ids, err := m.allMatchingIDs(ctx, spec, pred)
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

// filterChunk is the most ids one vectord search is restricted to; a
// larger allow-set is searched in chunks whose lists are merged by score.
const filterChunk = 50_000

// vectorList is vectord's k-NN list of depth for vec, restricted to allow
// when it is not nil.
func (m *Matrix) vectorList(ctx context.Context, dataset string, vec []float32, depth int, allow map[string]bool) ([]vector.Result, error) {
	var chunks [][]any
	if allow != nil {
		ids := make([]any, 0, len(allow))
		for id := range allow {
			ids = append(ids, id)
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
			return nil, err
		}
		out = append(out, res...)
	}
	if len(chunks) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
		out = out[:min(depth, len(out))]
	}
	return out, nil
}

// allMatchingIDs returns the id of every row matching pred, read in pages.
func (m *Matrix) allMatchingIDs(ctx context.Context, spec IndexRequest, pred string) ([]string, error) {
	sql := fmt.Sprintf("SELECT CAST(%s AS VARCHAR) FROM %s WHERE (%s) AND %s IS NOT NULL",
		sqlIdent(spec.IDColumn), sqlIdent(spec.Dataset), pred, sqlIdent(spec.IDColumn))
	var ids []string
	err := m.scanRows(ctx, sql, nil, 100_000, func(_ []query.Column, r []any) {
		ids = append(ids, text(r[0]))
	})
	if err != nil {
		return nil, whereQueryErr(spec.Dataset, err)
	}
	return ids, nil
}

// matchingIDs returns the ids of rows matching pred, or more=true when
// there are more than PrefilterMax.
func (m *Matrix) matchingIDs(ctx context.Context, spec IndexRequest, pred string) ([]string, bool, error) {
	limit := m.opts.PrefilterMax + 1
	sql := fmt.Sprintf("SELECT CAST(%s AS VARCHAR) FROM %s WHERE (%s) AND %s IS NOT NULL LIMIT %d",
		sqlIdent(spec.IDColumn), sqlIdent(spec.Dataset), pred, sqlIdent(spec.IDColumn), limit)
	res, err := m.deps.Query.Query(ctx, query.Request{SQL: sql, MaxRows: limit})
	if err != nil {
		return nil, false, whereQueryErr(spec.Dataset, err)
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

func whereQueryErr(dataset string, err error) error {
	if k := errs.KindOf(err); k == errs.Invalid || k == errs.Forbidden {
		return errs.E("matrix.search", errs.Invalid, "where on dataset "+dataset, err)
	}
	return err
}

// hydrate fetches the rows of the best candidates from queryd in windows,
// keeping fused order, until k rows are found or the candidates run out.
// An id's row is its last copy in the dataset's row order, the one whose
// text is indexed (collapse); the where predicate, if any, is judged on
// that row. Ids whose row is gone (stale index) are dropped.
func (m *Matrix) hydrate(ctx context.Context, spec IndexRequest, idType, pred string, cands []candidate, k int) ([]Result, error) {
	var out []Result
	for start := 0; start < len(cands) && len(out) < k; {
		window := max(2*(k-len(out)), 16)
		if pred != "" {
			window = max(window, 256)
		}
		end := min(start+window, len(cands))
		batch := cands[start:end]
		start = end
		ph := make([]string, len(batch))
		params := make([]any, len(batch))
		for i, c := range batch {
			ph[i] = idParam(idType, i+1)
			params[i] = c.id
		}
		// Every copy of an id, in the dataset's row order: the last is the
		// row whose text the indexes hold (collapse, ADR-033); the where
		// predicate is judged on that row, not on an earlier copy.
		id := sqlIdent(spec.IDColumn)
		sql := fmt.Sprintf("SELECT *, CAST(%s AS VARCHAR) AS %s", id, sqlIdent(idAlias))
		extra := 1
		if pred != "" {
			sql += ", COALESCE((" + pred + "), false) AS " + sqlIdent(matchAlias)
			extra = 2
		}
		sql += fmt.Sprintf(" FROM %s WHERE %s IN (%s)", sqlIdent(spec.Dataset), id, strings.Join(ph, ", "))
		rows := map[string]map[string]any{}
		err := m.scanRows(ctx, sql, params, len(batch)*2, func(cols []query.Column, r []any) {
			n := len(cols) - extra
			rid := text(r[n])
			if pred != "" && r[n+1] != true {
				delete(rows, rid) // the last copy decides
				return
			}
			row := make(map[string]any, n)
			for i, c := range cols[:n] {
				row[c.Name] = r[i]
			}
			rows[rid] = row
		})
		if err != nil {
			return nil, whereQueryErr(spec.Dataset, err)
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
		x.full = true
	}
	x.mu.Unlock()
	if !running { // a search during a job asks again after it
		m.start(x)
	}
}
