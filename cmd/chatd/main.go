// Command chatd is the Lakehouse-Go chatd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("chatd", shared.NotImplemented("/v1/chat"))) }
