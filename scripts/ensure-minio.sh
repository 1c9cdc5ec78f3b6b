#!/usr/bin/env bash
# ensure-minio.sh: print the path of a MinIO server binary, building it once
# if needed. Tests find it through $MINIO_BIN or the cache path below
# (internal/testutil/miniotest).
#   $MINIO_BIN, if set and executable, is used as is.
#   else /root/.cache/lakehouse/bin/minio (or $LH_CACHE_DIR/bin/minio) is used,
#   else it is built there with `go install` (pure Go, CGO off; 7-11 minutes).
set -euo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
CACHE_BIN="${LH_CACHE_DIR:-/root/.cache/lakehouse}/bin"

if [[ -n "${MINIO_BIN:-}" ]]; then
  if [[ -x "$MINIO_BIN" ]]; then
    echo "$MINIO_BIN"
    exit 0
  fi
  echo "ensure-minio: MINIO_BIN=$MINIO_BIN is not an executable file" >&2
  exit 1
fi

if [[ -x "$CACHE_BIN/minio" ]]; then
  echo "$CACHE_BIN/minio"
  exit 0
fi

# Another build may be running (it writes the binary only at the end): wait for it.
if pgrep -f "go install github.com/minio/minio@" >/dev/null 2>&1; then
  echo "ensure-minio: a MinIO build is already running; waiting for $CACHE_BIN/minio" >&2
  for _ in $(seq 1 180); do
    [[ -x "$CACHE_BIN/minio" ]] && { echo "$CACHE_BIN/minio"; exit 0; }
    sleep 5
  done
  echo "ensure-minio: timed out waiting for the running build" >&2
  exit 1
fi

mkdir -p "$CACHE_BIN"
echo "ensure-minio: building github.com/minio/minio@$MINIO_VERSION into $CACHE_BIN (7-11 minutes)" >&2
GOBIN="$CACHE_BIN" CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_VERSION" >&2
echo "$CACHE_BIN/minio"
