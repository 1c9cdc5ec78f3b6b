package chatd_test

import (
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestMain removes the daemon binaries built for this package's tests.
func TestMain(m *testing.M) { suite.Main(m) }
