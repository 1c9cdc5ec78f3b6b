package ingestd

// Compaction: POST /v1/ingest/compact?name=NAME[&target_file_mb=N][&min_files=N]
// (the small-files problem: every append adds at least one Parquet file,
// and every query pays for each file).
//
// A compaction reads the latest version of the dataset from catalogd and
// splits its files, in the manifest's order, into groups of neighbours
// whose bytes stay within target_file_mb (default 512) and whose rows stay
// within [ingestd].file_rows (plan; greedy, like Iceberg's bin packing but
// never reordering). A group of one file is kept as it is, under its own
// key (nothing to gain by rewriting it); when no two neighbours fit
// together, or the dataset has fewer than min_files files (default 2),
// nothing is done and the answer says so (compacted false, 200). The files
// of the other groups are downloaded through storaged (the client ingestd
// uses for every object) into the temp directory, and DuckDB writes each
// group with one COPY into one file, with an ingest's writer settings
// (convert.Options.ParquetCopyOptions: zstd, [ingestd].row_group_size); one COPY with preserve_insertion_order
// keeps the file order and each file's row order. Parquet read and written
// by the same DuckDB keeps every type as it is (DECIMAL, TIMESTAMP_NS,
// nested types): the schema DuckDB reads from the inputs and from each new
// file must equal the manifest's, and the rows written its rows, else
// nothing is uploaded. The new files are uploaded create-only under
// datasets/{name}/{compaction id}/ behind a pending marker, exactly as an
// ingest's (pending.go: a compaction killed midway leaves files that the
// sweep deletes, since no version lists them), then committed once as
// mode=compact (ADR-013: same schema, same rows in the same order; catalogd
// checks the schema and the row count, and matrixd keeps its index) with
// base_version = the version read. Appends committed meanwhile do not
// undo it: catalogd lays the compacted files over the latest version, the
// appended files after them (ADR-013 "Compact commits"), and a commit that
// loses the race for the next version to an append is retried as it is
// (compactCommitTries). Any other version in between (replace, compact,
// delete) makes it a 409 conflict (the rewrite would drop or resurrect
// rows) and the new files are deleted. The replaced version and older ones keep their files
// (ADR-012), so ?version=N still reads them; a compaction never deletes or
// rewrites a committed file. It takes a conversion slot
// ([ingestd].max_concurrent) and needs temp space for the files it merges
// and their rewrite.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/ingest"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

const compactOp = "ingest.compact"

// compactDownloads is how many files a compaction fetches at once.
const compactDownloads = 4

var _ ingest.Compactor = (*Server)(nil)

// compactDB is the DuckDB of compactions, opened on first use with the
// converter's settings (ingest/convert keeps its own database private).
type compactDB struct {
	once sync.Once
	db   *sql.DB
	err  error
}

func (s *Server) compactDB() (*sql.DB, error) {
	c := &s.compactor
	c.once.Do(func() {
		o := s.opts.Convert
		// Its own spill directory: DuckDB names its spill files by size
		// class and number (duckdb_temp_storage_DEFAULT-0.tmp), so two
		// databases spilling into one directory write each other's files
		// (the converter's and this one crashed ingestd with SIGSEGV).
		temp := compactTempDir(s.opts.TempDir)
		if err := os.MkdirAll(temp, 0o700); err != nil {
			c.err = errs.E(compactOp, errs.Internal, err)
			return
		}
		connector, err := duckdb.NewConnector("", nil)
		if err != nil {
			c.err = errs.E(compactOp, errs.Internal, err)
			return
		}
		db := sql.OpenDB(connector)
		db.SetMaxOpenConns(1) // the settings below are global
		stmts := []string{
			"SET autoinstall_known_extensions = false",
			"SET autoload_known_extensions = false",
			"SET allow_community_extensions = false",
			"SET TimeZone = 'UTC'",
			"SET preserve_insertion_order = true", // file order, then row order
			"SET temp_directory = " + sqlString(temp),
		}
		if o.Threads > 0 {
			stmts = append(stmts, fmt.Sprintf("SET threads = %d", o.Threads))
		}
		if o.MemoryLimit != "" {
			stmts = append(stmts, "SET memory_limit = "+sqlString(o.MemoryLimit))
		}
		for _, st := range stmts {
			if _, err := db.Exec(st); err != nil {
				db.Close()
				c.err = errs.E(compactOp, errs.Internal, fmt.Sprintf("%s: %v", st, err))
				return
			}
		}
		db.SetMaxOpenConns(0)
		c.db = db
	})
	return c.db, c.err
}

