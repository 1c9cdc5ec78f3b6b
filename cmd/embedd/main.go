// Command embedd is the Lakehouse-Go embedd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("embedd", shared.NotImplemented("/v1/embed"))) }
