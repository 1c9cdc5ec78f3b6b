#!/usr/bin/env bash
# race.sh [package...]: the unit and integration tests under the race detector
# (`go test -race -count=1 -short`), bounded for CI. Prints one line per
# package (ok / FAIL / no tests) and exits non-zero when any package fails,
# a data race included (the race detector fails the test that saw it).
#
# Without arguments it runs every package under cmd, internal and tools.
# -short is the module's knob for tests that move hundreds of MiB, loop
# hundreds of sequential rounds or build and kill whole daemons; under -race
# such byte loops run 5-10x slower and prove nothing about concurrency the
# rest do not (their -short forms keep their goroutines and interleavings).
#
# MinIO: as the normal tests (internal/testutil/miniotest): $MINIO_BIN or the
# cached binary; without one the MinIO tests skip, unless LH_REQUIRE_MINIO=1.
#
# Measured (2026-12-01, all 57 packages, -p 2, 2 cores shared with four other
# test runs, load average 2.6-10): 1033 s wall, exit 0, no race. The default
# list without catalog, matrix and ingestd on a quiet host, cold race build
# cache: 575 s, no race. Those three, once left out as too slow, run by
# default since their sequential bulk tests shrank under -short
# (TestCompactManySmallAppends 300 -> 40 appends, TestCompressedUploads
# 20,000 -> 4,000 rows, TestSpillDirectories 3 -> 1 spill rounds,
# TestListSkipsVersions 1,500 -> 700 versions). The three alone
# (2026-12-01 10:12-10:18 UTC, MinIO required, load average 4-15): 333 s
# wall, catalog 152 s, matrix 199 s, ingestd 118 s, no race; ingestd took
# 513 s before, in a profile at load 15-20 (compact 300 appends 99 s,
# compressed uploads 88 s, spill directories 22 s). Again at 10:24-10:27
# (load 0.5-7, MinIO required, warm cache): 194 s wall, catalog 102 s,
# matrix 156 s, ingestd 86 s (345 package-seconds, ~3 min at -p 2), no race.
#
# Knobs: RACE_TIMEOUT (per package binary, default 10m), RACE_P (packages
# built and run at once, default 2).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then
  pkgs=("$@")
else
  mapfile -t pkgs < <(go list ./cmd/... ./internal/... ./tools/...)
fi

log=$(mktemp "${TMPDIR:-/tmp}/race.XXXXXX")
trap 'rm -f "$log"' EXIT
start=$(date +%s)
echo "race: ${#pkgs[@]} packages, -p ${RACE_P:-2}, -timeout ${RACE_TIMEOUT:-10m}"
go test -race -count=1 -short -p "${RACE_P:-2}" -timeout "${RACE_TIMEOUT:-10m}" "${pkgs[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

echo
echo "race: summary ($(($(date +%s) - start)) s)"
grep -E '^(ok|FAIL|\?)[[:space:]]' "$log" | sed -E 's/[[:space:]]+/ /g' | sort -k2
races=$(grep -c '^WARNING: DATA RACE' "$log" || true)
echo "race: ${races} data race report(s); go test exit status ${rc}"
if [ "$rc" -ne 0 ] || [ "$races" -ne 0 ]; then
  exit 1
fi
