// Package chaos runs the whole suite as real child processes, drives a
// mixed workload through the gateway and kill -9's daemons at random
// points, then checks that everything the suite acknowledged is still
// there (ADR-117). LH_CHAOS_SEED replays a run, LH_CHAOS_ROUNDS sets the
// number of kills.
package chaos

import (
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestMain removes the daemon binaries built for this package's tests.
func TestMain(m *testing.M) { suite.Main(m) }
