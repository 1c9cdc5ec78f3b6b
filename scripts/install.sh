#!/usr/bin/env bash
# Install Lakehouse-Go for systemd (`just install`, as root):
#   /usr/local/bin/lakehouse-<name>       the eleven daemons (what the units' ExecStart runs)
#   /usr/local/bin/lakehouse-backup        the online backup (REPLICATION.md)
#   /etc/systemd/system/lakehouse-*.service, lakehouse-go.target
#   /etc/lakehouse/lakehouse.toml          from deploy/etc-lakehouse/lakehouse.toml.example,
#                                          only when absent (an operator's file is never replaced)
#   /etc/lakehouse/*.example               the env and secrets examples, refreshed
#   /etc/lakehouse/keys/                   chatd's <provider>.key files (ADR-060), mode 0750
#   /usr/local/lib/sysusers.d/lakehouse-go.conf  the `lakehouse` user and group (systemd-sysusers)
#   the `lakehouse` system user and group, daemon-reload
# Then: edit /etc/lakehouse/*, `systemctl enable --now lakehouse-go.target`.
#
# DESTDIR=<dir> stages everything under <dir> instead (no user, no daemon-reload);
# BIN_DIR=<dir> installs binaries already built there instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."

daemons=(gateway storaged catalogd ingestd queryd vectord embedd pathwayd matrixd observerd chatd)
dest=${DESTDIR:-}
bindir=${BIN_DIR:-}
if [ -z "$bindir" ]; then
	bindir=bin
	version=$(git describe --always --dirty 2>/dev/null || echo dev)
	go build -ldflags "-X lakehouse-go/internal/shared.Version=$version" -o bin/ ./cmd/...
fi
for d in "${daemons[@]}"; do
	[ -x "$bindir/$d" ] || { echo "install: $bindir/$d is missing (build with \`just build\`)" >&2; exit 1; }
done

install -d -m 0755 "$dest/usr/local/bin" "$dest/etc/systemd/system"
install -d -m 0750 "$dest/etc/lakehouse" "$dest/etc/lakehouse/keys"
for d in "${daemons[@]}"; do
	install -m 0755 "$bindir/$d" "$dest/usr/local/bin/lakehouse-$d"
done
# The backup command (REPLICATION.md), built here unless BIN_DIR has it.
backup_bin="$bindir/lakehouse-backup"
if [ ! -x "$backup_bin" ]; then
	backup_bin="$(mktemp -d)/lakehouse-backup"
	go build -o "$backup_bin" ./tools/backup
fi
install -m 0755 "$backup_bin" "$dest/usr/local/bin/lakehouse-backup"
install -m 0644 deploy/systemd/lakehouse-*.service deploy/systemd/lakehouse-go.target "$dest/etc/systemd/system/"
# The units' user and group (systemd-sysusers; a package built from a DESTDIR tree gets them
# made by the package manager's sysusers trigger or at boot).
install -d -m 0755 "$dest/usr/local/lib/sysusers.d"
install -m 0644 deploy/sysusers.d/lakehouse-go.conf "$dest/usr/local/lib/sysusers.d/"
# The units' Documentation= points here.
install -d -m 0755 "$dest/usr/share/doc/lakehouse-go"
install -m 0644 README.md REPLICATION.md docs/DECISIONS.md "$dest/usr/share/doc/lakehouse-go/"
for f in deploy/etc-lakehouse/*.example; do
	install -m 0640 "$f" "$dest/etc/lakehouse/"
done
if [ ! -e "$dest/etc/lakehouse/lakehouse.toml" ]; then
	install -m 0640 deploy/etc-lakehouse/lakehouse.toml.example "$dest/etc/lakehouse/lakehouse.toml"
	echo "install: wrote /etc/lakehouse/lakehouse.toml from the example"
else
	echo "install: kept the existing /etc/lakehouse/lakehouse.toml (compare with lakehouse.toml.example)"
fi

if [ -z "$dest" ]; then
	# The lakehouse user and its group, both of them even where useradd makes no group of the
	# user's name (USERGROUPS_ENAB no), and with a group of that name that already exists (on
	# which a plain `useradd` stops: "group lakehouse exists").
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers /usr/local/lib/sysusers.d/lakehouse-go.conf
	elif ! id -u lakehouse >/dev/null 2>&1; then
		getent group lakehouse >/dev/null || groupadd --system lakehouse
		useradd --system --gid lakehouse --home-dir /var/lib/lakehouse --no-create-home --shell /usr/sbin/nologin lakehouse
	fi
	# The units run as lakehouse and only read /etc/lakehouse.
	chgrp -R lakehouse /etc/lakehouse
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
	fi
fi
echo "install: done. Next: edit ${dest}/etc/lakehouse/ (env files from the .example ones), then"
echo "  systemctl enable --now lakehouse-go.target; journalctl -u 'lakehouse-*' -f"
