#!/usr/bin/env bash
# ensure-chromium.sh: print the path of a headless-capable Chromium, installing
# Debian's `chromium` package with apt when none is on PATH (as root, or with
# passwordless sudo). The console test (test/smoke TestConsoleInBrowser) loads
# the gateway's page in it; `just verify` sets LH_REQUIRE_CHROMIUM=1.
set -euo pipefail
find_browser() {
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}
if find_browser; then exit 0; fi
if [[ "$(id -u)" == 0 ]]; then
  sudo=()
elif sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "ensure-chromium: no chromium on PATH and not root: run 'apt-get install chromium'" >&2
  exit 1
fi
echo "ensure-chromium: installing chromium with apt (a few minutes)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
find_browser || { echo "ensure-chromium: apt installed chromium but it is not on PATH" >&2; exit 1; }
