package s3

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"
)

// The upload journal (ADR-011) makes interrupted multipart uploads
// recoverable. Every upload the store starts is appended to it as a "start"
// line, written and fsynced before its first part is sent; a "done" line
// (not fsynced) follows once the upload was completed or aborted. A janitor
// aborts the uploads that were started but are not done and whose Put is no
// longer running in this process: after a crash or a restart, all of them;
// while the process lives, those whose Put returned without its own abort
// succeeding (S3 was down). An abort that S3 answers NoSuchUpload means the
// upload is already gone (completed or aborted): the record is dropped too.
// The journal is rewritten with only the pending records at open and after a
// sweep that saw finished ones, so it stays as small as the set of uploads
// in flight. An exclusive flock on the file keeps a second storaged on the
// same data dir from sweeping the first one's live uploads.

// DefaultJanitorInterval is how often the janitor sweeps abandoned uploads
// when Config.JanitorInterval is 0. A sweep that could not reach S3 is
// retried after a tenth of it.
const DefaultJanitorInterval = 5 * time.Minute

// journalLine is one line of the upload journal (JSON Lines).
type journalLine struct {
	Op       string    `json:"op"` // "start" or "done"
	Bucket   string    `json:"bucket"`
	Key      string    `json:"key"`
	UploadID string    `json:"upload_id"`
	Started  time.Time `json:"started,omitzero"` // on "start"
}

// uploadRef names one multipart upload.
type uploadRef struct{ Bucket, Key, UploadID string }

// uploadJournal tracks the multipart uploads of one Store.
type uploadJournal struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	f       *os.File                // append-only, flocked
	pending map[uploadRef]time.Time // started, not known done -> start time
	live    map[uploadRef]bool      // Put still running in this process
	lines   int                     // lines in the file
}

// openJournal opens (creating) the journal at path, takes its lock, reads
// what a previous process left and rewrites it with only the pending
// records, which are all abandoned (no Put of this process runs yet).
func openJournal(path string, log *slog.Logger) (*uploadJournal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("s3 upload journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("s3 upload journal: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("s3 upload journal %s is locked by another process (another storaged on this data dir?): %w", path, err)
	}
	j := &uploadJournal{path: path, log: log, f: f,
		pending: map[uploadRef]time.Time{}, live: map[uploadRef]bool{}}
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.UploadID == "" {
			bad++ // a line torn by a crash: its upload was never sent a part
			continue
		}
		ref := uploadRef{l.Bucket, l.Key, l.UploadID}
		switch l.Op {
		case "start":
			j.pending[ref] = l.Started
		case "done":
			delete(j.pending, ref)
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("s3 upload journal %s: %w", path, err)
	}
	if bad > 0 {
		log.Warn("s3 upload journal: skipped unreadable lines", "op", "start", "path", path, "lines", bad)
	}
	if err := j.compactLocked(); err != nil {
		f.Close()
		return nil, err
	}
	if n := len(j.pending); n > 0 {
		log.Info("s3 upload journal: multipart uploads left by a previous run will be aborted", "op", "start", "uploads", n)
	}
	return j, nil
}

// begin records a started upload as live and pending: one write and one
// fsync. A journal that cannot be written is logged; the upload proceeds
// (the record stays in memory, so this process still cleans it up).
func (j *uploadJournal) begin(ref uploadRef) {
	if j == nil {
		return
	}
	now := time.Now().UTC()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending[ref] = now
	j.live[ref] = true
	if err := j.appendLocked(journalLine{Op: "start", Bucket: ref.Bucket, Key: ref.Key, UploadID: ref.UploadID, Started: now}, true); err != nil {
		j.log.Warn("s3 upload journal: cannot record a multipart upload; a crash now would leave it behind", "op", "s3.put", "key", ref.Key, "err", err.Error())
	}
}

// end marks the Put of ref as returned. gone says the upload no longer
// exists (completed, or aborted by the Put); otherwise it stays pending and
// the janitor aborts it.
func (j *uploadJournal) end(ref uploadRef, gone bool) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.live, ref)
	if gone {
		j.doneLocked(ref)
	}
}

// drop marks an abandoned upload as gone (aborted, or NoSuchUpload).
func (j *uploadJournal) drop(ref uploadRef) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.doneLocked(ref)
}

