// Command observerd is the Lakehouse-Go observerd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("observerd", shared.NotImplemented("/v1/observer"))) }
