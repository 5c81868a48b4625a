#!/usr/bin/env bash
# CI for the JavaScript SDK (called by .ci/run): clean install from the lock
# file, type-check and build, unit tests, the 15 KB size budget, then the
# end-to-end test against the real `vitals` binary. Exits non-zero on any
# failure. Under CI=true a missing binary fails the end-to-end test.
set -euo pipefail
cd "$(dirname "$0")"
sdk=$(pwd)
repo=$(cd ../.. && pwd)

log() { printf '\n=== sdk/js: %s ===\n' "$*"; }

need_major=20
have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have" -lt "$need_major" ]; then
  echo "Node.js >= $need_major is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

log "install (npm ci)"
npm ci --no-audit --no-fund

log "build (tsc --strict type-check, esbuild bundles)"
npm run build

log "unit tests"
npm test

log "size budget"
npm run size

log "end-to-end"
if [ -z "${VITALS_BIN:-}" ]; then
  for candidate in "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/debug/vitals}" "$repo/target/debug/vitals"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then VITALS_BIN=$candidate; break; fi
  done
fi
if [ -z "${VITALS_BIN:-}" ] && command -v cargo >/dev/null 2>&1; then
  (cd "$repo" && cargo build --bin vitals)
  VITALS_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/vitals"
fi
if [ -n "${VITALS_BIN:-}" ]; then
  export VITALS_BIN
  echo "vitals binary: $VITALS_BIN"
fi
cd "$sdk"
npm run test:e2e
