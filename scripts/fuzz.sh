#!/usr/bin/env bash
# Runs every `func FuzzXxx` in the module for the given duration each
# (default 10s). Seeds always run in plain `go test`; this explores further.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10s}"
status=0
while IFS=: read -r file _ line; do
  pkg="./$(dirname "$file")"
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  echo "fuzz: $pkg $name ($dur)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$dur" "$pkg"; then
    status=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '/node_modules/' | sort)
exit $status
