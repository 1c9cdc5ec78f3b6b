package storage

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"lakehouse-go/internal/errs"
)

// Direct reads (ADR-015): storaged hands the client, once, a descriptor of
// its object directory (op root) and the client opens objects itself,
// exactly as storaged's own open does — no round trip per GET. The
// directory descriptor is leased: it is used only while the connection it
// came on is open (storaged closes that connection when it stops, restarts
// or finds it idle), checked with one poll(2) per GET.

// DirectReadsEnv, set to 0, keeps every socket Get on a round trip to
// storaged (op open): for A/B benchmarks, and for operators who want every
// read in storaged's access log and metrics.
const DirectReadsEnv = "LH_STORAGE_DIRECT_READS"

// scLeaseRetry: after storaged refused a root (an older storaged, a
// backend without one), reads go through open for this long.
const scLeaseRetry = 30 * time.Second

// scLease is the object directory's descriptor and the connection that
// holds it.
type scLease struct {
	mu    sync.RWMutex // read: using fd; write: replacing it
	conn  *scConn      // nil: no lease
	fd    int
	root  string
	retry time.Time
}

// live reports whether the lease's connection is still open: storaged
// never writes on it unasked, so anything readable (EOF, a reset) ends it.
// Called with mu held.
func (l *scLease) live() bool {
	return l.conn != nil && l.conn.quiet()
}

// drop ends the lease. Called with mu held for writing.
func (l *scLease) drop() {
	if l.conn != nil {
		l.conn.close()
		unix.Close(l.fd)
		l.conn, l.fd, l.root = nil, -1, ""
	}
}

// renew takes a new lease when the current one is gone; false when there
// is none to be had (the caller asks storaged with open instead).
func (p *scPool) renew(ctx context.Context) bool {
	l := &p.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live() {
		return true // another caller renewed it
	}
	l.drop()
	if time.Now().Before(l.retry) {
		return false
	}
	c, resp, fd, err := p.do(ctx, SCRequest{Op: SCRoot})
	if err != nil {
		return false
	}
	if resp.Error != nil || fd < 0 || !filepath.IsAbs(resp.Root) {
		rawFile(fd).Close()
		p.release(c)
		l.retry = time.Now().Add(scLeaseRetry)
		return false
	}
	l.conn, l.fd, l.root = c, fd, resp.Root // c stays out of the pool
	return true
}

// openDirect opens key through the lease as storaged's open would: the same
// key rules, resolution beneath the object directory without symlinks, a
// regular file, the etag from its xattr. handled is false when storaged
// must answer instead (no lease, a key storaged words the refusal of, an
// object without its etag xattr, an unexpected error).
func (p *scPool) openDirect(ctx context.Context, key string) (f rawFile, info ObjectInfo, err error, handled bool) {
	if ValidateLocalKey(key) != nil {
		return -1, ObjectInfo{}, nil, false
	}
	l := &p.lease
	l.mu.RLock()
	if !l.live() {
		l.mu.RUnlock()
		if !p.renew(ctx) {
			return -1, ObjectInfo{}, nil, false
		}
		l.mu.RLock()
	}
	if l.conn == nil { // dropped again between renew and here
		l.mu.RUnlock()
		return -1, ObjectInfo{}, nil, false
	}
	fd, oerr := OpenLocalObject(l.fd, key)
	root := l.root
	l.mu.RUnlock()
	if oerr != nil {
		if LocalObjectMissing(oerr) {
			return -1, ObjectInfo{}, directNotFound(key), true
		}
		return -1, ObjectInfo{}, nil, false
	}
	f = rawFile(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return -1, ObjectInfo{}, nil, false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return -1, ObjectInfo{}, directNotFound(key), true
	}
	etag, ctype, ok := LocalMeta(fd)
	if !ok {
		f.Close() // storaged hashes it and sets the xattr
		return -1, ObjectInfo{}, nil, false
	}
	return f, ObjectInfo{
		Key:      key,
		Size:     st.Size,
		ETag:     etag,
		Modified: time.Unix(st.Mtim.Unix()).UTC(),
		Path:     filepath.Join(root, filepath.FromSlash(key)),

		ContentType: ContentTypeOf(ctype),
	}, nil, true
}

// directNotFound is storaged's answer for a key with no object.
func directNotFound(key string) error {
	return errs.Errorf("storaged sc.open", errs.NotFound, "object %q not found", key)
}

// directReadsOn is DirectReadsEnv's answer, read once per client.
func directReadsOn() bool { return os.Getenv(DirectReadsEnv) != "0" }

// LocalRoot is the absolute path of the object directory of the storaged
// whose short-circuit socket this client reaches (the root lease, taken if
// needed), or "" when there is none: no socket (WithSocket "", ForceHTTPEnv),
// nobody listening on it (storaged on another host, the s3 backend), or a
// storaged that refuses root. A daemon that reads storaged's files by path
// (queryd) asks it first: a directory named in its own config is
// storaged's only if this answers the same directory (ADR-015, split hosts).
func (c *Client) LocalRoot(ctx context.Context) string {
	if c.sc == nil || !c.sc.renew(ctx) {
		return ""
	}
	l := &c.sc.lease
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.root
}
