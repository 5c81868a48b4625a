//! ClickHouse schema and its versioned migrations.
//!
//! Written to the intersection of ClickHouse 18.16 (Debian's package) and
//! current releases: no TTL (retention drops monthly partitions), no
//! DateTime64 (seconds plus a `ts_ms` column), no LowCardinality, no Map,
//! booleans as UInt8.

/// One migration: a version, a name and the statements it runs. Every
/// statement is idempotent (`IF NOT EXISTS`) so a run interrupted half-way
/// can simply be repeated.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

pub const LEDGER_DDL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = MergeTree ORDER BY version";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events and batch ledger",
    statements: &[
        "CREATE TABLE IF NOT EXISTS events (
    app_id String,
    batch_id String,
    seq UInt32,
    kind String,
    ts DateTime,
    ts_ms UInt16,
    received_at DateTime,
    platform String,
    version String,
    build String,
    device_model String,
    device_class String,
    os_version String,
    os_major UInt16,
    screen_w UInt16,
    screen_h UInt16,
    density Float32,
    abi String,
    rooted UInt8,
    emulator UInt8,
    net_family String,
    carrier String,
    install_id String,
    user_id String,
    user_key String,
    device_id String,
    client_ip String,
    session_id String,
    session_phase String,
    session_status String,
    duration_ms UInt64,
    foreground_ms UInt64,
    crash_id String,
    exception_type String,
    message String,
    fatal UInt8,
    handled UInt8,
    payload String,
    cpu_pct Nullable(Float64),
    memory_mb Nullable(Float64),
    package_bytes UInt64,
    category String,
    site String,
    status_code UInt16,
    req_family String,
    patch_id String,
    stage String,
    error_code String,
    name String,
    value Float64,
    fingerprint String,
    screen_class String,
    bucket_a Int16,
    bucket_b Int16,
    environment String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (app_id, kind, version, build, ts)",
        // One row per stored batch. Unpartitioned so that one INSERT into it
        // is one part: atomic.
        "CREATE TABLE IF NOT EXISTS batches (
    app_id String,
    batch_id String,
    received_at DateTime,
    events UInt32
) ENGINE = MergeTree ORDER BY (app_id, batch_id)",
    ],
}];

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}
