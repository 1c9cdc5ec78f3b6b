package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"lakehouse-go/internal/errs"
)

// The short-circuit protocol (ADR-015) between the Client and storaged on
// the same host, over the Unix socket [storaged].socket (SOCK_STREAM), for
// the local backend. Like HDFS short-circuit local reads, storaged does not
// stream the object: it passes an open file descriptor (SCM_RIGHTS).
//
// Every message is a frame: a 4-byte big-endian length, then that many
// bytes of JSON (at most SCMaxMessage). The client sends one SCRequest and
// reads one SCResponse before the next (connections are pooled, one request
// at a time). The first request on a connection carries the bearer token
// when storaged has one.
//
//	open   {key[, etag]}           -> {info} + the object's fd (read-only)
//	create {key, create_only[, content_type]} -> {[progress]} + a temp file's fd (write-only, O_APPEND)
//	wrote  {size}                  (no answer) between create and commit
//	commit {size[, etag]}          -> {info[, progress, spare_ms]} [+ a spare temp file's fd]
//	take   {}                      (no answer) the write goes into the spare
//	commit {key, create_only, size[, etag, content_type]}  after take
//	root   {}                      -> {root} + an O_PATH fd of the object directory
//
// When the create answer carries progress = P, the client sends a wrote
// frame each time it has written another P bytes (size = bytes written so
// far, after the write returned): storaged hashes those bytes while the
// client writes the rest, so commit has only the tail left to hash. wrote
// is the one message without an answer; a wrong one (no write in progress,
// size going back) closes the connection. A storaged that does not ask for
// progress never gets wrote frames.
//
// A connection closed between create and commit leaves nothing visible.
//
// Spares: a commit answer with spare_ms = S > 0 passes a new temp file
// (write-only, O_APPEND, like create's) that storaged keeps for the
// connection's next write, so that write costs one round trip (commit)
// instead of two. To use it the client sends take (before writing a byte:
// from then on the idle timeout no longer applies), writes the file, and
// commits with the key and create_only it would have given create; the
// key is checked then. A spare is kept while the connection is idle for
// less than S ms (storaged's idle timeout), so a client takes it only
// within S/2 ms of the answer that brought it; otherwise it closes its fd
// and sends create, which drops the spare. The connection's end drops it
// too. take without a spare, or with a write in progress, closes the
// connection.
//
// root lets the client open objects itself (direct reads, ADR-015): with
// the directory's fd it opens key beneath it (openat2 RESOLVE_BENEATH, no
// symlinks) as storaged's own open does, with the same uid's permissions.
// The fd is valid while the connection it came on is open: the client keeps
// that connection out of its pool and stops using the fd once storaged
// closes it (restart, shutdown, idle timeout), so a storaged started on
// another directory is never read through a stale one.
const (
	SCVersion    = 1
	SCMaxMessage = 64 << 10

	SCOpen   = "open"
	SCCreate = "create"
	SCCommit = "commit"
	SCWrote  = "wrote"
	SCTake   = "take"
	SCRoot   = "root"
)

// SCRequest is a client's message.
type SCRequest struct {
	V     int    `json:"v"`
	Op    string `json:"op"`
	ReqID string `json:"req_id,omitempty"`
	// Auth is "Bearer <token>", on a connection's first request.
	Auth string `json:"auth,omitempty"`
	Key  string `json:"key,omitempty"` // open, create, commit after take
	// ETag: open — the version wanted (Conflict 412 when the object's
	// differs); commit — optional, the xxh3-128 the client expects: the
	// commit is refused when storaged's own hash of the file differs.
	// Without it storaged's hash is the etag (as for an HTTP PUT).
	ETag       string `json:"etag,omitempty"`
	CreateOnly bool   `json:"create_only,omitempty"` // create, commit after take
	Size       int64  `json:"size,omitempty"`        // commit, wrote: bytes written
	// ContentType (create, commit after take) is stored with the object
	// as an HTTP PUT's Content-Type is (ADR-084). An older storaged ignores
	// it (unknown field) and stores none.
	ContentType string `json:"content_type,omitempty"`
}

// Validate checks the fields each op needs (keys with ValidateKey; the
// local backend adds its own rules).
func (r *SCRequest) Validate() error {
	const op = "storage.sc"
	if r.V != SCVersion {
		return errs.Errorf(op, errs.Invalid, "protocol version %d: this storaged speaks %d", r.V, SCVersion)
	}
	if len(r.Auth) > 4096 || len(r.ReqID) > 256 || len(r.ETag) > 256 {
		return errs.E(op, errs.Invalid, "auth, req_id or etag too long")
	}
	if err := ValidateContentType(r.ContentType); err != nil {
		return err
	}
	if r.ContentType != "" && r.Op != SCCreate && r.Op != SCCommit {
		return errs.Errorf(op, errs.Invalid, "%s takes no content_type", r.Op)
	}
	switch r.Op {
	case SCOpen, SCCreate:
		if r.Size != 0 {
			return errs.Errorf(op, errs.Invalid, "%s: unexpected size", r.Op)
		}
		return ValidateKey(r.Key)
	case SCRoot, SCTake:
		if r.Key != "" || r.CreateOnly || r.Size != 0 || r.ETag != "" {
			return errs.Errorf(op, errs.Invalid, "%s takes no key, etag, size or create_only", r.Op)
		}
		return nil
	case SCCommit:
		if r.Size < 0 {
			return errs.E(op, errs.Invalid, "commit: negative size")
		}
		if r.Key != "" {
			return ValidateKey(r.Key) // a write into a spare names its key here
		}
		if r.CreateOnly || r.ContentType != "" {
			return errs.E(op, errs.Invalid, "commit: create_only or content_type without a key")
		}
		return nil
	case SCWrote:
		if r.Key != "" || r.CreateOnly || r.ETag != "" {
			return errs.E(op, errs.Invalid, "wrote takes only a size")
		}
		if r.Size < 0 {
			return errs.E(op, errs.Invalid, "wrote: negative size")
		}
		return nil
	}
	return errs.Errorf(op, errs.Invalid, "unknown op %q", r.Op)
}

