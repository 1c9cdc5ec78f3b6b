// Command pathwayd is the Lakehouse-Go pathwayd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("pathwayd", shared.NotImplemented("/v1/pathway"))) }
