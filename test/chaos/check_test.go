package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"lakehouse-go/internal/testutil/suite"
)

// checker holds the invariants looked at after the chaos.
type checker struct {
	t *testing.T
	s *suite.Suite
	c *client
	l *ledger
	v *violations
	// more are datasets beyond the workload's, checked the same way.
	more []string
}

// all is every dataset the checks look at.
func (k *checker) all() []string { return append(slices.Clone(datasets), k.more...) }

type object struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// list is every object under prefix, through storaged's paged listing.
func (k *checker) list(prefix string) ([]object, bool) {
	var all []object
	after := ""
	for {
		q := url.Values{"prefix": {prefix}, "limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		st, b := k.c.call("check.list", "GET", "/v1/storage/objects?"+q.Encode(), "", nil)
		var page struct {
			Objects []object `json:"objects"`
			Next    string   `json:"next"`
		}
		if st != 200 || json.Unmarshal(b, &page) != nil {
			k.v.add("list %q: %d %.300s", prefix, st, b)
			return nil, false
		}
		all = append(all, page.Objects...)
		if page.Next == "" {
			return all, true
		}
		after = page.Next
	}
}

type manifest struct {
	Version  int64  `json:"version"`
	Mode     string `json:"mode"`
	RowCount int64  `json:"row_count"`
	Files    []struct {
		Key   string `json:"key"`
		Rows  int64  `json:"rows"`
		Bytes int64  `json:"bytes"`
	} `json:"files"`
}

func (m *manifest) has(key string) bool {
	for _, f := range m.Files {
		if f.Key == key {
			return true
		}
	}
	return false
}

// datasets: every acknowledged version exists with the acknowledged rows,
// versions are gapless, the latest answers SQL with exactly the
// acknowledged batches, every referenced file exists, and every file no
// manifest lists is covered by a pending-ingest marker (ADR-024: the sweep
// removes it a lease later; nothing else may leave one).
func (k *checker) datasets() {
	referenced := map[string]bool{}
	for _, ds := range k.all() {
		// Versions, gapless, from catalogd and from the manifests in storaged.
		var versions []int64
		after := int64(0)
		for {
			st, b := k.c.call("check.versions", "GET", fmt.Sprintf("/v1/catalog/datasets/%s/versions?limit=1000&after=%d", ds, after), "", nil)
			var page struct {
				Versions []struct {
					Version int64 `json:"version"`
				} `json:"versions"`
				Next int64 `json:"next"`
			}
			if st != 200 || json.Unmarshal(b, &page) != nil {
				k.v.add("%s versions: %d %.300s", ds, st, b)
				return
			}
			for _, x := range page.Versions {
				versions = append(versions, x.Version)
			}
			if page.Next == 0 {
				break
			}
			after = page.Next
		}
		latest := int64(len(versions))
		for i, x := range versions {
			if x != int64(i+1) {
				k.v.add("%s: versions %v are not 1..%d", ds, versions, latest)
				break
			}
		}
		objs, _ := k.list("_catalog/" + ds + "/")
		var stored []int64
		for _, o := range objs {
			x, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(o.Key, "_catalog/"+ds+"/"), ".json"), 10, 64)
			if err != nil {
				k.v.add("%s: unexpected object %s among the manifests", ds, o.Key)
				continue
			}
			stored = append(stored, x)
		}
		slices.Sort(stored)
		if !slices.Equal(stored, versions) {
			k.v.add("%s: manifests in storaged %v, catalogd lists %v", ds, stored, versions)
		}
		man := map[int64]*manifest{}
		for x := int64(1); x <= latest; x++ {
			st, b := k.c.call("check.manifest", "GET", fmt.Sprintf("/v1/catalog/datasets/%s?version=%d", ds, x), "", nil)
			m := &manifest{}
			if st != 200 || json.Unmarshal(b, m) != nil {
				k.v.add("%s version %d: %d %.300s", ds, x, st, b)
				continue
			}
			var sum int64
			for _, f := range m.Files {
				sum += f.Rows
				referenced[f.Key] = true
			}
			if sum != m.RowCount {
				k.v.add("%s version %d: row_count %d, its files hold %d", ds, x, m.RowCount, sum)
			}
			man[x] = m
		}
		// Every acknowledged ingest: its version, its files, its rows.
		k.l.mu.Lock()
		acks := slices.Clone(k.l.ingests)
		sent := k.l.sent
		k.l.mu.Unlock()
		inLatest := map[string]int64{} // batch -> acknowledged rows, for batches the latest version holds
		lm := man[latest]
		for _, a := range acks {
			if a.Dataset != ds {
				continue
			}
			m := man[a.Version]
			if m == nil {
				k.v.add("%s: acknowledged version %d (batch %s) missing", ds, a.Version, a.batch)
				continue
			}
			for _, f := range a.Files {
				if !m.has(f.Key) {
					k.v.add("%s version %d lacks acknowledged file %s of batch %s", ds, a.Version, f.Key, a.batch)
				}
			}
			want := a.Rows
			if a.Mode == "append" && a.Version > 1 && man[a.Version-1] != nil {
				want += man[a.Version-1].RowCount
			}
			if m.RowCount != want {
				k.v.add("%s version %d (%s of %d rows, batch %s): row_count %d, want %d", ds, a.Version, a.Mode, a.Rows, a.batch, m.RowCount, want)
			}
			// A batch stays in every later version until a replace; a
			// compact keeps every row (ADR-077).
			replaced := false
			for x := a.Version + 1; x <= latest; x++ {
				if man[x] == nil || man[x].Mode != "append" && man[x].Mode != "compact" {
					replaced = true
				}
			}
			if !replaced {
				inLatest[a.batch] = a.Rows
			}
		}
		for _, a := range k.l.compacts {
			if a.Dataset != ds {
				continue
			}
			if m := man[a.Version]; m == nil || m.Mode != "compact" || m.RowCount != a.Rows {
				k.v.add("%s: acknowledged compaction to version %d of %d rows: manifest %+v", ds, a.Version, a.Rows, m)
			}
		}
		if lm == nil {
			continue
		}
		// SQL over the latest version.
		st, b := k.c.json("check.sql", "POST", "/v1/sql", map[string]any{"sql": "SELECT batch, count(*) AS n FROM " + ds + " GROUP BY batch ORDER BY batch"})
		var res struct {
			Rows [][]any `json:"rows"`
		}
		if st != 200 || json.Unmarshal(b, &res) != nil {
			k.v.add("%s: SQL %d %.300s", ds, st, b)
			continue
		}
		got := map[string]int64{}
		var total int64
		for _, row := range res.Rows {
			name, _ := row[0].(string)
			n, _ := row[1].(float64)
			got[name] = int64(n)
			total += int64(n)
			if !sent[name] {
				k.v.add("%s: SQL shows batch %q that was never sent", ds, name)
			}
		}
		if total != lm.RowCount {
			k.v.add("%s: SQL counts %d rows, latest version %d has row_count %d", ds, total, latest, lm.RowCount)
		}
		for batch, rows := range inLatest {
			if got[batch] != rows {
				if got[batch] == 0 {
					k.v.add("%s: acknowledged batch %s is not in the latest version %d, and no replace came after it", ds, batch, latest)
					continue
				}
				k.v.add("%s: SQL holds %d rows of acknowledged batch %s, want %d", ds, got[batch], batch, rows)
			}
		}
		k.t.Logf("%s: %d versions, %d rows, %d acknowledged batches in the latest", ds, latest, lm.RowCount, len(inLatest))
	}
	// Every referenced file exists; every other data file is under a
	// pending marker. ingestd's failure cleanup runs inside the request,
	// so the first look after the workload should already be clean; a few
	// more looks allow for deletes still on their way.
	var last []string
	for try := 0; try < 10; try++ {
		last = last[:0]
		objs, ok := k.list("datasets/")
		if !ok {
			return
		}
		markers, _ := k.list("_ingest/pending/")
		marked := map[string]bool{}
		for _, m := range markers {
			// _ingest/pending/{name}/{id}.json covers datasets/{name}/{id}/
			rest := strings.TrimSuffix(strings.TrimPrefix(m.Key, "_ingest/pending/"), ".json")
			marked["datasets/"+rest+"/"] = true
		}
		present := map[string]bool{}
		orphans := 0
		for _, o := range objs {
			present[o.Key] = true
			if referenced[o.Key] {
				continue
			}
			prefix := o.Key[:strings.LastIndexByte(o.Key, '/')+1]
			if !marked[prefix] {
				last = append(last, fmt.Sprintf("orphan data file %s (%d bytes): no manifest lists it and no pending marker covers it", o.Key, o.Size))
			}
			orphans++
		}
		for key := range referenced {
			if !present[key] {
				last = append(last, "file "+key+" listed by a manifest is missing in storaged")
			}
		}
		if len(last) == 0 {
			k.t.Logf("data files: %d, unreferenced under a pending marker: %d, markers: %d", len(objs), orphans, len(markers))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, s := range last {
		k.v.add("%s", s)
	}
}

// tempFiles: no write in progress (put-*) is left under objects/tmp once
// the workload has stopped (ADR-010); spare-* files are storaged's pool
// and its socket connections' spares (ADR-015), kept while it runs. With
// stopped set (after SIGTERM) nothing at all may be left.
func (k *checker) tempFiles(stopped bool) {
	dir := filepath.Join(k.s.Dir, "data", "objects", "tmp")
	var names []string
	for try := 0; try < 20; try++ {
		ents, err := os.ReadDir(dir)
		if err != nil {
			k.v.add("read %s: %v", dir, err)
			return
		}
		names = names[:0]
		for _, e := range ents {
			if stopped || !strings.HasPrefix(e.Name(), "spare-") {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	k.v.add("temp files left under objects/tmp (stopped %v): %v", stopped, names)
}

// objects: every acknowledged PUT reads back byte for byte with its etag
// (or is gone after a DELETE whose outcome the client never learnt);
// every acknowledged DELETE is gone.
func (k *checker) objects() {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	for key, o := range k.l.objects {
		st, b := k.c.call("check.object", "GET", "/v1/storage/objects/"+key, "", nil, 404)
		switch {
		case o.deleted && st != 404:
			k.v.add("object %s: acknowledged DELETE, then GET %d", key, st)
		case o.mayBeGone && st == 404:
			// A DELETE whose outcome is unknown was carried out.
		case !o.deleted && (st != 200 || !bytes.Equal(b, o.body)):
			k.v.add("object %s: acknowledged PUT of %d bytes, GET %d with %d bytes", key, len(o.body), st, len(b))
		}
	}
}

// pathway: every acknowledged memory and trace step is there.
func (k *checker) pathway() {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	for id, text := range k.l.memories {
		st, b := k.c.call("check.memory", "GET", "/v1/pathway/memories/"+url.PathEscape(id), "", nil)
		var m struct {
			Memory string `json:"memory"`
		}
		if st != 200 || json.Unmarshal(b, &m) != nil || m.Memory != text {
			k.v.add("acknowledged memory %s (%q): %d %.300s", id, text, st, b)
		}
	}
	for run, names := range k.l.steps {
		have := map[string]bool{}
		after := ""
		for {
			q := url.Values{"limit": {"1000"}}
			if after != "" {
				q.Set("after", after)
			}
			st, b := k.c.call("check.trace", "GET", "/v1/pathway/traces/"+run+"?"+q.Encode(), "", nil)
			var tr struct {
				Steps []struct {
					Index int    `json:"index"`
					Name  string `json:"name"`
				} `json:"steps"`
				Next string `json:"next"`
			}
			if st != 200 || json.Unmarshal(b, &tr) != nil {
				k.v.add("trace %s: %d %.300s", run, st, b)
				break
			}
			for _, s := range tr.Steps {
				if s.Index != len(have) {
					k.v.add("trace %s: step %s at index %d, want %d (indexes run 0, 1, 2, ...)", run, s.Name, s.Index, len(have))
				}
				if have[s.Name] {
					k.v.add("trace %s: step %s twice", run, s.Name)
				}
				have[s.Name] = true
			}
			if tr.Next == "" {
				break
			}
			after = tr.Next
		}
		for _, n := range names {
			if !have[n] {
				k.v.add("trace %s: acknowledged step %s missing", run, n)
			}
		}
	}
}

// vectors: every acknowledged upsert is found by its own vector.
func (k *checker) vectors() {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	for id, vec := range k.l.vectors {
		st, b := k.c.json("check.vector", "POST", "/v1/vectors/indexes/"+vecIndex+"/search", map[string]any{"vector": vec, "k": 1, "filter": map[string]any{"uid": id}})
		var res struct {
			Results []struct {
				ID string `json:"id"`
			} `json:"results"`
		}
		if st != 200 || json.Unmarshal(b, &res) != nil || len(res.Results) != 1 || res.Results[0].ID != id {
			k.v.add("acknowledged vector %s: %d %.300s", id, st, b)
		}
	}
}

// matrix: after a POST the index reaches ready (at the latest version) or
// a clear failed state, and a ready index finds rows of the latest version.
func (k *checker) matrix() { k.matrixOf("chaos_a") }

// matrixOf is matrix for dataset ds.
func (k *checker) matrixOf(ds string) (tok string) {
	st, b := k.c.json("check.matrix", "POST", "/v1/matrix/indexes", map[string]any{"dataset": ds, "id_column": "id", "text_columns": []string{"text"}}, 409)
	if st/100 != 2 && st != 409 {
		k.v.add("matrix POST of "+ds+" after the chaos: %d %.300s", st, b)
		return ""
	}
	var status struct {
		State    string `json:"state"`
		Version  int64  `json:"version"`
		Error    string `json:"error"`
		Docs     int64  `json:"docs"`
		Skipped  int64  `json:"skipped"`
		RowsDone int64  `json:"rows_done"`
	}
	// Stuck means no progress: a big chaos_a (a few 20-60k-row files can
	// land in it) takes minutes to embed on a slow, busy CI machine, and
	// that is not a defect. Each advance of rows_done restarts the wait;
	// the overall cap only bounds a test that would otherwise run forever.
	const stall, limit = 60 * time.Second, 10 * time.Minute
	start, lastMove, lastDone := time.Now(), time.Now(), int64(-1)
	for {
		st, b = k.c.call("check.matrix", "GET", "/v1/matrix/indexes/"+ds, "", nil)
		if st == 200 && json.Unmarshal(b, &status) == nil && (status.State == "ready" || status.State == "failed") {
			break
		}
		if st == 200 && status.RowsDone != lastDone {
			lastMove, lastDone = time.Now(), status.RowsDone
		}
		if time.Since(lastMove) > stall {
			k.v.add("matrix index stuck: no progress for %v after a POST: %d %.300s", stall, st, b)
			return ""
		}
		if time.Since(start) > limit {
			k.v.add("matrix index not ready %v after a POST, though moving: %d %.300s", limit, st, b)
			return ""
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d := time.Since(start); d > 30*time.Second {
		k.t.Logf("matrix index of "+ds+" took %v to finish after the chaos", d.Round(time.Second))
	}
	if status.State == "failed" {
		if status.Error == "" {
			k.v.add("matrix index of %s failed without saying why: %s", ds, b)
		}
		k.t.Logf("matrix index of %s failed after the chaos: %s", ds, status.Error)
		return ""
	}
	// A row of the newest acknowledged batch of chaos_a still in the latest version.
	_, lb := k.c.call("check.matrix", "GET", "/v1/catalog/datasets/"+ds, "", nil)
	var lm manifest
	json.Unmarshal(lb, &lm)
	if status.Version != lm.Version {
		k.v.add("matrix index ready at version %d, %s is at %d", status.Version, ds, lm.Version)
	}
	// Ids are unique and every row has text: the keyword index and the
	// vector index hold exactly the latest version's rows — no row of a
	// replaced version left behind by a job a kill cut short.
	st, b = k.c.call("check.matrix", "GET", "/v1/vectors/indexes/matrix."+ds, "", nil)
	var vi struct {
		Count int64 `json:"count"`
	}
	if st != 200 || json.Unmarshal(b, &vi) != nil {
		k.v.add("vector index of %s: %d %.300s", ds, st, b)
	} else if status.Version == lm.Version && (vi.Count != lm.RowCount || status.Docs != lm.RowCount) {
		k.v.add("%s version %d has %d rows (ADR-121); matrix keyword docs %d, vectors in %s %d", ds, lm.Version, lm.RowCount, status.Docs, "matrix."+ds, vi.Count)
	}
	k.l.mu.Lock()
	for _, a := range k.l.ingests {
		if a.Dataset == ds && len(a.Files) > 0 && lm.has(a.Files[0].Key) {
			tok = a.tokens[len(a.tokens)-1]
		}
	}
	k.l.mu.Unlock()
	if tok == "" {
		return ""
	}
	st, b = k.c.json("check.matrix", "POST", "/v1/matrix/search", map[string]any{"query": tok, "datasets": []string{ds}, "k": 1, "mode": "keyword"})
	if st != 200 || !strings.Contains(string(b), tok+`"`) {
		k.v.add("matrix keyword search of %s for %s (a row of the latest version): %d %.300s", ds, tok, st, b)
	}
	// A vector search is never starved: k results while the dataset has
	// k rows (DESIGN.md's "no asked 10, got 3").
	want := min(10, lm.RowCount)
	st, b = k.c.json("check.matrix", "POST", "/v1/matrix/search", map[string]any{"query": "river stone", "datasets": []string{ds}, "k": 10, "mode": "vector"})
	var res struct {
		Results []json.RawMessage `json:"results"`
	}
	if st != 200 || json.Unmarshal(b, &res) != nil || int64(len(res.Results)) != want {
		k.v.add("vector search of %s (%d rows) with k 10 (ADR-121): %d results, want %d (%d %.200s)", ds, lm.RowCount, len(res.Results), want, st, b)
	}
	return tok
}

// settledOrphans: once the workload has stopped, a data file no manifest
// lists may stay only where ingestd could not settle its ingest: the
// process was killed while the ingest ran (its marker was made before a
// kill -9 of ingestd), or the commit's outcome is unknown (its answer was
// lost, logged as such). Every other failed ingest deletes its files —
// at once, or in the background once storaged is back (ADR-023, ADR-117).
// Looked at for up to 40 s (the background retries back off to 30 s).
// killWindow is how long after its marker an ingest may still be
// uploading and committing (commit retries back off up to 500 ms each).
const killWindow = 5 * time.Second

// referencedFiles is every data file a version of a dataset lists; false
// (with a violation recorded) when a manifest does not read back.
func (k *checker) referencedFiles() (map[string]bool, bool) {
	referenced := map[string]bool{}
	for _, ds := range k.all() {
		st, b := k.c.call("check.manifest", "GET", "/v1/catalog/datasets/"+ds, "", nil)
		var lm manifest
		if st != 200 || json.Unmarshal(b, &lm) != nil {
			k.v.add("%s: %d %.300s", ds, st, b)
			return nil, false
		}
		for x := int64(1); x <= lm.Version; x++ {
			st, b := k.c.call("check.manifest", "GET", fmt.Sprintf("/v1/catalog/datasets/%s?version=%d", ds, x), "", nil)
			var m manifest
			if st != 200 || json.Unmarshal(b, &m) != nil {
				k.v.add("%s version %d: %d %.300s", ds, x, st, b)
				return nil, false
			}
			for _, f := range m.Files {
				referenced[f.Key] = true
			}
		}
	}
	return referenced, true
}

func (k *checker) settledOrphans(ingestdKills []time.Time, logs func() string) {
	var last []string
	for deadline := time.Now().Add(40 * time.Second); ; {
		last = last[:0]
		referenced, ok := k.referencedFiles()
		if !ok {
			return
		}
		objs, ok := k.list("datasets/")
		if !ok {
			return
		}
		seen := map[string]bool{}
		text := logs()
		for _, o := range objs {
			prefix := o.Key[:strings.LastIndexByte(o.Key, '/')+1]
			if referenced[o.Key] || seen[prefix] {
				continue
			}
			seen[prefix] = true
			rest := strings.TrimSuffix(strings.TrimPrefix(prefix, "datasets/"), "/")
			id := rest[strings.IndexByte(rest, '/')+1:]
			st, b := k.c.call("check.marker", "GET", "/v1/storage/objects/_ingest/pending/"+rest+".json", "", nil, 404)
			var m struct {
				Created time.Time `json:"created"`
			}
			if st != 200 || json.Unmarshal(b, &m) != nil {
				last = append(last, fmt.Sprintf("orphan data files under %s: no pending marker (%d)", prefix, st))
				continue
			}
			// The marker is written after the conversion, just before the
			// upload and the commit: a kill within killWindow after it is
			// one that hit the ingest while it ran.
			killed := slices.ContainsFunc(ingestdKills, func(at time.Time) bool {
				return !at.Add(100*time.Millisecond).Before(m.Created) && at.Sub(m.Created) < killWindow
			})
			unknown := false
			for _, line := range strings.Split(text, "\n") {
				// ingestd's own connect to catalogd refused: nothing was
				// sent, whatever the line says.
				if strings.Contains(line, "outcome unknown") && strings.Contains(line, "ingest="+id) &&
					!strings.Contains(line, "/commit: catalogd is unreachable (connection refused)") {
					unknown = true
					break
				}
			}
			if !killed && !unknown {
				last = append(last, fmt.Sprintf("orphan data files under %s: ingest of %v failed in a live ingestd with a known outcome, and its files are still there", prefix, m.Created.Format(time.StampMilli)))
			}
		}
		if len(last) == 0 {
			k.t.Logf("unreferenced data prefixes, all of killed ingests or unknown outcomes: %d", len(seen))
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, s := range last {
		k.v.add("%s", s)
	}
}
