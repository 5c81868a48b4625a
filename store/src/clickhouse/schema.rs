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
    /// Columns to add first, as (table, column, type and default): each is
    /// added where `system.columns` lacks it (18.16 has no `ADD COLUMN IF
    /// NOT EXISTS`), to the node's local table and, on a cluster, to its
    /// `Distributed` table.
    pub add_columns: &'static [(&'static str, &'static str, &'static str)],
    /// Statements; `{local:T}` names table `T`'s node-local table.
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
    add_columns: &[],
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
}, Migration {
    version: 2,
    name: "session identity",
    // Rows stored before keep their old meaning through the defaults (each
    // start counted, each crashed or abnormal end counted).
    add_columns: &[
        ("events", "s_new", "UInt8 DEFAULT toUInt8(kind = 'session' AND session_phase = 'start')"),
        ("events", "s_crash", "UInt8 DEFAULT toUInt8(kind = 'session' AND session_phase = 'end' AND session_status = 'crashed')"),
        ("events", "s_abn", "UInt8 DEFAULT toUInt8(kind = 'session' AND session_phase = 'end' AND session_status = 'abnormal')"),
    ],
    statements: &[
        // What is known of each session (crate::sessions): appended as
        // facts become known, read as the maximum per key. `batch_id` is
        // the batch that wrote the row, so a retried write can tell its own
        // earlier rows from everyone else's.
        "CREATE TABLE IF NOT EXISTS session_ledger (
    app_id String,
    install_id String,
    session_id String,
    counted UInt8,
    crashed UInt8,
    abnormal UInt8,
    batch_id String,
    at DateTime
) ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY (app_id, install_id, session_id)
SETTINGS index_granularity = 256",
        // The sessions already stored, node by node (reads see every shard).
        "INSERT INTO {local:session_ledger} (app_id, install_id, session_id, counted, crashed, abnormal, batch_id, at)
    SELECT app_id, install_id, session_id,
        max(toUInt8(session_phase = 'start')),
        max(toUInt8(session_phase = 'end' AND session_status = 'crashed')),
        max(toUInt8(session_phase = 'end' AND session_status = 'abnormal')),
        '', max(ts)
    FROM {local:events} WHERE kind = 'session'
    GROUP BY app_id, install_id, session_id",
    ],
}, Migration {
    version: 3,
    name: "install owners",
    add_columns: &[],
    statements: &[
        // The users each install sent, at the earliest time of each
        // (crate::owners); the earliest is the install's owner.
        "CREATE TABLE IF NOT EXISTS install_owner (
    app_id String,
    anon_key String,
    owner String,
    ts DateTime
) ENGINE = MergeTree ORDER BY (app_id, anon_key, owner)
SETTINGS index_granularity = 256",
        "INSERT INTO {local:install_owner} (app_id, anon_key, owner, ts)
    SELECT app_id, concat('i:', install_id), user_id, min(ts)
    FROM {local:events} WHERE user_id != ''
    GROUP BY app_id, install_id, user_id",
    ],
}];

/// `stmt` with every `{local:T}` replaced by `local(T)`.
pub fn with_locals(stmt: &str, local: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(stmt.len());
    let mut rest = stmt;
    while let Some(i) = rest.find("{local:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "{local:".len()..];
        let Some(j) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        out.push_str(&local(&after[..j]));
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}
