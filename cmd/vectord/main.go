// Command vectord is the Lakehouse-Go vectord daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("vectord", shared.NotImplemented("/v1/vectors"))) }
