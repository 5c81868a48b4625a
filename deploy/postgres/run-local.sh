#!/usr/bin/env bash
# Start a private PostgreSQL server (Debian's postgresql, 13 or newer) on
# loopback with a data directory of its own, for the control-plane tests
# (store/tests/control_pg.rs) and local development. Used by .ci/run.
#
#   deploy/postgres/run-local.sh DATA_DIR PORT
#
# On first use it runs initdb (trust authentication, loopback and the
# socket in DATA_DIR only) and creates the superuser role `vitals` and the
# database `vitals_test`; then it runs the server in the foreground (exec):
# put it in the background yourself. As root, the server runs as the
# `postgres` user, so DATA_DIR's parent directories must be searchable by it.
# Its process id is the server's own: stop it with SIGINT (fast shutdown:
# clients are disconnected) or SIGTERM (waits for clients to leave).
#
# Then: VITALS_TEST_POSTGRES_URL=postgres://vitals@127.0.0.1:PORT/vitals_test
#
# A throw-away test server: durability settings are off (fsync=off).
set -euo pipefail
dir=${1:?data dir}; port=${2:?port}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
  echo "PostgreSQL is not installed: apt-get install postgresql" >&2
  exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
as_pg=()   # run as the postgres user (when root): initdb, setup
exec_pg=() # the same, but exec'ing (no parent left to forward signals)
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  as_pg=(runuser -u postgres --)
  exec_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  if ! "${as_pg[@]}" test -x "$dir"; then
    echo "user postgres cannot reach $dir: make its parent directories searchable (chmod o+x)" >&2
    exit 1
  fi
fi
cd "$dir" # the server's user may not be able to enter the caller's directory
if [ ! -f "$dir/data/PG_VERSION" ]; then
  "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  # Single-user mode: the role and database exist before anyone connects.
  "${as_pg[@]}" "$bin/postgres" --single -D "$dir/data" postgres >"$dir/setup.log" 2>&1 <<SQL
CREATE ROLE vitals SUPERUSER LOGIN;
CREATE DATABASE vitals_test OWNER vitals;
SQL
  if grep -q ERROR "$dir/setup.log"; then
    cat "$dir/setup.log" >&2
    exit 1
  fi
fi
exec "${exec_pg[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c max_connections=200
