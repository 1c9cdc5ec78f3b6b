// Package compat is the upgrade-compatibility test: a data directory
// written by an older build (checked in under testdata/<rev>/) is copied to
// a temp dir, the current binaries are started on it, and everything the
// older build acknowledged must read back exactly through the gateway,
// with new writes working on top. Operators upgrade in place (stop
// lakehouse-go.target, install new binaries, start on the same data_dir),
// so every on-disk format a daemon reads is covered: catalog manifests,
// Parquet files, objects, vectord's LHV1 snapshots and WAL, matrixd's
// state and keyword index, pathwayd's state.jsonl, observerd's ops.jsonl,
// ingestd's pending markers. make_fixture.sh regenerates a fixture.
package compat

import (
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestMain removes the daemon binaries built for this package's tests.
func TestMain(m *testing.M) { suite.Main(m) }
