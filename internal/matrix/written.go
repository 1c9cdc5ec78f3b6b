package matrix

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/matrix/keyword"
)

// writtenFile is the dataset's journal of the ids an index job may have
// upserted into vectord (ADR-121): one Go-quoted string (strconv.Quote:
// any bytes, one line) and a newline per id,
// written and fsynced before the upsert that stores them. A job cut short
// (matrixd killed, an outage of queryd, embedd, vectord or catalogd) leaves
// vectors of rows no saved keyword index holds; the next job that succeeds
// deletes from vectord every journalled id its keyword index lacks, then
// empties the journal. vectord cannot list an index's ids, and the journal
// costs one appended write per embed batch (the batch's embed call and
// vectord's own WAL write cost more) and one sequential read per finished
// job.
const writtenFile = "written.ids"

// journalOff skips the journal's writes (tests measuring its cost only).
var journalOff atomic.Bool

// written appends to the journal of one job.
type written struct {
	path string
	f    *os.File
}

func (m *Matrix) openWritten(dataset string) *written {
	return &written{path: filepath.Join(m.dir(dataset), writtenFile)}
}

// note records ids before they are upserted.
func (w *written) note(ids []string) error {
	if len(ids) == 0 || journalOff.Load() {
		return nil
	}
	if w.f == nil {
		if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
			return errs.E("matrix.index", errs.Internal, err)
		}
		f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return errs.E("matrix.index", errs.Internal, err)
		}
		w.f = f
		// A record torn by a crash ends without a newline: the next
		// starts a line of its own, not glued onto the torn one.
		if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
			last := make([]byte, 1)
			if _, err := f.ReadAt(last, fi.Size()-1); err != nil || last[0] != '\n' {
				if _, err := f.Write([]byte{'\n'}); err != nil {
					return errs.E("matrix.index", errs.Internal, err)
				}
			}
		}
	}
	var b []byte
	for _, id := range ids {
		b = append(strconv.AppendQuote(b, id), '\n')
	}
	if _, err := w.f.Write(b); err != nil {
		return errs.E("matrix.index", errs.Internal, err)
	}
	if err := w.f.Sync(); err != nil {
		return errs.E("matrix.index", errs.Internal, err)
	}
	return nil
}

// reset empties the journal: vectord holds no id it lists that the keyword
// index lacks (the vector index was made again empty, or sweep deleted
// them).
func (w *written) reset() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errs.E("matrix.index", errs.Internal, err)
	}
	return nil
}

func (w *written) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// stale returns each journalled id that kw lacks, once. A torn last line
// (a kill mid-write) is skipped: its upsert never began.
func (w *written) stale(kw *keyword.Index) ([]string, error) {
	f, err := os.Open(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.E("matrix.index", errs.Internal, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	seen := map[string]bool{}
	var out []string
	for {
		line, err := r.ReadBytes('\n')
		// A line that is no quoted string (a torn or damaged record)
		// names no upserted id; deleting an id kw lacks is right either
		// way.
		id, qerr := strconv.Unquote(strings.TrimSuffix(string(line), "\n"))
		if qerr == nil && !kw.Has(id) && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, errs.E("matrix.index", errs.Internal, err)
		}
	}
}

// sweepWritten deletes from vectord the ids earlier jobs upserted that the
// finished job's keyword index kw lacks (rows gone, or never the dataset's
// at the version built), then empties the journal.
func (m *Matrix) sweepWritten(ctx context.Context, dataset string, w *written, kw *keyword.Index) error {
	w.close()
	stale, err := w.stale(kw)
	if err != nil {
		return err
	}
	if err := m.deleteVectors(ctx, dataset, stale); err != nil {
		return err
	}
	if len(stale) > 0 {
		m.opts.Log.Info("vectors of an unfinished job deleted", "op", "index", "dataset", dataset, "index", VectorIndex(dataset), "ids", len(stale))
	}
	return w.reset()
}

// deleteVectors deletes ids from the dataset's vector index in batches.
func (m *Matrix) deleteVectors(ctx context.Context, dataset string, ids []string) error {
	for i := 0; i < len(ids); i += 1000 {
		if _, err := m.deps.Vectors.Delete(ctx, VectorIndex(dataset), ids[i:min(i+1000, len(ids))]); err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
	}
	return nil
}

// unknownVectors reports whether the dataset's vector index holds more
// vectors than every id matrixd could have stored there: the served
// keyword index kw and the journal's ids kw lacks (ADR-124). More means
// ids no job recorded — vectors of a build cut short by a matrixd older
// than the journal (ADR-121), or upserted by hand — which no delete
// reaches, since vectord cannot list an index's ids. One GetIndex and one
// read of the journal; a missing index holds nothing unknown.
func (m *Matrix) unknownVectors(ctx context.Context, dataset string, kw *keyword.Index) (bool, error) {
	info, err := m.deps.Vectors.GetIndex(ctx, VectorIndex(dataset))
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if int64(info.Count) <= int64(kw.Len()) {
		return false, nil
	}
	journalled, err := m.openWritten(dataset).stale(kw)
	if err != nil {
		return false, err
	}
	known := int64(kw.Len()) + int64(len(journalled))
	if int64(info.Count) <= known {
		return false, nil
	}
	m.opts.Log.Warn("vector index holds vectors no index job recorded (left by a matrixd older than the written-ids journal); the full build starts from an empty vector index",
		"op", "index", "dataset", dataset, "index", VectorIndex(dataset), "vectors", info.Count, "known", known)
	return true, nil
}
