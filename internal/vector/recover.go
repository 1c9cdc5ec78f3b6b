package vector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/vector/hnsw"
	"lakehouse-go/internal/vector/lhv1"
	"lakehouse-go/internal/vector/wal"
)

// Recover is POST /v1/vectors/indexes/{name}/recover (ADR-116): the way
// out for an index held for a damaged record in the middle of the
// write-ahead log (ADR-095), short of a DELETE that throws away every
// acknowledged write of the index. Which index the damaged record was for
// is unknown (its checksum fails), so serving the index means accepting
// that what the record held is lost if it was this index's: the request
// says so ({"accept_loss": true}; without it a 400 naming the record,
// nothing changed), as PostgreSQL's pg_resetwal or a Qdrant operator
// removing a broken WAL segment is an explicit, lossy act.
//
// The index is rebuilt as the load would: the snapshot object as it is in
// storaged now (restore one from a backup first to start from it), then
// every intact log record of the index after it, stepping over the damaged
// ones. Before it is served its snapshot is stored, covering the damaged
// records' sequence numbers, so a restart does not hold it again and the
// log may be truncated past the damage once no held index needs it. The
// answer counts the records lost (those the damaged frames held after the
// snapshot: at most that many of the index's changes).
//
// Refused: an index served (409) or unknown (404); one held for another
// cause (409 with that cause: a damaged snapshot is restored, not
// recovered); one whose snapshot is missing or damaged while the log does
// not hold its creation (409: restore the object, or DELETE). A failed
// snapshot store leaves it held (503), nothing changed.
func (s *Store) Recover(ctx context.Context, name string, req RecoverRequest) (RecoverResponse, error) {
	const op = "vector.Recover"
	if err := ValidateIndexName(name); err != nil {
		return RecoverResponse{}, err
	}
	if err := s.notReady(op); err != nil {
		return RecoverResponse{}, err
	}
	s.mu.RLock()
	b, cur := s.broken[name], s.indexes[name]
	s.mu.RUnlock()
	switch {
	case b == nil && cur != nil:
		return RecoverResponse{}, errs.Errorf(op, errs.Conflict, "index %q is served: there is nothing to recover", name)
	case b == nil:
		return RecoverResponse{}, errs.Errorf(op, errs.NotFound, "index %q not found", name)
	case b.lost == nil:
		return RecoverResponse{}, errs.Errorf(op, errs.Conflict, "index %q is not held for a damaged write-ahead log record, so recover does not apply: %s", name, errs.Message(b.err))
	}
	if !req.AcceptLoss {
		return RecoverResponse{}, errs.Errorf(op, errs.Invalid,
			"recover serves index %q from its snapshot and every intact write-ahead log record, and loses what the damaged record at byte %d of %s held if it was this index's: send {\"accept_loss\":true} to do it (nothing was changed)",
			name, b.lost.Offset, walFile)
	}
	b.mu.Lock() // no reloadHeld of it meanwhile
	defer b.mu.Unlock()
	changed := func() error {
		return errs.Errorf(op, errs.Conflict, "index %q changed while it was being recovered (dropped, or loaded from a restored snapshot): look at it again", name)
	}
	if !s.stillHeld(name, b) {
		return RecoverResponse{}, changed()
	}
	// Not the request's: a client that gives up does not cut the read.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), heldReadTimeout)
	defer cancel()
	key := snapshotKey(name)
	hix, derr, _, err := s.readSnapshot(rctx, key)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return RecoverResponse{}, errs.E(op, errs.KindOf(err), fmt.Sprintf("reading the snapshot %s of index %q (it stays held, nothing changed)", key, name), err)
	}
	var accepted []wal.Damage
	l, err := s.loadAlone(rctx, name, hix, derr, &accepted)
	scratch, snapSeq, replayed := l.st, l.snapSeq, l.replayed
	if err != nil {
		return RecoverResponse{}, errs.E(op, errs.KindOf(err), fmt.Sprintf("reading the write-ahead log %s (index %q stays held, nothing changed)", walFile, name), err)
	}
	nix, nb := scratch.indexes[name], scratch.broken[name]
	if nb != nil && nb.lost == nil {
		return RecoverResponse{}, errs.Errorf(op, errs.Conflict, "index %q cannot be recovered: %s", name, errs.Message(nb.err))
	}
	if nix == nil {
		// No snapshot (or a damaged one) and the log does not hold the
		// index's create record before its changes: the damaged record
		// may have been its creation, its params are unknown.
		why := "it has no snapshot object in storage"
		if derr != nil {
			why = fmt.Sprintf("its snapshot %s is damaged (%s)", key, errs.Message(derr))
		}
		return RecoverResponse{}, errs.Errorf(op, errs.Conflict,
			"index %q cannot be recovered: %s and the write-ahead log does not hold its creation (the damaged record may have been it); restore the snapshot object from a backup and recover again, or DELETE the index to drop it",
			name, why)
	}
	res := RecoverResponse{Log: walFile, SnapshotSeq: snapSeq, ReplayedRecords: replayed, Damaged: []DamagedRecord{}}
	var through uint64 // the last lost seq
	for _, d := range accepted {
		last := max(d.FirstSeq, d.NextSeq-1)
		if last <= snapSeq || hix == nil && last < l.first {
			continue // covered by the snapshot, or before the index was created
		}
		res.Damaged = append(res.Damaged, DamagedRecord{Offset: d.Offset, Bytes: d.Bytes, FirstSeq: d.FirstSeq, Records: d.NextSeq - d.FirstSeq})
		res.LostRecords += d.NextSeq - d.FirstSeq
		through = max(through, last)
	}
	seq := max(nix.lastSeq, through)
	nix.ix.SetSeq(seq)
	nix.lastSeq = seq

	// Stored before it is served: a restart must find a snapshot covering
	// the damage, or it holds the index again. snapMu: a drop's removal of
	// the object waits for this store (then removes it).
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if !s.stillHeld(name, b) {
		return RecoverResponse{}, changed()
	}
	if err := s.putSnapshot(rctx, name, nix.ix); err != nil {
		return RecoverResponse{}, errs.E(op, errs.Unavailable, fmt.Sprintf("index %q was rebuilt but its snapshot could not be stored (%s); it stays held and nothing changed: recover again once storaged takes writes", name, errs.Message(err)), err)
	}
	nix.snapSeq = seq
	s.mu.Lock()
	if s.broken[name] != b {
		s.mu.Unlock()
		return RecoverResponse{}, changed()
	}
	if next := s.w.NextSeq(); seq >= next {
		s.w.Advance(seq + 1)
	}
	delete(s.broken, name)
	s.indexes[name] = nix
	s.mu.Unlock()
	res.IndexInfo = info(nix)
	s.recovered.Add(1)
	s.lostRecords.Add(int64(res.LostRecords))
	s.log.Warn("index held for a damaged write-ahead log record recovered by the operator (accept_loss): served from its snapshot and every intact record; the damaged records' changes, if they were this index's, are lost",
		"op", "vector.recover", "index", name, "log", s.walPath(), "snapshot_seq", snapSeq, "log_records", replayed,
		"lost_records", res.LostRecords, "damaged_frames", len(res.Damaged), "items", res.Count, "seq", seq)
	return res, nil
}

