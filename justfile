# Lakehouse-Go developer commands. `just` itself: scripts/just installs it (npm rust-just) when missing.
set shell := ["bash", "-euo", "pipefail", "-c"]

version := `git describe --always --dirty 2>/dev/null || echo dev`

# build the eleven daemons into bin/ (their /health reports the git version)
build:
    go build -ldflags "-X lakehouse-go/internal/shared.Version={{version}}" -o bin/ ./cmd/...

# run the whole suite on embedded defaults (data in ./lakehouse-data); Ctrl-C stops it
up *ARGS: build
    go build -o "${TMPDIR:-/tmp}/lakehouse-devup" ./tools/devup
    "${TMPDIR:-/tmp}/lakehouse-devup" -no-build -bin bin {{ARGS}}

# install for systemd (as root): /usr/local/bin/lakehouse-<name>, the units, /etc/lakehouse (DESTDIR= to stage)
install:
    scripts/install.sh

# unit + integration tests (MinIO tests skip when no MinIO binary is cached)
test:
    go test ./...

# vet, every test with a real MinIO required, the core smokes, the race detector, a short fuzz of every parser
verify:
    go vet ./...
    @out="$(gofmt -l cmd internal bench tools)"; if [ -n "$out" ]; then echo "gofmt -l: these files need formatting:"; echo "$out"; exit 1; fi
    scripts/ensure-chromium.sh >/dev/null
    export MINIO_BIN="$(scripts/ensure-minio.sh)"; LH_REQUIRE_MINIO=1 LH_REQUIRE_CHROMIUM=1 go test -count=1 -timeout 40m ./...
    export MINIO_BIN="$(scripts/ensure-minio.sh)"; LH_REQUIRE_MINIO=1 scripts/race.sh
    scripts/fuzz.sh 10s

# the tests under the race detector (-short; scripts/race.sh names the packages left out for time)
race *PKGS:
    export MINIO_BIN="$(scripts/ensure-minio.sh)"; scripts/race.sh {{PKGS}}

# fuzz every Fuzz target for DURATION each
fuzz DURATION="60s":
    scripts/fuzz.sh {{DURATION}}

# the measured figures: gateway vs nginx vs direct, and every daemon's bench
bench:
    bench/run-all.sh
