package storaged

import (
	"context"
	"path/filepath"
	"time"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/storage"
	"lakehouse-go/internal/storage/s3"
)

// uploadJournalPath is where the s3 backend records the multipart uploads
// it starts, under data_dir (ADR-011): interrupted ones are aborted by the
// store's janitor, at start and every s3.DefaultJanitorInterval.
var uploadJournalPath = filepath.Join("storaged", "uploads.jsonl")

// openS3 opens the s3 backend from [s3] and the secrets file. A secrets
// file readable by group/others, or without keys, refuses the start, and so
// does an upload journal that cannot be opened or that another process
// holds; an unreachable endpoint or a missing bucket is only logged.
func openS3(ctx context.Context, env *shared.Env) (storage.Store, func() error, error) {
	c := env.Config.S3
	ak, sk, err := s3.LoadSecrets(c.SecretsPath)
	if err != nil {
		return nil, nil, shared.ConfigErr(err)
	}
	sc := s3.ConfigFrom(c, ak, sk)
	sc.PartSize, sc.UploadJournal = c.PartSize, env.Config.DataPath("", uploadJournalPath)
	st, err := s3.Open(sc, env.Log)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := st.Check(cctx); err != nil {
		env.Log.Warn("S3 not usable yet; requests answer unavailable until it is", "op", "start", "err", err.Error())
	} else {
		env.Log.Info("storage backend", "op", "start", "backend", "s3", "endpoint", c.Endpoint, "bucket", c.Bucket)
	}
	return st, st.Close, nil
}
