#!/usr/bin/env bash
# Start a two-shard ClickHouse cluster on one machine for trials and tests:
# two private servers (Debian's clickhouse-server) listening on 127.0.0.2
# and 127.0.0.3 with the same ports, both knowing the cluster `vitals_local`
# (shard 1 = 127.0.0.2, shard 2 = 127.0.0.3, one replica each, no Keeper:
# plain MergeTree local tables under Distributed tables).
#
#   deploy/clickhouse/run-local-cluster.sh DATA_DIR HTTP_PORT TCP_PORT
#
# Runs in the foreground until killed (then stops both servers). Point
# vitals at it with `[clickhouse] url = "http://127.0.0.2:HTTP_PORT"` and
# `cluster = "vitals_local"` (or `vitals migrate --cluster vitals_local`).
set -euo pipefail
dir=${1:?data dir}; http=${2:?http port}; tcp=${3:?tcp port}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cat >"$dir/remote_servers.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <remote_servers>
        <vitals_local>
            <shard><replica><host>127.0.0.2</host><port>$tcp</port></replica></shard>
            <shard><replica><host>127.0.0.3</host><port>$tcp</port></replica></shard>
        </vitals_local>
    </remote_servers>
</yandex>
XML
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM
for n in 2 3; do
  VITALS_CH_CONFIG_D="$dir/remote_servers.xml" \
    "$here/run-local.sh" "$dir/node$n" "$http" "$tcp" "127.0.0.$n" &
  pids+=("$!")
done
wait -n "${pids[@]}"
echo "a cluster node stopped" >&2
exit 1
