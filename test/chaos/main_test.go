// Package chaos runs the whole suite as real child processes, drives a
// mixed workload through the gateway and kill -9's daemons at random
// points, then checks that everything the suite acknowledged is still
// there (ADR-117). LH_CHAOS_SEED replays a run's kill schedule and
// workload choices (timing still varies), LH_CHAOS_ROUNDS sets the number
// of kill rounds (default 12: about 60 s of chaos and checks, 75-90 s with
// the build, on two shared cores), LH_CHAOS_TREE=1 logs the data
// directory.
// A failed run keeps the daemons' logs in $TMPDIR/lh-chaos-<seed>.log.
package chaos

import (
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestMain removes the daemon binaries built for this package's tests.
func TestMain(m *testing.M) { suite.Main(m) }
