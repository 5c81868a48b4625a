#!/usr/bin/env bash
# One ClickHouse node against a two-shard cluster (deploy/clickhouse/
# run-local-cluster.sh, both shards on this machine): the same ingest
# (`vitals simulate` → collector → spool → ClickHouse) and the same release
# gate, timed on each; plus bytes per event on disk and peak memory, the
# figures docs/CAPACITY.md is built from.
#
#   deploy/bench/shards.sh [BATCHES] [GATE_RUNS]   (defaults 5000 × 100 events, 5 gate runs)
#
# Both shards share this machine's cores and disk, so the cluster column
# shows the cost of distribution (the Distributed hop, two servers' merges),
# not the gain of a second machine. Loopback only. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/../.."
batches=${1:-5000}
runs=${2:-5}
epb=100
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vitals-target}
if [ -n "${VITALS_BIN:-}" ]; then bin=$VITALS_BIN; else cargo build --release -q; bin="$CARGO_TARGET_DIR/release/vitals"; fi
work=$(mktemp -d /tmp/vitals-shards.XXXXXX)
# shellcheck source=deploy/bench/lib.sh
. deploy/bench/lib.sh
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
one_http=$(port); one_tcp=$(port); cl_http=$(port); cl_tcp=$(port)
deploy/clickhouse/run-local.sh "$work/one" "$one_http" "$one_tcp" >/dev/null 2>&1 &
pids+=("$!")
deploy/clickhouse/run-local-cluster.sh "$work/cluster" "$cl_http" "$cl_tcp" >/dev/null 2>&1 &
pids+=("$!")
for u in "127.0.0.1:$one_http" "127.0.0.2:$cl_http" "127.0.0.3:$cl_http"; do
  for _ in $(seq 60); do curl -fs "http://$u/?query=SELECT%201" >/dev/null && break; sleep 1; done
done
q() { curl -fsS "http://$1/" --data-binary "$2"; }

read -r one_secs one_rss one_events < <(run_case one --clickhouse-url "http://127.0.0.1:$one_http")
read -r cl_secs cl_rss cl_events < <(VITALS_CLICKHOUSE_CLUSTER=vitals_local run_case cluster --clickhouse-url "http://127.0.0.2:$cl_http")

# Settle: merge what the inserts left, so disk and query figures are the
# steady state.
q "127.0.0.1:$one_http" "OPTIMIZE TABLE vitals.events FINAL"
for h in 2 3; do q "127.0.0.$h:$cl_http" "OPTIMIZE TABLE vitals.events_local FINAL"; done
disk() { # host table → compressed bytes of active parts
  q "$1" "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = 'vitals' AND table = '$2' AND active"
}
one_bytes=$(disk "127.0.0.1:$one_http" events)
one_all=$(q "127.0.0.1:$one_http" "SELECT sum(bytes) FROM system.parts WHERE database = 'vitals' AND active")
ch_rss=$(ps -o rss= -C clickhouse-server | sort -n | tail -1)
cl_bytes=$(( $(disk "127.0.0.2:$cl_http" events_local) + $(disk "127.0.0.3:$cl_http" events_local) ))
shard1=$(q "127.0.0.2:$cl_http" "SELECT count() FROM vitals.events_local")
shard2=$(q "127.0.0.3:$cl_http" "SELECT count() FROM vitals.events_local")
release=$(q "127.0.0.1:$one_http" "SELECT version FROM vitals.events WHERE kind = 'session' GROUP BY version ORDER BY count() DESC LIMIT 1")

# The very rows the one node holds, copied into a second database on the
# cluster (through its Distributed table), so the gate reads identical data.
VITALS_CLICKHOUSE_DATABASE=vitals_same VITALS_CLICKHOUSE_CLUSTER=vitals_local VITALS_LOG=warn \
  "$bin" migrate --lang en --data-dir "$work/cluster" --clickhouse-url "http://127.0.0.2:$cl_http" >/dev/null
