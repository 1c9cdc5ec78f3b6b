package storaged

import (
	"testing"
	"time"
)

// SetS3Silence sets the s3 backend's header and stall bounds of the
// storaged instances a test starts, until it ends.
func SetS3Silence(t testing.TB, header, stall time.Duration) {
	old := s3Silence
	s3Silence.header, s3Silence.stall = header, stall
	t.Cleanup(func() { s3Silence = old })
}
