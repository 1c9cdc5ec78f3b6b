package matrix

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"lakehouse-go/internal/errs"
)

// TestSecondMatrixRefused: a Matrix holds its Dir from NewMatrix until
// Close has stopped its jobs; a second one on the same Dir (a second
// matrixd on the same data_dir) is Unavailable naming the directory and
// the holder's pid, and opens once the first is closed.
func TestSecondMatrixRefused(t *testing.T) {
	dir := t.TempDir()
	m, err := NewMatrix(Deps{}, Options{Dir: dir, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewMatrix(Deps{}, Options{Dir: dir, PollInterval: -1})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second NewMatrix: %v, want Unavailable naming %s and this pid", err, dir)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2, err := NewMatrix(Deps{}, Options{Dir: dir, PollInterval: -1})
	if err != nil {
		t.Fatalf("NewMatrix after Close: %v", err)
	}
	m2.Close(context.Background())
}
