// Command matrixd is the Lakehouse-Go matrixd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("matrixd", shared.NotImplemented("/v1/matrix"))) }
