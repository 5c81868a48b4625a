#!/usr/bin/env bash
# Load / soak run: `vitals simulate` at a fixed rate for a fixed time against
# `vitals serve` on a private ClickHouse (loopback only), sampling the RSS of
# the collector and of ClickHouse every 5 s, then reconciling counts:
# sent = acknowledged = stored, with no duplicates.
#
#   deploy/bench/soak.sh [SECONDS] [BATCHES_PER_SEC] [EVENTS_PER_BATCH]
#     defaults: 1800 s, 275 batches/s × 100 events (≈ 50 % of the measured
#     ingest peak on the 2-core reference machine, see BENCHMARKS.md)
#
# Prints a Markdown table for docs/RELIABILITY.md (date, commit, command
# included) and exits non-zero when any event is lost or duplicated.
# Needs Debian's clickhouse-server. `.ci/run` calls a short form with the
# test build's binary (VITALS_BIN=…/debug/vitals): a reconciliation check,
# not a performance figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-1800}
rate=${2:-275}
epb=${3:-100}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vitals-target}
if [ -n "${VITALS_BIN:-}" ]; then
  bin=$VITALS_BIN
else
  cargo build --release -q
  bin="$CARGO_TARGET_DIR/release/vitals"
fi
work=$(mktemp -d /tmp/vitals-soak.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ch_http=$(port); ch_tcp=$(port)
deploy/clickhouse/run-local.sh "$work/ch" "$ch_http" "$ch_tcp" >"$work/ch.log" 2>&1 &
pids=("$!")
ok=0
# The work directory (logs, RSS samples, report, ClickHouse data) is kept
# when the run fails, and with KEEP=1.
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; if [ "$ok" = 1 ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "soak.sh: kept $work" >&2; fi; }
trap cleanup EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$ch_http/?query=SELECT%201" >/dev/null && break; sleep 1; done
chq() { curl -fsS "http://127.0.0.1:$ch_http/" --data-binary "$1"; }

dir="$work/vitals"
mkdir -p "$dir"
keyout=$("$bin" keys create --app soak --lang en --data-dir "$dir")
key_id=$(awk '/key id:/ {print $3}' <<<"$keyout")
secret=$(awk '/secret:/ {print $2}' <<<"$keyout")
listen="127.0.0.1:$(port)"
VITALS_LOG=warn "$bin" serve --lang en --listen "$listen" --data-dir "$dir" \
  --clickhouse-url "http://127.0.0.1:$ch_http" >"$dir/serve.out" 2>"$dir/serve.err" &
vpid=$!
pids+=("$vpid")
for _ in $(seq 100); do curl -fs "http://$listen/healthz" >/dev/null && break; sleep 0.1; done
ch_pid=$(pgrep -f "clickhouse.*$work/ch" | head -1 || true)

# RSS sampler: seconds since start, collector KB, ClickHouse KB, and the
# collector's live heap (jemalloc "allocated", KB; 0 when not exported).
start=$(date +%s)
( while kill -0 "$vpid" 2>/dev/null; do
    v=$(ps -o rss= -p "$vpid" 2>/dev/null | tr -d ' ')
    c=$( [ -n "$ch_pid" ] && ps -o rss= -p "$ch_pid" 2>/dev/null | tr -d ' ' || echo 0)
    h=$(curl -fs "http://$listen/metrics" 2>/dev/null | awk '/^vitals_allocator_bytes\{state="allocated"\}/ {printf "%d", $2 / 1024}')
    echo "$(( $(date +%s) - start )) ${v:-0} ${c:-0} ${h:-0}"
    sleep 5
  done ) >"$work/rss" &
pids+=("$!")

"$bin" simulate --url "http://$listen" --app soak --key-id "$key_id" --key-secret "$secret" \
  --batches 0 --duration-secs "$secs" --rate "$rate" --events-per-batch "$epb" \
  --concurrency 64 --devices 20000 --seed 7 --lang en --report "$work/report.json" \
  >"$work/simulate.out" 2>"$work/simulate.err"

stored() { curl -fs "http://$listen/metrics" | awk '/^vitals_events_stored_total/ {print $2}'; }
acked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events_accepted"])' "$work/report.json")
for _ in $(seq 1200); do [ "$(stored)" = "$acked" ] && break; sleep 0.1; done
drain_end=$(date +%s)
# Client events only (not the session rows the store derives from crashes).
rows=$(chq "SELECT count() FROM vitals.events WHERE app_id = 'soak' AND bitAnd(seq, 2147483648) = 0")
# Distinct (batch, seq) counted per batch: a set of at most a batch's
# events at a time, not one of every event (tens of millions of keys would
# pass the server's memory limit).
distinct=$(chq "SELECT sum(u) FROM (SELECT batch_id, uniqExact(seq) AS u FROM vitals.events WHERE app_id = 'soak' AND bitAnd(seq, 2147483648) = 0 GROUP BY batch_id)")

python3 - "$work/report.json" "$work/rss" "$rows" "$distinct" "$(stored)" "$secs" "$rate" "$epb" "$(git rev-parse --short HEAD)" <<'PY'
import json, statistics, sys, datetime
rep = json.load(open(sys.argv[1]))
samples = [tuple(map(int, l.split())) for l in open(sys.argv[2]) if len(l.split()) == 4]
rows, distinct, stored = int(sys.argv[3]), int(sys.argv[4]), int(float(sys.argv[5] or 0))
secs, rate, epb, commit = sys.argv[6], sys.argv[7], sys.argv[8], sys.argv[9]
sent, acked = rep["events_sent"], rep["events_accepted"]
lost = acked - distinct
dupes = rows - distinct
def mb(kb): return f"{kb/1024:.0f} MB"
def slope(col):
    # MB per 10 minutes over the second half of the run (flat memory ≈ 0).
    pts = [(t, r[col]) for r in samples for t in [r[0]] if t >= samples[-1][0] / 2] if samples else []
    if len(pts) < 3: return "n/a"
    xs, ys = [p[0] for p in pts], [p[1] / 1024 for p in pts]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1
    return f"{sum((x-mx)*(y-my) for x, y in zip(xs, ys)) / den * 600:+.1f} MB/10 min"
v = [s[1] for s in samples]; c = [s[2] for s in samples]; h = [s[3] for s in samples]
print(f"{datetime.date.today()}, commit `{commit}`, `deploy/bench/soak.sh {secs} {rate} {epb}`:\n")
print("| duration | target | sustained events/s | ack p50 / p99 / max | collector RSS start → max → end (slope, 2nd half) | collector live heap start → max → end (slope) | ClickHouse RSS start → max → end (slope) | sent | acked | stored | duplicated | lost |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
print(f"| {float(rep['elapsed_secs']):.0f} s | {rate} batches/s × {epb} | {rep['events_per_sec']:,.0f} | "
      f"{rep.get('ack_ms_p50')} / {rep.get('ack_ms_p99')} / {rep.get('ack_ms_max')} ms | "
      f"{mb(v[0]) if v else '—'} → {mb(max(v)) if v else '—'} → {mb(v[-1]) if v else '—'} ({slope(1)}) | "
      f"{mb(h[0]) if h else '—'} → {mb(max(h)) if h else '—'} → {mb(h[-1]) if h else '—'} ({slope(3)}) | "
      f"{mb(c[0]) if c else '—'} → {mb(max(c)) if c else '—'} → {mb(c[-1]) if c else '—'} ({slope(2)}) | "
      f"{sent} | {acked} | {rows} | {dupes} | {lost} |")
if lost != 0 or dupes != 0 or stored != acked:
    print(f"\nFAILED: lost={lost} duplicated={dupes} stored_metric={stored} acked={acked}", file=sys.stderr)
    sys.exit(1)
PY
ok=1
