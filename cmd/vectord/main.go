// Command vectord is the Lakehouse-Go vector index daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/vector"
)

func main() { os.Exit(shared.Run("vectord", vector.New)) }
