#!/usr/bin/env bash
# Runs every benchmark that prints a table in STATE_OF_PLAY.md, in sequence
# (they compare against a baseline in the same run, so run them on a quiet
# machine). Output: bench/out/<name>.md and the tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ -d /usr/share/wordnet ] || need+=(wordnet-base)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: apt-get install ${need[*]}" >&2
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >&2
fi
mkdir -p bench/out
run() {
  local name=$1; shift
  echo "== $name: $*" >&2
  "$@" | tee "bench/out/$name.md"
}
run gateway go run ./bench/gatewaybench -d 10s -rounds 2
[ -d bench/storagebench ] && run storage go run ./bench/storagebench
[ -d bench/ingestbench ] && run ingest go run ./bench/ingestbench
[ -d bench/querybench ] && run query go run ./bench/querybench
[ -d bench/embedbench ] && run embed go run ./bench/embedbench -n 200000 -procs 1,2
[ -x bench/vectorbench/run.sh ] && run vector bench/vectorbench/run.sh
[ -d bench/matrixbench ] && run matrix go run ./bench/matrixbench
echo "bench: tables in bench/out/" >&2
