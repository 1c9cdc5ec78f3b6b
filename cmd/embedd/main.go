// Command embedd is the Lakehouse-Go embedding daemon on :3216 (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/embed/embedd"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("embedd", embedd.New)) }
