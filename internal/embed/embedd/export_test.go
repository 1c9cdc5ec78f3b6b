package embedd

import (
	"testing"
	"time"
)

// SetDigestTTL shortens the Ollama provider's DigestTTL for the daemons a
// test starts, until it ends.
func SetDigestTTL(t *testing.T, d time.Duration) {
	old := digestTTL
	digestTTL = d
	t.Cleanup(func() { digestTTL = old })
}