// compactTempDir is the compactions' DuckDB spill directory in tempDir.
func compactTempDir(tempDir string) string { return filepath.Join(tempDir, "duckdb-compact") }

func (c *compactDB) close() error {
	if c.db == nil {
		return nil
	}
	return c.db.Close()
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// fileRows is an ingest's file size in rows (convert.Open's default).
func (s *Server) fileRows() int64 { return s.opts.Convert.WithDefaults().FileRows }

// Compact implements ingest.Compactor.
func (s *Server) Compact(ctx context.Context, p ingest.CompactParams) (*ingest.CompactResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return s.compact(ctx, p)
}

func (s *Server) compact(ctx context.Context, p ingest.CompactParams) (*ingest.CompactResult, error) {
	start := time.Now()
	base, err := s.opts.Catalog.Get(ctx, p.Name, 0)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			// catalogd's message names the dataset (and a delete's version).
			return nil, errs.E(compactOp, errs.NotFound, errs.Message(err))
		}
		return nil, errs.E(compactOp, errs.KindOf(err), "catalogd", err)
	}
	target := int64(p.TargetFileMB) << 20
	res := &ingest.CompactResult{
		Dataset: p.Name, Version: base.Version, BaseVersion: base.Version, Rows: base.RowCount,
		Bytes: base.Bytes(), Files: base.Files, FilesBefore: len(base.Files), BytesBefore: base.Bytes(),
	}
	if res.Files == nil {
		res.Files = []catalog.File{}
	}
	elapsed := func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }
	groups := plan(base.Files, target, s.fileRows())
	switch n := len(base.Files); {
	case n < p.MinFiles:
		res.Reason = fmt.Sprintf("%d files, fewer than min_files %d", n, p.MinFiles)
	case len(groups) >= n:
		res.Reason = fmt.Sprintf("%d files of %d bytes and %d rows: no two neighbours fit together in target_file_mb %d and [ingestd].file_rows %d",
			n, base.Bytes(), base.RowCount, p.TargetFileMB, s.fileRows())
	}
	if res.Reason != "" {
		res.ElapsedMS = elapsed()
		return res, nil
	}
	var sum int64
	for _, f := range base.Files {
		sum += f.Rows
	}
	if sum != base.RowCount {
		return nil, errs.E(compactOp, errs.Internal, fmt.Sprintf("dataset %q version %d: its files hold %d rows, its row_count says %d; not compacted", p.Name, base.Version, sum, base.RowCount))
	}

	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, errs.E(compactOp, errs.Unavailable, "compaction canceled while waiting for a conversion slot", ctx.Err())
	}
	defer func() { <-s.slots }()

	id := newID()
	dir := filepath.Join(s.opts.TempDir, "ingest-"+id) // removed by a restarted ingestd too
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o700); err != nil {
		return nil, errs.E(compactOp, errs.Internal, err)
	}
	defer os.RemoveAll(dir)

	// 1. Fetch the files to merge (a file alone in its group is kept as it
	// is, under its own key).
	var fetchIdx []int
	for _, g := range groups {
		if len(g) > 1 {
			fetchIdx = append(fetchIdx, g...)
		}
	}
	paths, err := s.fetch(ctx, base.Files, fetchIdx, filepath.Join(dir, "in"))
	if err != nil {
		if errors.Is(err, errDataFileGone) {
			// A delete with purge removed the files meanwhile: say that
			// (it was a 500 naming a missing file).
			if _, cerr := s.opts.Catalog.Get(ctx, p.Name, 0); errs.Is(cerr, errs.NotFound) {
				return nil, errs.E(compactOp, errs.NotFound, errs.Message(cerr)+" (deleted while it was compacted; nothing was changed)")
			}
		}
		return nil, err
	}
	// 2. Rewrite each group into one file.
	out, err := s.rewrite(ctx, base, groups, paths, filepath.Join(dir, "out"))
	if err != nil {
		return nil, err
	}
	os.RemoveAll(filepath.Join(dir, "in"))

	// A version committed meanwhile that is not an append makes the
	// commit a conflict: find out before uploading anything. Appends are
	// carried over (ADR-013 "Compact commits").
	if cur, err := s.opts.Catalog.Get(ctx, p.Name, 0); err == nil && cur.Version != base.Version {
		if err := s.carriable(ctx, base, cur); err != nil {
			return nil, err
		}
	}

	// 3. Upload behind a pending marker, as an ingest does.
	intent, err := s.begin(ctx, p.Name, id, "compact")
	if err != nil {
		return nil, err
	}
	defer intent.end(ctx, false)
	settle := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	}
	var uploaded []string
	cleanup := func(definite bool) {
		cctx, cancel := settle()
		defer cancel()
		intent.end(cctx, false)
		if _, err := s.deletePrefix(cctx, IngestPrefix(p.Name, id), uploaded); err != nil {
			s.retryCleanup(compactOp+" cleanup", p.Name, id, uploaded, definite, err)
			return
		}
		if definite {
			intent.end(cctx, true)
		}
	}
	files := make([]catalog.File, 0, len(out))
	var bytes int64
	for i, f := range out {
		bytes += f.bytes
		if f.kept != nil {
			files = append(files, *f.kept)
			continue
		}
		key := fmt.Sprintf("%s%s/%s/part-%05d.parquet", DataPrefix, p.Name, id, i)
		if err := s.put(ctx, key, f.path, f.bytes); err != nil {
			cleanup(errs.Is(err, errs.Invalid) || errs.Is(err, errs.Conflict))
			return nil, err
		}
		uploaded = append(uploaded, key)
		files = append(files, catalog.File{Key: key, Rows: f.rows, Bytes: f.bytes})
		if s.afterPut != nil {
			if err := s.afterPut(i); err != nil {
				return nil, err
			}
		}
	}

	// 4. Commit on the version read. Mode compact: the files hold base's
	// rows in base's order (plan packs neighbours in manifest order, one
	// COPY keeps each group's order), so readers that track rows by
	// position (matrixd) keep what they have. When only appends came after
	// base, catalogd lays the files over the latest version, the appended
	// files after them; a commit that loses the race for the next version
	// (409) is retried as it is, up to compactCommitTries times, while the
	// versions since base are still only appends.
	req := catalog.CommitRequest{BaseVersion: base.Version, Mode: catalog.ModeCompact, Schema: base.Schema, Files: files}
	var ds catalog.Dataset
	for attempt := 1; ; attempt++ {
		if err := intent.valid(); err != nil {
			cleanup(true)
			return nil, err
		}
		res.CommitAttempts = attempt
		ds, err = s.opts.Catalog.Commit(ctx, p.Name, req)
		if err == nil {
			break
		}
		switch {
		case errs.Is(err, errs.Conflict):
			cur, gerr := s.opts.Catalog.Get(ctx, p.Name, 0)
			if gerr == nil && attempt < compactCommitTries && cur.Version != base.Version && s.carriable(ctx, base, cur) == nil {
				s.log.Info("compaction commit lost a race; retrying over the appends", "op", compactOp, "ingest", id,
					"base_version", base.Version, "latest", cur.Version, "attempt", attempt)
				continue
			}
			cleanup(true)
			now := int64(-1)
			if gerr == nil {
				now = cur.Version
			}
			return nil, changed(p.Name, base.Version, now, err)
		case errs.Is(err, errs.Invalid):
			cleanup(true)
			return nil, errs.E(compactOp, errs.Internal, "catalogd refused the compacted files", err)
		case !mayHaveLanded(err):
			// Never reached catalogd, or refused by it: nothing was
			// written, so nothing is left for the sweep.
			cleanup(true)
			return nil, errs.E(compactOp, errs.KindOf(err), "catalogd: commit", err)
		default:
			// The commit may have been written with its answer lost: the
			// sweep decides from the catalog.
			s.log.Warn("compaction commit outcome unknown; files and pending marker left for the sweep", "op", compactOp, "ingest", id, "err", err.Error())
			return nil, errs.E(compactOp, errs.KindOf(err), "catalogd: commit", err)
		}
	}
	cctx, cancel := settle()
	intent.end(cctx, true)
	cancel()
	res.Compacted = true
	res.Version = ds.Version
	res.CommitBaseVersion = ds.Version - 1
	res.Files = ds.Files
	res.Rows = ds.RowCount
	res.Bytes = ds.Bytes()
	res.CompactedFiles = len(files)
	res.CompactedBytes = bytes
	if n := len(ds.Files) - len(files); n > 0 {
		res.AppendedFiles = n
		res.AppendedRows = ds.RowCount - base.RowCount
	}
	res.ElapsedMS = elapsed()
	s.log.Info("dataset compacted", "op", compactOp, "dataset", p.Name, "base_version", base.Version, "version", ds.Version,
		"files_before", len(base.Files), "files", len(files), "appended_files", res.AppendedFiles, "rows", ds.RowCount,
		"attempts", res.CommitAttempts, "dur_ms", res.ElapsedMS)
	return res, nil
}

