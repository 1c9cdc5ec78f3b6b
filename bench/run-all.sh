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
run gateway go run ./bench/gatewaybench -d 4s -rounds 11 -nginx-log -b . -benv GOMAXPROCS=2
run storage go run ./bench/storagebench
run ingest go run ./bench/ingestbench
run query go run ./bench/querybench
run embed go run ./bench/embedbench -n 200000 -procs 1,2
run vector env EF=40,80,120,160,240 MINTIME=1.5 bash bench/vectorbench/run.sh
run vectorload go run ./bench/vectorload
run matrix-quality go run ./bench/matrixbench -quality -docs 20000 -queries 1000
run matrix-pipeline go run ./bench/matrixbench -pipeline -rows 50000 -searches 300
# the 1M-row build takes ~12 minutes on 2 cores: BENCH_1M=1 to include it
[ "${BENCH_1M:-0}" = 1 ] && run matrix-pipeline-1m go run ./bench/matrixbench -pipeline -rows 1000000 -searches 300
echo "bench: tables in bench/out/" >&2
