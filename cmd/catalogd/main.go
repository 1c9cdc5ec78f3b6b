// Command catalogd is the Lakehouse-Go dataset catalog daemon on :3212 (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/catalog"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("catalogd", catalog.New)) }