// compactCommitTries bounds the commits of one compaction that lose the
// race for the next version to an append (each is retried unchanged).
const compactCommitTries = 5

// carriable says whether a compaction of base can still commit over cur,
// the latest version (ADR-013 "Compact commits"): every version after
// base up to cur is an append and base's files are cur's first files.
// catalogd checks the same; this spares an upload or a retry that would
// be refused. The error is the compaction's 409.
func (s *Server) carriable(ctx context.Context, base, cur catalog.Dataset) error {
	if cur.Version < base.Version {
		return changed(base.Name, base.Version, cur.Version)
	}
	next := base.Version + 1
	q := catalog.VersionsQuery{After: base.Version, Limit: catalog.MaxVersionsLimit}
	for next <= cur.Version {
		page, err := s.opts.Catalog.VersionsPage(ctx, base.Name, q)
		if err != nil {
			return changed(base.Name, base.Version, cur.Version, err)
		}
		for _, v := range page.Versions {
			if v.Version > cur.Version {
				break
			}
			if v.Version != next || v.Deleted || v.Mode != catalog.ModeAppend {
				what := v.Mode
				if v.Deleted {
					what = "delete"
				}
				return changed(base.Name, base.Version, cur.Version, fmt.Errorf("version %d is a %s, not an append", v.Version, what))
			}
			next++
		}
		if next > cur.Version || page.Next == 0 || page.Next <= q.After {
			break
		}
		q.After = page.Next
	}
	if next <= cur.Version || len(base.Files) > len(cur.Files) {
		return changed(base.Name, base.Version, cur.Version)
	}
	for i, f := range base.Files {
		if cur.Files[i].Key != f.Key {
			return changed(base.Name, base.Version, cur.Version)
		}
	}
	return nil
}

