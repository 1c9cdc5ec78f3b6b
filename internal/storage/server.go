package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// Route and header constants of storaged's HTTP API (DESIGN.md).
const (
	ObjectsPath = "/v1/storage/objects"

	HeaderModified = "X-Lakehouse-Modified" // RFC 3339 with nanoseconds (Last-Modified has only seconds)
	// HeaderRedirect (request, value "presigned"): the client can read the
	// object from the backend itself; storaged may answer a GET with a 307
	// to a presigned URL instead of streaming it (s3 backend, ADR-015).
	HeaderRedirect = "X-Lakehouse-Redirect"
)

// Presigner is a backend that can hand out a time-limited URL from which
// anyone holding it can GET one object (S3 presigned URLs).
type Presigner interface {
	PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error)
}

// PresignExpiry is how long a redirect's presigned URL stays valid. The
// client uses it at once; the margin is for clock skew.
const PresignExpiry = 5 * time.Minute

// Routes registers storaged's routes over store: all of them, in one place.
func Routes(env *shared.Env, store Store) func(r chi.Router) {
	h := &handlers{store: store}
	if p, ok := store.(Presigner); ok && !env.Config.S3.ProxyGets {
		h.presign = p
	}
	return func(r chi.Router) {
		r.Get(ObjectsPath, env.Handle(h.list))
		r.Put(ObjectsPath+"/*", env.Handle(h.put))
		r.Get(ObjectsPath+"/*", env.Handle(h.get))
		r.Head(ObjectsPath+"/*", env.Handle(h.head))
		r.Delete(ObjectsPath+"/*", env.Handle(h.delete))
	}
}

type handlers struct {
	store   Store
	presign Presigner // nil: every GET is streamed by storaged
}

// keyOf is the decoded key of an object route (r.URL.Path is unescaped).
func keyOf(r *http.Request) (string, error) {
	key, ok := strings.CutPrefix(r.URL.Path, ObjectsPath+"/")
	if !ok {
		return "", errs.E("storage.key", errs.Invalid, "no object key in path")
	}
	return key, ValidateKey(key)
}

func (h *handlers) put(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("storage.put", r); err != nil {
		return err
	}
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		return errs.Errorf("storage.put", errs.Invalid, "If-Unmodified-Since %q: not supported on PUT (If-Match with the etag is the compare-and-swap; If-None-Match: * is create-only)", v)
	}
	ct := r.Header.Values("Content-Type")
	if len(ct) > 1 {
		return errs.Errorf("storage.put", errs.Invalid, "%d Content-Type fields: send one", len(ct))
	}
	opts := PutOptions{ContentType: r.Header.Get("Content-Type")}
	if err := ValidateContentType(opts.ContentType); err != nil {
		return err
	}
	switch inm := r.Header.Get("If-None-Match"); inm {
	case "":
	case "*":
		opts.CreateOnly = true
	default:
		return errs.Errorf("storage.put", errs.Invalid, "If-None-Match %q: only * (create-only) is supported", inm)
	}
	if im := r.Header.Values("If-Match"); len(im) > 0 {
		tag, err := putIfMatch(key, im)
		if err != nil {
			return err
		}
		if opts.CreateOnly {
			return errs.E("storage.put", errs.Invalid, "If-Match with If-None-Match: * can never both hold: send one")
		}
		opts.IfMatch = tag
	}
	if md := r.Header.Values("Content-MD5"); len(md) > 0 {
		if len(md) > 1 {
			return errs.Errorf("storage.put", errs.Invalid, "%d Content-MD5 fields: send one", len(md))
		}
		if _, err := ParseContentMD5(md[0]); err != nil {
			return err
		}
		opts.ContentMD5 = strings.TrimSpace(md[0]) // the backend checks the body against it
	}
	info, err := h.store.Put(r.Context(), key, r.Body, r.ContentLength, opts)
	if err != nil {
		return err
	}
	setInfoHeaders(w.Header(), info, false)
	info.Path, info.ContentType = "", "" // DESIGN.md's answer: no server file path (ADR-010)
	return shared.WriteJSON(w, http.StatusOK, info)
}

// putIfMatch reads a PUT's If-Match (its field lines): one entity tag,
// quoted or bare, or *. A list is refused (400): S3 and MinIO take one tag
// on a conditional write. A weak tag never matches under the strong
// comparison If-Match uses (RFC 9110 13.1.1): 412, nothing written.
func putIfMatch(key string, lines []string) (string, error) {
	return oneIfMatch("storage.put", "PUT", "nothing written", key, lines)
}