curl -fsS "http://127.0.0.2:$cl_http/?insert_distributed_sync=1" --data-binary \
  "INSERT INTO vitals_same.events SELECT * FROM remote('127.0.0.1:$one_tcp', vitals.events)"
copied=$(q "127.0.0.2:$cl_http" "SELECT count() FROM vitals_same.events")
[ "$copied" = "$one_events" ] || { echo "copied $copied of $one_events rows" >&2; exit 1; }

# The gate (full analyzer evaluation) for the busiest release, `runs` times
# each, alternating, on the same rows; the median is reported.
gate_times() { # name url [env…]
  local name=$1 url=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  env "$@" "$bin" gate --lang en --data-dir "$work/one" --clickhouse-url "$url" --app bench --release "$release" --format json >"$work/gate-$name.json" 2>/dev/null || true
  t1=$(date +%s.%N)
  python3 -c "print(round($t1-$t0,3))"
}
one_gate=(); cl_gate=()
for _ in $(seq "$runs"); do
  one_gate+=("$(gate_times one "http://127.0.0.1:$one_http")")
  cl_gate+=("$(gate_times cluster "http://127.0.0.2:$cl_http" VITALS_CLICKHOUSE_CLUSTER=vitals_local VITALS_CLICKHOUSE_DATABASE=vitals_same)")
done
# Same rows: verdicts, samples and values must agree; values to 1e-9
# relative (a float sum's last bits depend on the order the shards'
# partial sums merge in).
same=$(python3 - "$work/gate-one.json" "$work/gate-cluster.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def close(x, y):
    if x is None or y is None:
        return x is y
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1.0)
ok = a["decision"] == b["decision"] and len(a["results"]) == len(b["results"]) and all(
    r["id"] == s["id"] and r["verdict"] == s["verdict"] and r.get("sample") == s.get("sample")
    and close(r.get("value"), s.get("value"))
    for r, s in zip(a["results"], b["results"]))
print("identical" if ok else "DIFFERENT")
PY
)

python3 - "$one_events" "$one_secs" "$one_rss" "$cl_events" "$cl_secs" "$cl_rss" "$one_bytes" "$cl_bytes" "$shard1" "$shard2" "$release" "$same" "${one_gate[*]}" "${cl_gate[*]}" "$one_all" "$ch_rss" <<'PY'
import statistics, sys
(oe, os_, orss, ce, cs, crss, ob, cb, s1, s2, rel, same, og, cg, oall, chrss) = sys.argv[1:]
oe, ce, s1, s2 = int(oe), int(ce), int(s1), int(s2)
os_, cs, ob, cb = float(os_), float(cs), int(ob), int(cb)
og = statistics.median(float(x) for x in og.split()); cg = statistics.median(float(x) for x in cg.split())
print("| | one node | two shards (same machine) | ratio two/one |")
print("|---|---|---|---|")
print(f"| events ingested (simulate → collector → ClickHouse) | {oe:,} | {ce:,} (shard 1: {s1:,}, shard 2: {s2:,}) | |")
print(f"| ingest events/s | {oe/os_:,.0f} | {ce/cs:,.0f} | {(ce/cs)/(oe/os_):.2f} |")
print(f"| bytes per event on disk (`events`, compressed, merged) | {ob/oe:.1f} | {cb/ce:.1f} | {(cb/ce)/(ob/oe):.2f} |")
print(f"| bytes per event on disk, whole database (events, ledger, rollups) | {int(oall)/oe:.1f} | | |")
print(f"| peak collector RSS | {int(orss)/1024:.0f} MB | {int(crss)/1024:.0f} MB | |")
print(f"| largest ClickHouse server RSS at the end | {int(chrss)/1024:.0f} MB | | |")
print(f"| `vitals gate` for release {rel}, median wall time (incl. process start) | {og:.3f} s | {cg:.3f} s | {cg/og:.2f} |")
print(f"| gate verdicts on both | {same} | | |")
PY
[ "$same" = identical ]
