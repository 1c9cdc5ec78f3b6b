#!/usr/bin/env bash
# Runs every `func FuzzXxx` in the module for the given duration each
# (default 10s). Seeds always run in plain `go test`; this explores further.
# A duration-bounded run can fail with a bare "context deadline exceeded" and
# no failing input: a race in Go's fuzz coordinator at the -fuzztime deadline
# (golang/go#75804, fixed in Go 1.27). Such a run is repeated once with a
# count budget (-fuzztime Nx, N = the executions the failed run reached),
# which has no deadline to race; a second such stop fails the run. Nothing
# else is repeated: a failing input written to testdata, a failing seed
# corpus entry (Go writes no file for those), a failure before fuzzing, and
# a worker that died with no input recorded all fail the run. Go records no
# input for a worker killed by a signal it does not take for a crash
# ("terminated by unexpected signal; no crash will be recorded": SIGKILL, as
# the OOM killer sends on an input's memory) nor for one that exited between
# two inputs ("hung or terminated unexpectedly" with no failing input: a
# goroutine the target left running that panicked or exited): findings that
# a passing repeat would hide.
# Minimizing each new interesting input is capped at FUZZ_MINIMIZE (default
# 200 executions): with Go's default (60 s per input) a target that does real
# I/O (FuzzKey's fsynced PUT round trip) spent all but its first 2-3 seconds
# minimizing, at "0/sec", and hit the deadline doing so (3.4k executions in
# 15 s against 66k with the cap, same machine). A failing input is still
# written, minimized less.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-10s}"
status=0
out=""
# recorded: Go's lines for a failure it recorded (an input, or a seed).
recorded="Failing input written to|failure while testing seed corpus entry"
# coordinator_flake: the failed run's output (stdin) is Go's deadline race:
# its failure is the bare line Go prints for it (not a test's message that
# names a deadline), with no failing input or seed.
coordinator_flake() {
  local o
  o=$(cat)
  ! grep -qE "$recorded" <<<"$o" &&
    grep -qxF "    context deadline exceeded" <<<"$o"
}
fuzz_one() { # pkg name budget [repeat]
  out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" -fuzzminimizetime "${FUZZ_MINIMIZE:-200x}" "$1" 2>&1) && { echo "$out" | tail -n 2; return 0; }
  if [ -z "${4:-}" ] && coordinator_flake <<<"$out"; then
    # Not a test failure: say so, so that no log reader counts "--- FAIL" lines
    # of a run that is repeated below.
    sed -E 's/^(--- |)FAIL/\1DEADLINE-RACE (repeated below)/; s/^exit status 1$/exit status 1 (deadline race)/' <<<"$out"
    return 2
  fi
  echo "$out"
  if ! grep -qE "$recorded" <<<"$out" &&
    grep -qE "^    fuzzing process (hung or terminated unexpectedly|terminated by unexpected signal)" <<<"$out"; then
    echo "fuzz: $2: a worker died and Go recorded no input (a goroutine the target left running, or a kill such as the OOM killer's on an input's memory): a finding, not repeated"
  fi
  return 1
}
while IFS=: read -r file _ line; do
  pkg="./$(dirname "$file")"
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  echo "fuzz: $pkg $name ($dur)"
  rc=0; fuzz_one "$pkg" "$name" "$dur" || rc=$?
  if [ "$rc" = 2 ]; then
    n=$(grep -oE 'execs: [0-9]+' <<<"$out" | tail -n 1 | grep -oE '[0-9]+' || true)
    n=$(( ${n:-0} > 1000 ? ${n:-0} : 1000 ))
    echo "fuzz: $name stopped on the fuzz coordinator's deadline race (no failing input); again with -fuzztime ${n}x"
    rc=0; fuzz_one "$pkg" "$name" "${n}x" repeat || rc=$?
  fi
  [ "$rc" = 0 ] || status=1
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '/node_modules/' | sort)
exit $status