// deleteIfMatch reads a DELETE's If-Match as putIfMatch reads a PUT's
// (AWS S3 takes one tag or * on DeleteObject; ADR-154).
func deleteIfMatch(key string, lines []string) (string, error) {
	return oneIfMatch("storage.delete", "DELETE", "nothing deleted", key, lines)
}

// oneIfMatch is putIfMatch and deleteIfMatch: the unquoted tag or "*".
func oneIfMatch(op, method, nothing, key string, lines []string) (string, error) {
	v := strings.TrimSpace(strings.Join(lines, ","))
	if strings.HasPrefix(v, "W/") {
		return "", errs.E(op, errs.Conflict, errs.StatusPrecondition,
			fmt.Sprintf("object %q: If-Match %q is a weak entity tag, which never matches (strong comparison; %s)", key, v, nothing))
	}
	tag := v
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		tag = v[1 : len(v)-1]
	}
	if tag == "" || strings.ContainsAny(tag, "\",\t ") || (tag == "*" && v != "*") {
		return "", errs.Errorf(op, errs.Invalid, "If-Match %q: send one entity tag (\"etag\") or * on %s", v, method)
	}
	return tag, nil
}

// deleteOptions reads a DELETE's preconditions: If-Match (one tag or *)
// where the backend evaluates it atomically (ConditionalDeleter: the
// local backend); a 400 saying why on the s3 backend, where MinIO ignores
// it and a HEAD first could delete an object written in between; and
// If-Unmodified-Since always a 400 (S3's DeleteObject does not take it;
// If-Match is the exact guard) (ADR-154).
func deleteOptions(key string, r *http.Request, conditional bool) (DeleteOptions, error) {
	const op = "storage.delete"
	if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		return DeleteOptions{}, errs.Errorf(op, errs.Invalid, "If-Unmodified-Since %q: not supported on DELETE (S3's DeleteObject does not take it): send If-Match with the object's etag", v)
	}
	im := r.Header.Values("If-Match")
	if len(im) == 0 {
		return DeleteOptions{}, nil
	}
	tag, err := deleteIfMatch(key, im)
	if err != nil {
		return DeleteOptions{}, err
	}
	if !conditional {
		return DeleteOptions{}, errs.Errorf(op, errs.Invalid, "If-Match %q: not supported on DELETE with the s3 backend (MinIO ignores If-Match on DeleteObject, and checking the etag first could delete an object written in between); nothing deleted", strings.Join(im, ", "))
	}
	return DeleteOptions{IfMatch: tag}, nil
}

