// Command ingestd is the Lakehouse-Go ingestd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/ingest/ingestd"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("ingestd", ingestd.New)) }
