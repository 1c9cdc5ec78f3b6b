package gateway

import (
	"testing"

	"lakehouse-go/internal/testutil/suite"
)

// TestMain removes the binaries the console's browser tests built for the
// suite (they start the real daemons as child processes).
func TestMain(m *testing.M) { suite.Main(m) }