func (h *handlers) head(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("storage.head", r); err != nil {
		return err
	}
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	// A Range whose last byte is before its first is a 416 before any
	// precondition, as GET answers it and MinIO answers both.
	rng, ranged, rerr := parseRange(r.Header.Get("Range"))
	info, err := h.store.Head(r.Context(), key)
	if err != nil {
		return err
	}
	if rerr != nil {
		if !ifRangeFalse(r, info) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			return rerr
		}
		ranged = false // a false If-Range: the Range is ignored, even this one
	}
	if done, err := answerPreconditions(w, r, key, info); done {
		return err
	}
	if ranged && r.Header.Get("If-Range") != "" && !ifRangeHolds(r, info) {
		ranged = false
	}
	// The header fields the same GET would send (RFC 9110 9.3.2), as S3
	// and MinIO answer a HEAD with Range: 206 with Content-Range and the
	// range's length, or 416.
	hd := w.Header()
	setInfoHeaders(hd, info, !ranged)
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", ContentTypeOf(info.ContentType))
	if !ranged {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	first, last, ok := rng.within(info.Size)
	if !ok {
		hd.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
		return unsatisfiable(info.Size)
	}
	hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, info.Size))
	hd.Set("Content-Length", strconv.FormatInt(last-first+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	return nil
}

// get serves GET; a 416 carries Content-Range: bytes */N (RFC 9110 15.5.17),
// N the object's size, so a client can retry with a range that fits.
func (h *handlers) get(w http.ResponseWriter, r *http.Request) error {
	err := h.get1(w, r)
	if errs.StatusOf(err) == http.StatusRequestedRangeNotSatisfiable && w.Header().Get("Content-Range") == "" {
		if key, kerr := keyOf(r); kerr == nil {
			if info, herr := h.store.Head(r.Context(), key); herr == nil {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			}
		}
	}
	return err
}

func (h *handlers) get1(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("storage.get", r); err != nil {
		return err
	}
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	rng, ranged, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		if r.Header.Get("If-Range") == "" {
			return err
		}
		// A false If-Range makes the server ignore the Range (RFC 9110
		// 13.1.5, a MUST), one whose last byte is before its first too:
		// the whole object, 200, as for any other Range (ADR-108).
		info, herr := h.store.Head(r.Context(), key)
		if herr != nil {
			return herr
		}
		if !ifRangeFalse(r, info) {
			return err
		}
		err = nil
	}
	// If-Range matters only to a Range request (RFC 9110 13.1.5).
	ifRange := ranged && r.Header.Get("If-Range") != ""
	cond := conditional(r) || ifRange
	if cond {
		// Evaluated before the range and the redirect (RFC 9110 13.2.2).
		info, err := h.store.Head(r.Context(), key)
		if err != nil {
			return err
		}
		if done, err := answerPreconditions(w, r, key, info); done {
			return err
		}
		if ifRange && !ifRangeHolds(r, info) {
			ranged = false // the client's copy is stale: the whole object, 200
		}
		if hook := testHookConditionalHead.Load(); hook != nil {
			(*hook)(key)
		}
	}
	if h.presign != nil && r.Header.Get(HeaderRedirect) == "presigned" && (r.Header.Get("If-Range") == "" || r.Header.Get("Range") == "") {
		// The client reads the object from S3 itself, sending the same
		// Range header; storaged streams nothing (ADR-015). Not with
		// If-Range on a Range request: the client would send S3 its Range
		// whatever storaged decided (MinIO does not evaluate If-Range), a
		// range of another version or a 416 for a Range storaged ignores.
		u, err := h.presign.PresignGet(r.Context(), key, PresignExpiry)
		if err != nil {
			return err
		}
		w.Header().Set("Location", u)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return nil
	}
	opts := Whole
	var (
		rc   io.ReadCloser
		info ObjectInfo
	)
	sg, oneCall := SuffixGetter(nil), false
	if ranged && rng.suffix && rng.n > 0 {
		sg, oneCall = h.store.(SuffixGetter)
	}
	switch {
	case oneCall:
		// One call: the size and the bytes come from one open (local) or
		// one GET (s3), so no replace in between can make it a spurious
		// 416 or a range of another version's size.
		var off int64
		rc, info, off, err = sg.GetSuffix(r.Context(), key, rng.n)
		opts = GetOptions{Offset: off}
	case ranged && rng.suffix:
		info, err := h.store.Head(r.Context(), key)
		if err != nil {
			return err
		}
		if rng.n == 0 || info.Size == 0 {
			return unsatisfiable(info.Size)
		}
		opts = GetOptions{Offset: max(0, info.Size-rng.n)}
	case ranged:
		opts = GetOptions{Offset: rng.start}
		if rng.end >= 0 {
			opts.Length = rng.end - rng.start + 1
		}
	}
	if !oneCall {
		rc, info, err = h.store.Get(r.Context(), key, opts)
	}
	if err != nil && cond && errs.StatusOf(err) == http.StatusRequestedRangeNotSatisfiable {
		// Replaced since the HEAD by an object the range does not fit
		// (smaller, or empty): the preconditions and If-Range are decided
		// against that object before its 416 — a 412 or 304, or under an
		// If-Range naming the old version the whole new one (ADR-108).
		// A HEAD decides; the object is read only when it is served (the
		// re-check below holds it to the preconditions again).
		var now ObjectInfo
		if now, err = h.store.Head(r.Context(), key); err == nil {
			if done, perr := answerPreconditions(w, r, key, now); done {
				return perr
			}
			if !ifRange || ifRangeHolds(r, now) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", now.Size))
				return unsatisfiable(now.Size)
			}
			ranged, opts = false, Whole
			rc, info, err = h.store.Get(r.Context(), key, Whole)
		}
	}
	if err != nil {
		return err
	}
	defer func() { rc.Close() }()
	if cond {
		// The object may have been replaced since the HEAD: what is served
		// must meet the preconditions too.
		if done, err := answerPreconditions(w, r, key, info); done {
			return err
		}
		if ranged && ifRange && !ifRangeHolds(r, info) {
			// Replaced by a version the client does not have: a range of
			// it would splice two versions. The whole object instead.
			rc.Close()
			ranged, opts = false, Whole
			if rc, info, err = h.store.Get(r.Context(), key, Whole); err != nil {
				rc = io.NopCloser(strings.NewReader(""))
				return err
			}
			if done, err := answerPreconditions(w, r, key, info); done {
				return err
			}
		}
	}
	hd := w.Header()
	setInfoHeaders(hd, info, false)
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", ContentTypeOf(info.ContentType))
	status := http.StatusOK
	n := info.Size
	if ranged {
		if opts.Offset >= info.Size {
			hd.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			return unsatisfiable(info.Size)
		}
		end := info.Size - 1
		if opts.Length > 0 {
			end = min(end, opts.Offset+opts.Length-1)
		}
		n = end - opts.Offset + 1
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", opts.Offset, end, info.Size))
		status = http.StatusPartialContent
	}
	hd.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if _, err := streamOut(w, r, rc); err != nil {
		if errs.KindOf(err) == errs.Timeout {
			return errs.E("storage.get", errs.Timeout, "streaming "+key, err)
		}
		return errs.E("storage.get", errs.Unavailable, "streaming "+key, err)
	}
	return nil
}