// changed is the 409 of a compaction whose dataset got a new version.
func changed(name string, base, now int64, cause ...error) error {
	msg := fmt.Sprintf("dataset %q changed during the compaction of version %d", name, base)
	if now > 0 {
		msg = fmt.Sprintf("dataset %q changed during the compaction of version %d (now version %d)", name, base, now)
	}
	args := []any{compactOp, errs.Conflict, msg + "; nothing was committed; compact again"}
	for _, c := range cause {
		args = append(args, c)
	}
	return errs.E(args...)
}

// fetch downloads files[i] for each i of idx into dir (compactDownloads
// at a time); paths[i] is where files[i] went. A file whose size is not
// the manifest's is an Internal error.
func (s *Server) fetch(ctx context.Context, files []catalog.File, idx []int, dir string) ([]string, error) {
	paths := make([]string, len(files))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	errc := make(chan error, len(idx))
	var wg sync.WaitGroup
	for w := 0; w < min(compactDownloads, len(idx)); w++ {
		wg.Go(func() {
			for i := range jobs {
				p := filepath.Join(dir, fmt.Sprintf("%06d.parquet", i))
				if err := s.download(ctx, files[i], p); err != nil {
					errc <- err
					cancel()
					continue
				}
				paths[i] = p
			}
		})
	}
feed:
	for _, i := range idx {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, errs.E(compactOp, errs.Unavailable, "compaction canceled", err)
	}
	return paths, nil
}

