package storaged

import (
	"context"
	"fmt"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
)

func openS3(ctx context.Context, env *shared.Env) (storage.Store, func() error, error) {
	return nil, nil, fmt.Errorf("s3 backend: not wired yet")
}
