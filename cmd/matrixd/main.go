// Command matrixd is the Lakehouse-Go hybrid search daemon on :3218 (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/matrix"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("matrixd", matrix.New)) }