// errDataFileGone: a file of the manifest being compacted is not in
// storaged (a purge, or damage).
var errDataFileGone = errors.New("data file missing")

func (s *Server) download(ctx context.Context, f catalog.File, path string) error {
	rc, _, err := s.opts.Store.Get(ctx, f.Key, storage.Whole)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(compactOp, errs.Internal, fmt.Sprintf("data file %s of the manifest is missing in storaged", f.Key), errDataFileGone)
		}
		return errs.E(compactOp, errs.KindOf(err), "storaged: reading "+f.Key, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return errs.E(compactOp, errs.Internal, err)
	}
	defer out.Close()
	n, err := io.Copy(out, rc)
	if err != nil {
		if ctx.Err() != nil {
			return errs.E(compactOp, errs.Unavailable, "compaction canceled", ctx.Err())
		}
		return errs.E(compactOp, errs.Unavailable, "storaged: reading "+f.Key, err)
	}
	if n != f.Bytes {
		return errs.E(compactOp, errs.Internal, fmt.Sprintf("data file %s is %d bytes, its manifest says %d", f.Key, n, f.Bytes))
	}
	if err := out.Close(); err != nil {
		return errs.E(compactOp, errs.Internal, err)
	}
	return nil
}

// plan splits files, in order, into groups of neighbours whose rows and
// bytes together stay within fileRows and target (a file over either is a
// group alone); a group becomes one file.
func plan(files []catalog.File, target, fileRows int64) [][]int {
	var groups [][]int
	var rows, bytes int64
	for i, f := range files {
		if n := len(groups); n > 0 && rows+f.Rows <= fileRows && bytes+f.Bytes <= target {
			groups[n-1] = append(groups[n-1], i)
			rows += f.Rows
			bytes += f.Bytes
			continue
		}
		groups = append(groups, []int{i})
		rows, bytes = f.Rows, f.Bytes
	}
	return groups
}

// outFile is one file of the compacted version: rewritten at path, or
// kept (a group of one file).
type outFile struct {
	path        string
	rows, bytes int64
	kept        *catalog.File
}