func (j *uploadJournal) doneLocked(ref uploadRef) {
	if _, ok := j.pending[ref]; !ok {
		return
	}
	delete(j.pending, ref)
	// Not fsynced: if the line is lost, the janitor's abort is answered
	// NoSuchUpload and the record dropped then.
	if err := j.appendLocked(journalLine{Op: "done", Bucket: ref.Bucket, Key: ref.Key, UploadID: ref.UploadID}, false); err != nil {
		j.log.Warn("s3 upload journal: cannot record a finished upload", "op", "s3.put", "key", ref.Key, "err", err.Error())
	}
}

// abandoned lists the pending uploads whose Put is not running (in no
// particular order). An upload is live from begin to end and never again,
// so one listed here cannot become live while the sweep aborts it.
func (j *uploadJournal) abandoned() []uploadRef {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []uploadRef
	for ref := range j.pending {
		if !j.live[ref] {
			out = append(out, ref)
		}
	}
	return out
}

func (j *uploadJournal) appendLocked(l journalLine, sync bool) error {
	if j.f == nil {
		return errors.New("journal is closed")
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	j.lines++
	if sync {
		return j.f.Sync()
	}
	return nil
}

// compact rewrites the journal with only the pending records when it holds
// more lines than that.
func (j *uploadJournal) compact() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil || j.lines <= len(j.pending) {
		return nil
	}
	return j.compactLocked()
}

// compactLocked writes the pending records to a temp file, fsyncs it,
// renames it over the journal, fsyncs the directory and moves the lock and
// the append handle to the new file.
func (j *uploadJournal) compactLocked() error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("s3 upload journal: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("s3 upload journal: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(err)
	}
	w := bufio.NewWriter(f)
	for ref, started := range j.pending {
		b, _ := json.Marshal(journalLine{Op: "start", Bucket: ref.Bucket, Key: ref.Key, UploadID: ref.UploadID, Started: started})
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fail(err)
	}
	if d, err := os.Open(filepath.Dir(j.path)); err == nil {
		d.Sync()
		d.Close()
	}
	j.f.Close() // releases the old file's lock; the new one holds it
	j.f = f
	j.lines = len(j.pending)
	return nil
}

func (j *uploadJournal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// SweepUploads aborts the multipart uploads of the journal that were
// started but are not done and whose Put is not running in this process
// (all of them after a restart). It returns how many were aborted and how
// many are still left; err is S3's answer when it could not be reached, in
// which case the janitor tries again later. A Store without a journal has
// nothing to sweep.
func (s *Store) SweepUploads(ctx context.Context) (aborted, left int, err error) {
	j := s.journal
	if j == nil {
		return 0, 0, nil
	}
	refs := j.abandoned()
	for i, ref := range refs {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		aerr := s.core.AbortMultipartUpload(actx, ref.Bucket, ref.Key, ref.UploadID)
		cancel()
		switch code := minio.ToErrorResponse(aerr).Code; {
		case aerr == nil:
			aborted++
			j.drop(ref)
		case code == "NoSuchUpload" || code == "NoSuchBucket":
			j.drop(ref) // already completed or aborted, or its bucket is gone
		default:
			// S3 down (or refusing): keep this and the rest for the next sweep.
			left = len(refs) - i
			err = s.mapErr(ctx, "s3.sweep", ref.Key, aerr)
			if cerr := j.compact(); cerr != nil {
				s.log.Warn("s3 upload journal: compaction failed", "op", "s3.sweep", "err", cerr.Error())
			}
			return aborted, left, err
		}
	}
	if cerr := j.compact(); cerr != nil {
		s.log.Warn("s3 upload journal: compaction failed", "op", "s3.sweep", "err", cerr.Error())
	}
	return aborted, 0, nil
}

// janitor sweeps at start and then every interval (after a failed sweep,
// every tenth of it) until stop is closed.
func (s *Store) janitor(ctx context.Context, interval time.Duration, done chan<- struct{}) {
	defer close(done)
	retry := max(interval/10, 100*time.Millisecond)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		aborted, left, err := s.SweepUploads(ctx)
		if aborted > 0 {
			s.log.Info("aborted abandoned multipart uploads", "op", "s3.sweep", "aborted", aborted, "dur_ms", time.Since(start).Milliseconds())
		}
		next := interval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("abandoned multipart uploads not aborted yet; retrying", "op", "s3.sweep", "left", left, "retry_in", retry.String(), "err", err.Error())
			next = retry
		}
		t.Reset(next)
	}
}
