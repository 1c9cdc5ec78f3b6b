// Command chatd is the Lakehouse-Go LLM dispatch daemon on :3220 (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/chat/chatd"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("chatd", chatd.New)) }