// rewrite has DuckDB write each group of more than one file, in order,
// into one file in outDir, and checks each against base (schema, rows).
// One COPY writes one file, so the order of the rows is the order of the
// files and of their rows (preserve_insertion_order).
func (s *Server) rewrite(ctx context.Context, base catalog.Dataset, groups [][]int, paths []string, outDir string) ([]outFile, error) {
	db, err := s.compactDB()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, errs.E(compactOp, errs.Internal, err)
	}
	out := make([]outFile, 0, len(groups))
	var total int64
	for gi, g := range groups {
		if len(g) == 1 {
			f := base.Files[g[0]]
			out = append(out, outFile{rows: f.Rows, bytes: f.Bytes, kept: &f})
			total += f.Rows
			continue
		}
		quoted := make([]string, len(g))
		var want int64
		for k, i := range g {
			quoted[k] = sqlString(paths[i])
			want += base.Files[i].Rows
		}
		reader := "read_parquet([" + strings.Join(quoted, ", ") + "], hive_partitioning = false)"
		if err := s.checkSchema(ctx, db, base, reader, "its files"); err != nil {
			return nil, err
		}
		path := filepath.Join(outDir, fmt.Sprintf("part-%05d.parquet", gi))
		stmt := fmt.Sprintf("COPY (SELECT * FROM %s) TO %s (%s)", reader, sqlString(path), s.opts.Convert.ParquetCopyOptions())
		rows, err := db.QueryContext(ctx, stmt)
		if err != nil {
			if ctx.Err() != nil {
				return nil, errs.E(compactOp, errs.Unavailable, "compaction canceled", ctx.Err())
			}
			return nil, errs.E(compactOp, errs.Internal, "rewriting the files", err)
		}
		var count, size int64
		for rows.Next() {
			var name string
			var c, sz uint64
			var footer, stats, parts any
			if err := rows.Scan(&name, &c, &sz, &footer, &stats, &parts); err != nil {
				rows.Close()
				return nil, errs.E(compactOp, errs.Internal, err)
			}
			count += int64(c)
			size += int64(sz)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, errs.E(compactOp, errs.Internal, "rewriting the files", err)
		}
		if count != want {
			return nil, errs.E(compactOp, errs.Internal, fmt.Sprintf("the rewrite of %q version %d wrote %d rows where its files hold %d; nothing was committed", base.Name, base.Version, count, want))
		}
		if st, err := os.Stat(path); err != nil || st.Size() != size {
			return nil, errs.E(compactOp, errs.Internal, fmt.Sprintf("the rewritten file is not the %d bytes DuckDB reported", size), err)
		}
		if err := s.checkSchema(ctx, db, base, "read_parquet("+sqlString(path)+")", "the rewritten file"); err != nil {
			return nil, err
		}
		out = append(out, outFile{path: path, rows: count, bytes: size})
		total += count
	}
	if total != base.RowCount {
		return nil, errs.E(compactOp, errs.Internal, fmt.Sprintf("the rewrite of %q version %d holds %d rows, its manifest %d; nothing was committed", base.Name, base.Version, total, base.RowCount))
	}
	return out, nil
}

// checkSchema compares the columns DuckDB reads from reader with base's
// schema (names exactly, types as DuckDB spells them).
func (s *Server) checkSchema(ctx context.Context, db *sql.DB, base catalog.Dataset, reader, what string) error {
	rows, err := db.QueryContext(ctx, "DESCRIBE SELECT * FROM "+reader)
	if err != nil {
		return errs.E(compactOp, errs.Internal, "reading the schema of "+what, err)
	}
	defer rows.Close()
	var got []catalog.Column
	for rows.Next() {
		var name, typ string
		var n, k, d, e any
		if err := rows.Scan(&name, &typ, &n, &k, &d, &e); err != nil {
			return errs.E(compactOp, errs.Internal, err)
		}
		got = append(got, catalog.Column{Name: name, Type: typ})
	}
	if err := rows.Err(); err != nil {
		return errs.E(compactOp, errs.Internal, "reading the schema of "+what, err)
	}
	if !sameSchema(got, base.Schema) {
		return errs.E(compactOp, errs.Internal, fmt.Sprintf("dataset %q version %d: %s read as %s, the manifest says %s; nothing was committed",
			base.Name, base.Version, what, schemaText(got), schemaText(base.Schema)))
	}
	return nil
}

func schemaText(cols []catalog.Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + " " + c.Type
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// handleCompact serves POST /v1/ingest/compact.
func (s *Server) handleCompact(w http.ResponseWriter, r *http.Request) error {
	// Only the parameters the route takes, each once (ADR-099).
	q, err := shared.QueryParams(compactOp, r.URL.RawQuery, nil, "name", "target_file_mb", "min_files")
	if err != nil {
		return err
	}
	p := ingest.CompactParams{Name: q[0]}
	var problems []string
	for _, f := range []struct {
		k, v string
		dst  *int
	}{{"target_file_mb", q[1], &p.TargetFileMB}, {"min_files", q[2], &p.MinFiles}} {
		k, v, dst := f.k, f.v, f.dst
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("%s %q: want a positive whole number", k, v))
			continue
		}
		*dst = n
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errs.E(compactOp, errs.Invalid, strings.Join(problems, "; "))
	}
	res, err := s.Compact(r.Context(), p)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, res)
}
