// Command catalogd is the Lakehouse-Go catalogd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("catalogd", shared.NotImplemented("/v1/catalog"))) }
