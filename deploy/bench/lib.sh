# Shared by the bench scripts (sourced): free ports, the stored-events
# counter, and one timed ingest case. Expects `bin`, `work`, `batches`,
# `epb` and the array `pids` from the caller.

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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