// testHookConditionalHead, set only by tests (export_test.go), runs
// between a conditional GET's HEAD and its read, where a replace or delete
// of the object is otherwise a race too narrow to hit.
var testHookConditionalHead atomic.Pointer[func(key string)]

// copyOut streams an object to the response. A reader with WriteTo (the
// local backend's file) keeps io.Copy, which ends in sendfile(2). Any other
// (an S3 response body) is copied through a pooled buffer: io.Copy would go
// through the ResponseWriter's ReadFrom, which reads and writes 32 KiB at a
// time, two syscalls per 32 KiB.
func copyOut(w io.Writer, r io.Reader) (int64, error) {
	if _, ok := r.(io.WriterTo); ok {
		return io.Copy(w, r)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, *bp)
}

// copyBufs holds copyOut's buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

const copyBufSize = 256 << 10

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery("storage.delete", r); err != nil {
		return err
	}
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	cd, conditional := h.store.(ConditionalDeleter)
	opts, err := deleteOptions(key, r, conditional)
	if err != nil {
		return err
	}
	if opts.IfMatch != "" {
		err = cd.DeleteWith(r.Context(), key, opts)
	} else {
		err = h.store.Delete(r.Context(), key)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	q, err := shared.QueryParams("storage.list", r.URL.RawQuery, listHint, "prefix", "after", "limit")
	if err != nil {
		return err
	}
	opts := ListOptions{Prefix: q[0], After: q[1]}
	if s := q[2]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errs.Errorf("storage.list", errs.Invalid, "limit %q: want a non-negative integer", s)
		}
		opts.Limit = n
	}
	if !utf8.ValidString(opts.Prefix) || len(opts.Prefix) > MaxKeyBytes {
		return errs.E("storage.list", errs.Invalid, "prefix: not UTF-8 or longer than 1024 bytes")
	}
	page, err := h.store.List(r.Context(), opts)
	if err != nil {
		return err
	}
	if page.Objects == nil {
		page.Objects = []ObjectInfo{}
	}
	for i := range page.Objects {
		page.Objects[i].Path, page.Objects[i].ContentType = "", ""
	}
	return shared.WriteJSON(w, http.StatusOK, page)
}

// noQuery is a 400 for any query parameter on an object route, which
// takes none (ADR-099): PUT .../k?versionId=1 or ?uploads wrote the whole
// object as if asked for nothing else, DELETE .../k?versionId=1 removed
// the object, and an unescaped '?' in a key cut the key short.
func noQuery(op string, r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	_, err := shared.QueryParams(op, r.URL.RawQuery, objectHint)
	return err
}

// objectHint: an object route has no S3 sub-resources, and a key's '?'
// is %-escaped.
func objectHint([]string) string {
	return "storaged's object routes have no S3 sub-resources (versionId, uploads, partNumber, acl, tagging ...); a '?' in a key is sent as %3F"
}

