#!/usr/bin/env bash
# Ingest benchmark: end-to-end events/s from `vitals simulate` (batches of 100
# events, signed, gzip) through the collector and its spool into ClickHouse,
# against the baseline of inserting the very same rows with
# `clickhouse-client --query "INSERT … FORMAT JSONEachRow"` in the same run.
# Also reports the embedded (SQLite) backend's rate and the collector's peak RSS.
#
#   deploy/bench/ingest.sh [BATCHES]        (default 5000 batches = 500,000 events)
#
# Loopback only; bounded by the batch count. Needs Debian's clickhouse-server
# and clickhouse-client. Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
batches=${1:-5000}
epb=100
events=$((batches * epb))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vitals-target}
cargo build --release -q
bin="$CARGO_TARGET_DIR/release/vitals"
work=$(mktemp -d /tmp/vitals-bench.XXXXXX)
# shellcheck source=deploy/bench/lib.sh
. deploy/bench/lib.sh
ch_http=$(port); ch_tcp=$(port)
deploy/clickhouse/run-local.sh "$work/ch" "$ch_http" "$ch_tcp" >/dev/null 2>&1 &
ch_pid=$!
pids=("$ch_pid")
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$ch_http/?query=SELECT%201" >/dev/null && break; sleep 1; done
chq() { curl -fsS "http://127.0.0.1:$ch_http/" --data-binary "$1"; }

read -r ch_secs ch_rss ch_events < <(run_case clickhouse --clickhouse-url "http://127.0.0.1:$ch_http")
read -r sq_secs sq_rss sq_events < <(run_case sqlite)

# Baseline: the same rows, dumped from the table vitals filled, inserted by
# clickhouse-client into an identical empty table.
chq "SELECT * FROM vitals.events FORMAT JSONEachRow" >"$work/rows.json"
chq "CREATE TABLE vitals.events_baseline AS vitals.events"
rows=$(wc -l <"$work/rows.json")
bstart=$(date +%s.%N)
clickhouse-client --port "$ch_tcp" --query "INSERT INTO vitals.events_baseline FORMAT JSONEachRow" <"$work/rows.json"
bend=$(date +%s.%N)
base_secs=$(python3 -c "print(round($bend-$bstart,3))")
brows=$(chq "SELECT count() FROM vitals.events_baseline")

# Second baseline: the same rows into a freshly migrated vitals schema, so
# ClickHouse also runs the rollup views (what vitals' own inserts cost the
# server); the ratio against it is vitals' overhead alone.
VITALS_CLICKHOUSE_DATABASE=vitals_schema VITALS_LOG=warn "$bin" migrate --lang en \
  --data-dir "$work/schema" --clickhouse-url "http://127.0.0.1:$ch_http" >/dev/null
vstart=$(date +%s.%N)
clickhouse-client --port "$ch_tcp" --query "INSERT INTO vitals_schema.events FORMAT JSONEachRow" <"$work/rows.json"
vend=$(date +%s.%N)
views_secs=$(python3 -c "print(round($vend-$vstart,3))")
vrows=$(chq "SELECT count() FROM vitals_schema.events")

python3 - "$ch_events" "$ch_secs" "$ch_rss" "$sq_events" "$sq_secs" "$sq_rss" "$brows" "$base_secs" "$vrows" "$views_secs" <<'PY'
import sys
che, chs, chr_, sqe, sqs, sqr, br, bs, vr, vs = sys.argv[1:]
che, chs, sqe, sqs, br, bs, vr, vs = int(che), float(chs), int(sqe), float(sqs), int(br), float(bs), int(vr), float(vs)
ch_rate = che / chs; sq_rate = sqe / sqs; base = br / bs; views = vr / vs
print(f"| path | events | seconds | events/s | ratio to baseline (plain table) | ratio to baseline (schema with views) | peak collector RSS |")
print(f"|---|---|---|---|---|---|---|")
print(f"| baseline: clickhouse-client JSONEachRow INSERT of the same rows into a plain `events` table | {br} | {bs:.2f} | {base:,.0f} | 1.00 | — | — |")
print(f"| baseline: the same into a migrated vitals schema (rollup views run) | {vr} | {vs:.2f} | {views:,.0f} | {views/base:.2f} | 1.00 | — |")
print(f"| vitals simulate → collector → spool → ClickHouse | {che} | {chs:.2f} | {ch_rate:,.0f} | {ch_rate/base:.2f} | {ch_rate/views:.2f} | {int(chr_)/1024:.0f} MB |")
print(f"| vitals simulate → collector → spool → embedded SQLite | {sqe} | {sqs:.2f} | {sq_rate:,.0f} | {sq_rate/base:.2f} | — | {int(sqr)/1024:.0f} MB |")
PY
