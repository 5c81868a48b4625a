#!/usr/bin/env bash
# Fault-injection runs (issue #9, docs/RELIABILITY.md): the long forms of the
# fault tests in tests/, against the real binary and real ClickHouse servers.
#
#   deploy/bench/faults.sh [long|short]
#     long (default): kill -9 × 20, ClickHouse outage × 5 cycles of 30 s,
#       120 s of throttled store, 5 spool fill/drain cycles (cap and ENOSPC),
#       5 spool corruption rounds, 30 batches per clock-skew case
#     short: the CI forms (the tests' defaults)
#   Any VITALS_FAULT_* variable set in the environment wins.
#
# Every test prints `FAULT <scenario> acked=… stored=… duplicated=… lost=…
# (…)`; this script collects those lines into a Markdown table for
# docs/RELIABILITY.md (date, commit, command included) and exits non-zero
# when a test fails or any event is lost or duplicated.
# Needs Debian's clickhouse-server; uses $VITALS_TEST_CLICKHOUSE_URL when set,
# else starts a private server on loopback. The ENOSPC case mounts a tmpfs
# (root); without that right it reports itself skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
form=${1:-long}
case "$form" in
  long)
    export VITALS_FAULT_KILLS=${VITALS_FAULT_KILLS:-20}
    export VITALS_FAULT_CH_CYCLES=${VITALS_FAULT_CH_CYCLES:-5}
    export VITALS_FAULT_CH_DOWN_SECS=${VITALS_FAULT_CH_DOWN_SECS:-30}
    export VITALS_FAULT_SLOW_SECS=${VITALS_FAULT_SLOW_SECS:-120}
    export VITALS_FAULT_SPOOL_CYCLES=${VITALS_FAULT_SPOOL_CYCLES:-5}
    export VITALS_FAULT_CORRUPT_ROUNDS=${VITALS_FAULT_CORRUPT_ROUNDS:-5}
    export VITALS_FAULT_SKEW_BATCHES=${VITALS_FAULT_SKEW_BATCHES:-30}
    ;;
  short) ;;
  *) echo "usage: $0 [long|short]" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vitals-target}
tests=(fault_kill fault_clickhouse faults)
test_args=()
for t in "${tests[@]}"; do test_args+=(--test "$t"); done
cargo test --release -q --no-run "${test_args[@]}"

work=$(mktemp -d /tmp/vitals-faults.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
if [ -z "${VITALS_TEST_CLICKHOUSE_URL:-}" ] || ! curl -fs "$VITALS_TEST_CLICKHOUSE_URL/ping" >/dev/null; then
  port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  ch_http=$(port); ch_tcp=$(port)
  deploy/clickhouse/run-local.sh "$work/ch" "$ch_http" "$ch_tcp" >"$work/ch.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 60); do curl -fs "http://127.0.0.1:$ch_http/ping" >/dev/null && break; sleep 1; done
  export VITALS_TEST_CLICKHOUSE_URL="http://127.0.0.1:$ch_http"
fi

: >"$work/faults"
settings=$(env | grep '^VITALS_FAULT_' | sort | tr '\n' ' ' || true)
failed=0
for t in "${tests[@]}"; do
  echo "== $t ${settings}" >&2
  start=$(date +%s)
  if ! cargo test --release -q --test "$t" -- --nocapture --test-threads=1 >"$work/$t.log" 2>&1; then
    failed=1
    echo "FAILED: $t (log below)" >&2
    tail -60 "$work/$t.log" >&2
  fi
  echo "   $(( $(date +%s) - start )) s" >&2
  # libtest may print `test name ... ` on the same line first.
  grep -ho 'FAULT [a-z0-9_]* .*' "$work/$t.log" >>"$work/faults" || true
done

python3 - "$work/faults" "$(git rev-parse --short HEAD)" "deploy/bench/faults.sh $form" "$settings" <<'PY'
import datetime, re, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1])] if sys.argv[1] else []
commit, command, settings = sys.argv[2], sys.argv[3], sys.argv[4].strip()
print(f"{datetime.date.today()}, commit `{commit}`, `{command}`" + (f" ({settings})" if settings else "") + ":\n")
print("| scenario | acked | stored | duplicated | lost | details |")
print("|---|---|---|---|---|---|")
bad = False
for l in lines:
    m = re.match(r"FAULT (\S+) acked=(\d+) stored=(\d+) duplicated=(\d+) lost=(\d+) \((.*)\)$", l)
    if m:
        s, a, st, d, lo, extra = m.groups()
        bad |= d != "0" or lo != "0"
        print(f"| {s} | {a} | {st} | {d} | {lo} | {extra} |")
        continue
    m = re.match(r"FAULT (\S+) skipped \((.*)\)$", l)
    if m:
        print(f"| {m.group(1)} | — | — | — | — | skipped: {m.group(2)} |")
if bad:
    print("\nFAILED: events lost or duplicated", file=sys.stderr)
    sys.exit(1)
PY
exit "$failed"
