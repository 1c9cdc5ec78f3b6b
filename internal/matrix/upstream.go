package matrix

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
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

// upstreamStarting reports whether err, an index job's failure, is an
// upstream's 503 that asked to be called again: the failing call's own
// answer carried Retry-After, which the harness's client keeps on the
// error it decodes (errs.RetryAfterOf). It returns the service (the first
// word of the op shared.Client names that error with), its message, and
// the wait asked for within [quickRetryMin, quickRetryMax]: a job asked to
// wait longer still tries again soon (the upstream answers 503 again at
// worst, and the tries are bounded). Any other failure is not a start — no
// answer, a 502, a 503 without Retry-After, one wrapped as another kind
// (the held conflict): a job that failed on an outage is retried with
// backoff.
func upstreamStarting(err error) (service, msg string, wait time.Duration, ok bool) {
	if !errs.Is(err, errs.Unavailable) {
		return "", "", 0, false
	}
	e, ok := errs.RetryAfterOf(err)
	if !ok || errs.StatusOf(e) != http.StatusServiceUnavailable {
		return "", "", 0, false
	}
	service, _, _ = strings.Cut(e.Op, " ")
	return service, errs.Message(e), min(max(e.RetryAfter, quickRetryMin), quickRetryMax), true
}

// waitingText is IndexStatus.Waiting for a job that waits wait for
// service, which answered msg, before its try-th quick retry.
func waitingText(service, msg string, wait time.Duration, try int) string {
	return fmt.Sprintf("waiting for %s, which answered 503 with Retry-After (%s): the job tries again in %s (quick retry %d of %d; after the last it fails as an outage and is retried with backoff)",
		service, msg, wait, try, maxQuickRetries)
}
