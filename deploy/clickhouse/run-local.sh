#!/usr/bin/env bash
# Start a private ClickHouse server (Debian's clickhouse-server, 18.16 or newer)
# on loopback with a data directory of its own. Used by .ci/run and by the
# end-to-end tests; handy for local development too.
#
#   deploy/clickhouse/run-local.sh DATA_DIR HTTP_PORT TCP_PORT [LISTEN_HOST]
#
# Files named in VITALS_CH_CONFIG_D (space-separated) are copied into the
# server's config.d/ (e.g. a <remote_servers> fragment for a cluster).
#
# Runs in the foreground (exec); put it in the background yourself.
set -euo pipefail
dir=${1:?data dir}; http=${2:?http port}; tcp=${3:?tcp port}; host=${4:-127.0.0.1}
mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
dir=$(cd "$dir" && pwd)
cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/error.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <listen_host>$host</listen_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.0/8</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
mkdir -p "$dir/config.d"
for f in ${VITALS_CH_CONFIG_D:-}; do cp "$f" "$dir/config.d/"; done
bin=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
exec "$bin" --config-file="$dir/config.xml"
