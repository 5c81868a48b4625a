#!/usr/bin/env bash
# Browser tests of the dashboard (called by .ci/run): installs Debian's
# chromium (and a CJK font for readable screenshots) when missing, `npm ci`,
# builds the vitals binary if needed, runs the tests. Fails on any failure;
# under CI=true a missing browser or binary is a failure, not a skip.
# Screenshots land in tests/artifacts/*.png.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
repo=$(cd ../../.. && pwd)

log() { printf '\n=== web/tests/browser: %s ===\n' "$*"; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then return 1; fi
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

log "browser"
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium || { echo "cannot install chromium (not root?)" >&2; [ "${CI:-}" = true ] && exit 1; }
fi
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null | head -1)" ]; then
  apt_install fonts-wqy-microhei || echo "no CJK font: Chinese text in screenshots may show as boxes" >&2
fi
/usr/bin/chromium --version 2>/dev/null || true

log "install (npm ci)"
npm ci --no-audit --no-fund

log "vitals binary"
if [ -z "${VITALS_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin vitals)
  VITALS_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/vitals"
fi
export VITALS_BIN
echo "vitals binary: $VITALS_BIN"

log "tests"
cd "$here"
npm test
echo "screenshots: $repo/tests/artifacts/"
