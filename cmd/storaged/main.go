// Command storaged is the Lakehouse-Go storaged daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("storaged", shared.NotImplemented("/v1/storage"))) }