// SCResponse is storaged's answer: Info, or Error (DESIGN.md's error body
// fields plus the status, so 412 and 416 survive the hop).
type SCResponse struct {
	V     int         `json:"v"`
	Info  *ObjectInfo `json:"info,omitempty"`
	Error *SCError    `json:"error,omitempty"`
	// Progress (create): send a wrote frame every Progress bytes written.
	Progress int64 `json:"progress,omitempty"`
	// Root (root): the object directory's absolute path, the prefix of
	// ObjectInfo.Path for objects opened through the handed fd.
	Root string `json:"root,omitempty"`
	// SpareFor (commit): the fd passed with the answer is a spare temp
	// file for the connection's next write, kept while the connection is
	// idle for less than this many ms.
	SpareFor int64 `json:"spare_ms,omitempty"`
}

// SCError is an error answered by storaged.
type SCError struct {
	Kind      errs.Kind `json:"kind"`
	Message   string    `json:"message"`
	RequestID string    `json:"request_id,omitempty"`
	Status    int       `json:"status"`
}

// SCErrorOf is err as an answer: the same kind, status and caller-safe
// message the HTTP error body would carry.
func SCErrorOf(err error, reqID string) *SCError {
	return &SCError{Kind: errs.KindOf(err), Message: errs.Message(err), RequestID: reqID, Status: errs.StatusOf(err)}
}

// Err turns the answer back into an *errs.Error of the same Kind (and the
// status when it is not the kind's default), as errs.FromResponse does for
// an HTTP answer.
func (e *SCError) Err(op string) error {
	k := e.Kind
	if k == "" {
		k = errs.Internal
	}
	out := &errs.Error{Op: op, Kind: k, Msg: e.Message}
	if e.Status != 0 && e.Status != errs.StatusOf(&errs.Error{Kind: k}) {
		out.Status = e.Status
	}
	return out
}

// AppendSCFrame appends v as one frame to b.
func AppendSCFrame(b []byte, v any) ([]byte, error) {
	n := len(b)
	out, err := marshalSC(append(b, 0, 0, 0, 0), v)
	if err != nil {
		return b[:n], err
	}
	size := len(out) - n - 4
	if size > SCMaxMessage {
		return b[:n], fmt.Errorf("short-circuit message of %d bytes is over %d", size, SCMaxMessage)
	}
	binary.BigEndian.PutUint32(out[n:], uint32(size))
	return out, nil
}

// ReadSCFrame reads one frame's payload from r into buf (grown as needed,
// never past SCMaxMessage). io.EOF before the first byte is returned as is.
func ReadSCFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n, err := SCFrameLen(hdr[:])
	if err != nil {
		return nil, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// SCFrameLen is the payload length announced by a frame header, checked
// against SCMaxMessage.
func SCFrameLen(hdr []byte) (int, error) {
	n := binary.BigEndian.Uint32(hdr)
	if n == 0 || n > SCMaxMessage {
		return 0, errs.Errorf("storage.sc", errs.TooLarge, "short-circuit message of %d bytes: want 1..%d", n, SCMaxMessage)
	}
	return int(n), nil
}

// DecodeSCRequest decodes and validates one request payload. Malformed
// JSON, trailing data and invalid fields are Invalid errors.
func DecodeSCRequest(p []byte) (SCRequest, error) {
	if r, ok := decodeSCRequestFast(p); ok {
		return r, r.Validate()
	}
	var r SCRequest
	if err := decodeStrict(p, &r); err != nil {
		return SCRequest{}, err
	}
	return r, r.Validate()
}

// DecodeSCResponse decodes one answer payload.
func DecodeSCResponse(p []byte) (SCResponse, error) {
	r, ok := decodeSCResponseFast(p)
	if !ok {
		r = SCResponse{}
		if err := decodeStrict(p, &r); err != nil {
			return SCResponse{}, err
		}
	}
	if r.V != SCVersion {
		return SCResponse{}, errs.Errorf("storage.sc", errs.Unavailable, "short-circuit answer of protocol version %d, want %d", r.V, SCVersion)
	}
	if r.Info != nil && r.Error != nil {
		return SCResponse{}, errs.E("storage.sc", errs.Unavailable, "short-circuit answer with both info and error")
	}
	return r, nil
}

func decodeStrict(p []byte, v any) error {
	// json.Unmarshal, not a Decoder with DisallowUnknownFields: a third of
	// a short-circuit GET's CPU went to the Decoder. Unknown fields are
	// ignored (a later version bumps V); trailing data is an error.
	if err := json.Unmarshal(p, v); err != nil {
		return errs.E("storage.sc", errs.Invalid, "undecodable short-circuit message", err)
	}
	return nil
}
