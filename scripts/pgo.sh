#!/usr/bin/env bash
# pgo.sh [seconds]: regenerates cmd/gateway/default.pgo, the CPU profile that
# `go build` (default -pgo=auto: a default.pgo in a main package's directory)
# uses to optimise the gateway (ADR-200): inlining of hot calls beyond the
# usual budget, devirtualisation of hot interface calls, hot/cold layout.
#
# How: the gateway is built without a profile (-pgo=off) into a temp dir and
# run by bench/gatewaybench (auth on, full middleware chain, access log, fast
# path; wrk -t2 -c32 against a tiny upstream) with LH_PPROF_ADDR on loopback;
# while wrk drives the gateway, a CPU profile of `seconds` (default 18: the
# bench's 2 s warm-up and most of its 20 s run) is fetched from
# /debug/pprof/profile. The script prints the profile's top functions: the
# fast path (internal/gateway's serve loop, header parsing, the proxy's
# upstream round trip) must be among them, or the profile is wrong.
#
# When to refresh: after a change that moves the gateway's hot path (renamed
# or restructured fast-path functions, a new middleware) or a Go upgrade. A
# stale profile is safe — Go matches it by function name and line offset and
# ignores what no longer matches — it just helps less. Needs wrk, nginx and
# curl, as the bench does; takes about a minute and a half on a warm cache.
#
# Measured (2026-12-02, ADR-200): the profile is ~12 KB; the gateway built
# with it runs 3-5% fewer user-space instructions per proxied GET under
# callgrind (18.6k -> 17.9k), about 1-1.5% of its CPU per request (the kernel
# is the rest); a cold `go build ./cmd/...` costs ~60 s more CPU (the
# gateway's ~290 dependencies are compiled once more, with the profile).
# Collect on a quiet host: a profile taken at load average 13 gained half.
#
# Knobs: PGO_PPROF_ADDR (default 127.0.0.1:16061), PGO_OUT (default
# cmd/gateway/default.pgo).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-18}"
addr="${PGO_PPROF_ADDR:-127.0.0.1:16061}"
out="${PGO_OUT:-cmd/gateway/default.pgo}"
tmp=$(mktemp -d)
bench_pid=""
cleanup() {
  # The bench stops its nginx and gateway itself when its round ends (a
  # signal would leave them running): wait for it.
  if [ -n "$bench_pid" ]; then wait "$bench_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -pgo=off -o "$tmp/bin/" ./cmd/gateway
go build -o "$tmp/gatewaybench" ./bench/gatewaybench
LH_BIN_DIR="$tmp/bin" "$tmp/gatewaybench" -d 20s -rounds 1 -nethttp=false \
  -gwenv "LH_PPROF_ADDR=$addr" >"$tmp/bench.out" 2>&1 &
bench_pid=$!

# The gateway is the process running $tmp/bin/gateway; its listening ports
# other than the pprof one are the port wrk will name.
gw=""
for _ in $(seq 300); do
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/exe" 2>/dev/null)" = "$tmp/bin/gateway" ]; then gw=${p#/proc/}; fi
  done
  [ -n "$gw" ] && break
  sleep 0.1
done
[ -n "$gw" ] || { echo "pgo.sh: the gateway did not start" >&2; cat "$tmp/bench.out" >&2; exit 1; }
ports=""
for _ in $(seq 100); do
  ports=$(ss -Hltnp | awk -v pid="pid=$gw," -v pp="$addr" 'index($0, pid) && $4 != pp { n = split($4, a, ":"); print a[n] }')
  [ -n "$ports" ] && break
  sleep 0.1
done
[ -n "$ports" ] || { echo "pgo.sh: the gateway's port not found" >&2; exit 1; }

# Wait for wrk against the gateway (the bench's rounds go direct, nginx,
# gateway; each starts with a 2 s warm-up), then profile.
found=""
for _ in $(seq 1200); do
  for p in $(pgrep -x wrk || true); do
    cl=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)
    for port in $ports; do
      case "$cl" in *"127.0.0.1:$port/"*) found=1 ;; esac
    done
  done
  [ -n "$found" ] && break
  kill -0 "$bench_pid" 2>/dev/null || { echo "pgo.sh: the bench ended early" >&2; cat "$tmp/bench.out" >&2; exit 1; }
  sleep 0.1
done
[ -n "$found" ] || { echo "pgo.sh: wrk never drove the gateway" >&2; exit 1; }
curl -sf -o "$tmp/gw.pprof" "http://$addr/debug/pprof/profile?seconds=$secs"
wait "$bench_pid"
bench_pid=""
cat "$tmp/bench.out"
go tool pprof -top -nodecount=30 "$tmp/bin/gateway" "$tmp/gw.pprof" 2>/dev/null | head -40
mv "$tmp/gw.pprof" "$out"
ls -l "$out"
