// Command observerd is the Lakehouse-Go ring of recent operations on :3219
// (see DESIGN.md and internal/observer).
package main

import (
	"os"

	"lakehouse-go/internal/observer"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("observerd", observer.New)) }
