package ollama

import (
	"testing"
	"time"
)

// SetShowTimes shortens showTimeout and showRetry until the test ends.
func SetShowTimes(t *testing.T, timeout, retry time.Duration) {
	oldT, oldR := showTimeout, showRetry
	showTimeout, showRetry = timeout, retry
	t.Cleanup(func() { showTimeout, showRetry = oldT, oldR })
}
