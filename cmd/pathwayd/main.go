// Command pathwayd is the Lakehouse-Go agent memory and trace daemon on
// :3217 (see DESIGN.md and internal/pathway).
package main

import (
	"os"

	"lakehouse-go/internal/pathway"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("pathwayd", pathway.New)) }
