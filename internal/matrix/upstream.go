package matrix

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// An upstream that is only starting answers 503 with Retry-After (vectord
// while it loads its indexes after a start: "vector indexes are still
// loading from storaged"). An index job that meets one waits what it asks,
// within [quickRetryMin, quickRetryMax], and runs again, up to
// maxQuickRetries times in a row; the status says what it waits for
// (IndexStatus.Waiting) and the job is not failed meanwhile. After that,
// and for any other outage (no answer, a 503 without Retry-After), the job
// fails and the poll retries it with Options.RetryAfter's backoff.
const (
	quickRetryMin   = time.Second
	quickRetryMax   = 5 * time.Second
	maxQuickRetries = 30
)

// upstreamClient is base (the harness's client of service) with a
// transport that notes the Retry-After of each 503 it receives in the
// request's upstreamNotes (withNotes), which the index job reads when it
// fails: errs.FromResponse keeps a 503's kind and message, not its
// headers.
func upstreamClient(base *shared.Client) *shared.Client {
	c := *base
	hc := *base.HTTP
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = &noteTransport{base: rt, service: base.Service}
	c.HTTP = &hc
	return &c
}

// noteTransport is upstreamClient's transport.
type noteTransport struct {
	base    http.RoundTripper
	service string
}

func (t *noteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
		if n, _ := req.Context().Value(notesKey{}).(*upstreamNotes); n != nil {
			// The op shared.Client names the error of this answer with.
			n.note(t.service+" "+req.Method+" "+req.URL.Path, t.service, resp.Header.Get("Retry-After"))
		}
	}
	return resp, err
}

type notesKey struct{}

// upstreamNotes are the 503 answers one job attempt received, by the op
// of their error: the Retry-After each carried ("" none), the last one
// of each op.
type upstreamNotes struct {
	mu  sync.Mutex
	ops map[string]upstreamNote
}

type upstreamNote struct {
	service    string
	retryAfter string
}

func withNotes(ctx context.Context, n *upstreamNotes) context.Context {
	return context.WithValue(ctx, notesKey{}, n)
}

func (n *upstreamNotes) note(op, service, retryAfter string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ops == nil {
		n.ops = map[string]upstreamNote{}
	}
	n.ops[op] = upstreamNote{service: service, retryAfter: retryAfter}
}

// starting reports whether err, an index job's failure, is an upstream's
// 503 that asked to be called again (Retry-After): the service, its
// message, and how long to wait (parseRetryAfter). Any other failure is
// not: a job that failed on an outage is retried with backoff.
func (n *upstreamNotes) starting(err error, now time.Time) (service, msg string, wait time.Duration, ok bool) {
	if !errs.Is(err, errs.Unavailable) {
		return "", "", 0, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	walkErrs(err, func(e *errs.Error) bool {
		note, seen := n.ops[e.Op]
		if !seen || e.Kind != errs.Unavailable || errs.StatusOf(e) != http.StatusServiceUnavailable {
			return false
		}
		wait, ok = parseRetryAfter(note.retryAfter, now)
		service, msg = note.service, errs.Message(e)
		return ok
	})
	return service, msg, wait, ok
}

// walkErrs calls f on each *errs.Error in err's chain (both Unwrap forms)
// until f returns true.
func walkErrs(err error, f func(*errs.Error) bool) bool {
	for err != nil {
		if e, ok := err.(*errs.Error); ok && f(e) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				if walkErrs(x, f) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// parseRetryAfter reads a Retry-After field (RFC 9110 10.2.3: seconds, or
// an HTTP date) as the wait before the next try, within [quickRetryMin,
// quickRetryMax]: a job asked to wait longer still tries again soon (the
// upstream answers 503 again at worst, and the tries are bounded). ""
// or a malformed field is not a request to retry (ok false).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil && !isRangeErr(err) {
			return 0, false
		}
		if secs > uint64(quickRetryMax/time.Second) || err != nil {
			return quickRetryMax, true
		}
		d = time.Duration(secs) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil {
			return 0, false
		}
		d = t.Sub(now)
	}
	return min(max(d, quickRetryMin), quickRetryMax), true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// waitingText is IndexStatus.Waiting for a job that waits wait for
// service, which answered msg, before its try-th quick retry.
func waitingText(service, msg string, wait time.Duration, try int) string {
	return fmt.Sprintf("waiting for %s, which answered 503 with Retry-After (%s): the job tries again in %s (quick retry %d of %d; after the last it fails as an outage and is retried with backoff)",
		service, msg, wait, try, maxQuickRetries)
}
