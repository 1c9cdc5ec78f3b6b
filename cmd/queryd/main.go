// Command queryd is the Lakehouse-Go queryd daemon (see DESIGN.md).
package main

import (
	"os"

	"lakehouse-go/internal/query/queryd"
	"lakehouse-go/internal/shared"
)

func main() { os.Exit(shared.Run("queryd", queryd.New)) }