// putSnapshot encodes hix to a temp file in the log's directory and stores
// it as name's snapshot object.
func (s *Store) putSnapshot(ctx context.Context, name string, hix *hnsw.Index) error {
	const op = "vector.Snapshot"
	tmp, err := os.CreateTemp(s.dir, snapTempPattern)
	if err != nil {
		return errs.E(op, errs.Internal, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := lhv1.Encode(tmp, hix); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return errs.E(op, errs.Internal, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return errs.E(op, errs.Internal, err)
	}
	_, err = s.objects.Put(ctx, snapshotKey(name), tmp, size, storage.PutOptions{ContentType: "application/vnd.lakehouse.lhv1"})
	return err
}

// recoverer is a Service that recovers held indexes (Store and Client).
type recoverer interface {
	Recover(ctx context.Context, name string, req RecoverRequest) (RecoverResponse, error)
}

func (h *handlers) recover(w http.ResponseWriter, r *http.Request) error {
	rc, ok := h.svc.(recoverer)
	if !ok {
		return errs.Errorf("vector.Recover", errs.NotFound, "recover is not served here")
	}
	var req RecoverRequest
	if err := shared.DecodeJSON(r, &req); err != nil {
		return err
	}
	out, err := rc.Recover(r.Context(), chi.URLParam(r, "name"), req)
	if err != nil {
		return err
	}
	return shared.WriteJSON(w, http.StatusOK, out)
}
