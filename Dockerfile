# One image with all eleven daemons. Build: docker build -t lakehouse-go .
# Run one daemon per container (docker-compose.yml): the command picks the daemon.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version /health reports (the build context has no .git for Go to read it from):
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t lakehouse-go .
ARG VERSION=dev
# cgo for DuckDB (queryd, ingestd): those binaries link libstdc++ dynamically.
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X lakehouse-go/internal/shared.Version=${VERSION}" -o /out/ ./cmd/... \
    && go build -trimpath -ldflags "-s -w" -o /out/lakehouse-backup ./tools/backup

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 999 lakehouse \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/lakehouse --shell /usr/sbin/nologin lakehouse \
    && mkdir -p /var/lib/lakehouse /etc/lakehouse && chown 999:999 /var/lib/lakehouse && chmod 0750 /var/lib/lakehouse
COPY --from=build /out/ /usr/local/bin/
COPY deploy/docker/lakehouse.toml /etc/lakehouse/lakehouse.toml
ENV LAKEHOUSE_CONFIG=/etc/lakehouse/lakehouse.toml
USER 999:999
WORKDIR /var/lib/lakehouse
VOLUME ["/var/lib/lakehouse"]
EXPOSE 3110
# Whichever daemon the container runs (PID 1, named by CMD) checks itself: <daemon> -healthcheck
# GETs /health on its bind over loopback and exits 0 or 1 (no curl in the image). Not with
# `docker run --init` (PID 1 is then the init); docker-compose.yml sets each service's own test.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD set -- $(tr '\0' ' ' </proc/1/cmdline) && exec "$@" -healthcheck
CMD ["gateway"]
