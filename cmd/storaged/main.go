// Command storaged is the Lakehouse-Go object store daemon on :3211 (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage/storaged"
)

func main() { os.Exit(shared.Run("storaged", storaged.New)) }