// listHint: the S3 ListObjects parameters, told storaged's names for them.
func listHint(unknown []string) string {
	for _, k := range unknown {
		switch k {
		case "max-keys", "start-after", "marker", "continuation-token", "delimiter", "list-type", "encoding-type", "fetch-owner":
			return "this is not S3's ListObjects: limit=N (not max-keys), after=<a key or the previous answer's next> (not start-after, marker or continuation-token); keys are listed flat (no delimiter)"
		}
	}
	return ""
}

// conditional reports whether a GET or HEAD carries a precondition that
// can make it a 412 or a 304: If-Match, If-Unmodified-Since, If-None-Match,
// If-Modified-Since. (If-Range, on a Range request, can only make it a 200.)
func conditional(r *http.Request) bool {
	for _, k := range []string{"If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since"} {
		if r.Header.Get(k) != "" {
			return true
		}
	}
	return false
}

// answerPreconditions evaluates a GET's or HEAD's preconditions against
// the object (info) in RFC 9110 13.2.2's order, as S3 does: If-Match
// (strong comparison, a list or *) or, without it, If-Unmodified-Since
// (second precision; an invalid date is ignored) — false is 412 Precondition
// Failed, kind conflict; then If-None-Match or If-Modified-Since — a match is
// 304 Not Modified. done reports that the answer is decided: a 304 is
// written (err nil), or err is the 412.
func answerPreconditions(w http.ResponseWriter, r *http.Request, key string, info ObjectInfo) (done bool, err error) {
	if err := preconditionFailed(r, key, info); err != nil {
		return true, err
	}
	if notModified(r, info) {
		return true, writeNotModified(w, info)
	}
	return false, nil
}

// preconditionFailed is the 412 of a failed If-Match or, without one,
// If-Unmodified-Since; nil when neither is there or both hold.
func preconditionFailed(r *http.Request, key string, info ObjectInfo) error {
	if im := r.Header.Values("If-Match"); len(im) > 0 {
		if etagListMatch(im, info.ETag, false) {
			return nil
		}
		return errs.E("storage.get", errs.Conflict, errs.StatusPrecondition,
			fmt.Sprintf("object %q: If-Match %q does not match its etag %q", key, strings.Join(im, ", "), info.ETag))
	}
	if ius := r.Header.Get("If-Unmodified-Since"); ius != "" && !info.Modified.IsZero() {
		t, err := http.ParseTime(ius)
		if err == nil && info.Modified.Truncate(time.Second).After(t) {
			return errs.E("storage.get", errs.Conflict, errs.StatusPrecondition,
				fmt.Sprintf("object %q: modified %s, after If-Unmodified-Since %q", key, info.Modified.UTC().Format(http.TimeFormat), ius))
		}
	}
	return nil
}

// notModified evaluates a GET's or HEAD's If-None-Match (weak comparison,
// a list or *) or, without it, If-Modified-Since (an invalid date is
// ignored) against the object, as RFC 9110 13.1.2, 13.1.3 and 13.2.2 have
// it and S3 does: true means 304 Not Modified.
func notModified(r *http.Request, info ObjectInfo) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		return etagListMatch(inm, info.ETag, true)
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !info.Modified.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !info.Modified.Truncate(time.Second).After(t)
	}
	return false
}

// etagListMatch reports whether an If-Match or If-None-Match (its field
// lines) names etag: "*" names any object; otherwise a comma-separated list
// of entity tags, quoted ("x", W/"x"; a comma inside quotes is part of the
// tag) or, leniently, bare. weak is RFC 9110's weak comparison (If-None-
// Match: W/"x" matches "x"); strong comparison (If-Match) never matches a
// weak tag. An empty etag matches no tag.
func etagListMatch(lines []string, etag string, weak bool) bool {
	for _, line := range lines {
		for s := line; ; {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			isWeak := false
			if rest, ok := strings.CutPrefix(s, "W/"); ok {
				isWeak, s = true, rest
			}
			var tag string
			if rest, ok := strings.CutPrefix(s, `"`); ok {
				end := strings.IndexByte(rest, '"')
				if end < 0 {
					tag, s = rest, ""
				} else {
					tag, s = rest[:end], rest[end+1:]
				}
			} else {
				end := strings.IndexByte(s, ',')
				if end < 0 {
					end = len(s)
				}
				tag, s = strings.TrimRight(s[:end], " \t"), s[end:]
				if tag == "*" && !isWeak {
					return true // any object; this one exists
				}
			}
			if tag != "" && tag == etag && (weak || !isWeak) {
				return true
			}
		}
	}
	return false
}

