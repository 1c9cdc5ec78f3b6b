package matrix

import (
	"testing"
	"time"
)

// SetModelCheckEvery shortens Options.ModelCheckEvery's default for the
// matrixd daemons a test starts.
func SetModelCheckEvery(t *testing.T, d time.Duration) {
	old := defaultModelCheckEvery
	defaultModelCheckEvery = d
	t.Cleanup(func() { defaultModelCheckEvery = old })
}
