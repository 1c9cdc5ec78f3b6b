#!/usr/bin/env bash
# Regenerates test/compat/testdata/<short-rev>/ from an older build:
#   test/compat/make_fixture.sh <rev>
# builds <rev>'s daemons in a git worktree, runs TestMakeFixture with them
# (LH_BIN_DIR), which writes the data set through the old gateway and saves
# the data dirs ("clean": SIGTERM, "killed": SIGKILL with changes only in
# the logs) and expect.json, then removes the worktree.
set -euo pipefail
rev=${1:?usage: make_fixture.sh <rev>}
root=$(git rev-parse --show-toplevel)
short=$(git -C "$root" rev-parse --short=7 "$rev")
wt=${TMPDIR:-/tmp}/wt-compat-$short
git -C "$root" worktree add -f "$wt" "$short"
trap 'git -C "$root" worktree remove --force "$wt"' EXIT
(cd "$wt" && go build -o "$wt/bin/" ./cmd/...)
out=$root/test/compat/testdata/$short
cd "$root"
LH_BIN_DIR=$wt/bin LH_COMPAT_REV=$short LH_COMPAT_FIXTURE_OUT=$out \
	go test -count=1 -run '^TestMakeFixture$' ./test/compat/
cat > "$out/README.md" <<EOR
Written by commit $short ($(git -C "$root" log -1 --format=%cs "$short")) with
\`test/compat/make_fixture.sh $short\` on $(date -u +%Y-%m-%d): the daemons of that
commit on a temp data_dir (local storage, builtin embedder, loopback ports), the data
set of test/compat/dataset_test.go written through the gateway (TestMakeFixture).
clean/ was stopped with SIGTERM, killed/ with SIGKILL (vector upserts, a memory and a
trace step after vectord's last snapshot; an ingest into the dataset inflight killed
as soon as its pending marker was in storaged). expect.json in each is what that
build answered; TestUpgradeFromFixture checks the current build answers the same.
EOR
du -sh "$out"
