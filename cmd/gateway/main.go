// Command gateway is the Lakehouse-Go front door on :3110 (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/gateway"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("gateway", gateway.New)) }