// ifRangeHolds reports whether a Range request's If-Range (RFC 9110
// 13.1.5) holds for the object: its validator is a strong entity tag equal
// to the object's etag, or an HTTP date equal to its Last-Modified (to the
// second, as Go's net/http has it). A weak tag, another tag or date, or a
// value that is neither does not hold: the Range is ignored and the whole
// object served. True without If-Range.
func ifRangeHolds(r *http.Request, info ObjectInfo) bool {
	v := strings.TrimSpace(r.Header.Get("If-Range"))
	switch {
	case v == "":
		return true
	case strings.HasPrefix(v, "W/"):
		return false // weak tags never match for If-Range
	case strings.HasPrefix(v, `"`):
		return len(v) >= 2 && strings.HasSuffix(v, `"`) && info.ETag != "" && v[1:len(v)-1] == info.ETag
	}
	t, err := http.ParseTime(v)
	return err == nil && !info.Modified.IsZero() && info.Modified.Unix() == t.Unix()
}

// ifRangeFalse reports whether the request carries an If-Range that does
// not hold for the object, so that its Range is to be ignored.
func ifRangeFalse(r *http.Request, info ObjectInfo) bool {
	return r.Header.Get("If-Range") != "" && !ifRangeHolds(r, info)
}

// writeNotModified answers 304 with the object's validators and no body.
func writeNotModified(w http.ResponseWriter, info ObjectInfo) error {
	setInfoHeaders(w.Header(), info, false)
	w.WriteHeader(http.StatusNotModified)
	return nil
}

func setInfoHeaders(h http.Header, info ObjectInfo, withLength bool) {
	h.Set("ETag", `"`+info.ETag+`"`)
	if !info.Modified.IsZero() {
		h.Set("Last-Modified", info.Modified.UTC().Format(http.TimeFormat))
		h.Set(HeaderModified, info.Modified.UTC().Format(time.RFC3339Nano))
	}
	if withLength {
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
}

func unsatisfiable(size int64) error {
	return errs.E("storage.get", errs.Invalid, http.StatusRequestedRangeNotSatisfiable,
		fmt.Sprintf("range not satisfiable: the object has %d bytes", size))
}

type byteRange struct {
	start, end int64 // end -1 = to the end
	suffix     bool  // last n bytes
	n          int64
}

// within is the range's first and last byte in an object of size bytes;
// false when it is not satisfiable (starts at or past the end, a suffix of
// no bytes, any range of an empty object).
func (b byteRange) within(size int64) (first, last int64, ok bool) {
	if b.suffix {
		if b.n == 0 || size == 0 {
			return 0, 0, false
		}
		return max(0, size-b.n), size - 1, true
	}
	if b.start >= size {
		return 0, 0, false
	}
	last = size - 1
	if b.end >= 0 {
		last = min(last, b.end)
	}
	return b.start, last, true
}

// parseRange parses a single "bytes=" range (RFC 9110 14.1.1: digits
// only, optional white space around it). What it cannot read — another
// unit, several ranges, a sign, a space inside, "-", a position past
// int64 — is ignored and the whole object served, as MinIO and S3 do (it
// was a 416, and "bytes=+1-2" a 206 of bytes 1-2 where MinIO serves the
// whole object). A last position before the first is Invalid 416, as
// MinIO answers (InvalidRange).
func parseRange(h string) (byteRange, bool, error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return byteRange{}, false, nil
	}
	a, b, ok := strings.Cut(strings.Trim(spec, " \t"), "-")
	if !ok || (a == "" && b == "") || !digits(a) || !digits(b) {
		return byteRange{}, false, nil
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			return byteRange{}, false, nil
		}
		return byteRange{suffix: true, n: n}, true, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return byteRange{}, false, nil
	}
	end := int64(-1)
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil {
			return byteRange{}, false, nil
		}
		if end < start {
			return byteRange{}, false, errs.E("storage.get", errs.Invalid, http.StatusRequestedRangeNotSatisfiable,
				fmt.Sprintf("Range %q: the last byte is before the first", h))
		}
	}
	return byteRange{start: start, end: end}, true, nil
}

// digits reports whether s is empty or only ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
