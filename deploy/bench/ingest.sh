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
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ch_http=$(port); ch_tcp=$(port)
deploy/clickhouse/run-local.sh "$work/ch" "$ch_http" "$ch_tcp" >/dev/null 2>&1 &
ch_pid=$!
pids=("$ch_pid")
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$ch_http/?query=SELECT%201" >/dev/null && break; sleep 1; done
chq() { curl -fsS "http://127.0.0.1:$ch_http/" --data-binary "$1"; }

stored() { curl -fs "http://$1/metrics" | awk '/^vitals_events_stored_total/ {print $2}'; }

# run_case NAME [extra serve args…] → prints "seconds peak_rss_kb"
run_case() {
  local name=$1; shift
  local dir="$work/$name"
  mkdir -p "$dir"
  local keyout; keyout=$("$bin" keys create --app bench --lang en --data-dir "$dir")
  local key_id; key_id=$(awk '/key id:/ {print $3}' <<<"$keyout")
  local secret; secret=$(awk '/secret:/ {print $2}' <<<"$keyout")
  local listen="127.0.0.1:$(port)"
  VITALS_LOG=warn "$bin" serve --lang en --listen "$listen" --data-dir "$dir" "$@" >"$dir/serve.out" 2>"$dir/serve.err" &
  local vpid=$!
  pids+=("$vpid")
  for _ in $(seq 100); do curl -fs "http://$listen/healthz" >/dev/null && break; sleep 0.1; done
  local peak=0
  ( while kill -0 "$vpid" 2>/dev/null; do ps -o rss= -p "$vpid" 2>/dev/null; sleep 0.2; done ) >"$dir/rss" &
  local start; start=$(date +%s.%N)
  "$bin" simulate --url "http://$listen" --app bench --key-id "$key_id" --key-secret "$secret" \
    --batches "$batches" --events-per-batch "$epb" --concurrency 32 --devices 5000 --seed 42 \
    --lang en --report "$dir/report.json" >"$dir/simulate.out" 2>"$dir/simulate.err"
  local acked; acked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events_accepted"])' "$dir/report.json")
  while [ "$(stored "$listen")" != "$acked" ]; do sleep 0.05; done
  local end; end=$(date +%s.%N)
  kill "$vpid"; wait "$vpid" 2>/dev/null || true
  peak=$(sort -n "$dir/rss" | tail -1)
  echo "$(python3 -c "print(round($end-$start,3))") $peak $acked"
}

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

python3 - "$ch_events" "$ch_secs" "$ch_rss" "$sq_events" "$sq_secs" "$sq_rss" "$brows" "$base_secs" "$rows" <<'PY'
import sys
che, chs, chr_, sqe, sqs, sqr, br, bs, rows = sys.argv[1:]
che, chs, sqe, sqs, br, bs = int(che), float(chs), int(sqe), float(sqs), int(br), float(bs)
ch_rate = che / chs; sq_rate = sqe / sqs; base = br / bs
print(f"| path | events | seconds | events/s | ratio to baseline | peak collector RSS |")
print(f"|---|---|---|---|---|---|")
print(f"| baseline: clickhouse-client JSONEachRow INSERT of the same rows | {br} | {bs:.2f} | {base:,.0f} | 1.00 | — |")
print(f"| vitals simulate → collector → spool → ClickHouse | {che} | {chs:.2f} | {ch_rate:,.0f} | {ch_rate/base:.2f} | {int(chr_)/1024:.0f} MB |")
print(f"| vitals simulate → collector → spool → embedded SQLite | {sqe} | {sqs:.2f} | {sq_rate:,.0f} | {sq_rate/base:.2f} | {int(sqr)/1024:.0f} MB |")
PY
