// Package soak runs the whole suite as real child processes under
// sustained mixed traffic through the gateway — good requests, bad ones,
// timeouts and abusive clients — and checks that every daemon's
// goroutines and open file descriptors come back to where they were
// after a warm-up round: a count that grows with the number of requests
// is a leak. LH_SOAK_DURATION sets the length of the traffic (default
// 45s), LH_SOAK_S3=1 puts storaged on a real MinIO (miniotest); the test
// is skipped under -short.
package soak

import (
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestMain removes the daemon binaries built for this package's tests.
func TestMain(m *testing.M) { suite.Main(m) }
