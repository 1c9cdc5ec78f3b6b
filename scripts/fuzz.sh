#!/usr/bin/env bash
# Runs every `func FuzzXxx` in the module for the given duration each
# (default 10s). Seeds always run in plain `go test`; this explores further.
# A run that fails without writing a failing input (the fuzzing engine's own
# "context deadline exceeded" when a worker is mid-input at the deadline) is
# retried (twice at most); a failing input written to testdata always fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10s}"
status=0
fuzz_one() { # pkg name
  local out
  out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$dur" "$1" 2>&1) && { echo "$out" | tail -n 2; return 0; }
  echo "$out"
  if grep -q "Failing input written to" <<<"$out"; then return 1; fi
  return 2
}
while IFS=: read -r file _ line; do
  pkg="./$(dirname "$file")"
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  echo "fuzz: $pkg $name ($dur)"
  rc=0; fuzz_one "$pkg" "$name" || rc=$?
  for retry in 1 2; do
    [ "$rc" = 2 ] || break
    echo "fuzz: $name failed without a failing input (engine deadline); retry $retry of 2"
    rc=0; fuzz_one "$pkg" "$name" || rc=$?
  done
  [ "$rc" = 0 ] || status=1
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '/node_modules/' | sort)
exit $status
