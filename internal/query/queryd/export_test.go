package queryd

import (
	"testing"
	"time"
)

// SetWriteStall makes New's servers bound a json answer's write by d
// without progress, until t ends.
func SetWriteStall(t testing.TB, d time.Duration) {
	old := writeStall
	writeStall = d
	t.Cleanup(func() { writeStall = old })
}
