//! How each backend keeps the rollups ([`crate::rollup`]): one description
//! per rollup *feed* (which rows, which key, which counters), rendered as
//! ClickHouse materialized views + backfill + erasure deltas, and as SQLite
//! triggers + backfill. Days are local days in the time zone the rollups
//! were (re)built with; changing the zone rebuilds them.

use crate::clickhouse::Layout;
use crate::query::{Dialect, lit};

/// Version of the rollup layout; a store whose rollups carry another
/// version reads raw rows until `migrate` rebuilds them.
pub(crate) const ROLLUP_VERSION: u32 = 6;

/// What the settings table records for rollups built in `tz`.
pub(crate) fn stamp(tz: &str) -> String {
    format!("v{ROLLUP_VERSION} {tz}")
}

/// The zone of a stamp written by this version, else `None`.
pub(crate) fn zone_of(stamp: &str) -> Option<String> {
    let (v, tz) = stamp.split_once(' ')?;
    (v == format!("v{ROLLUP_VERSION}") && !tz.is_empty()).then(|| tz.to_string())
}

/// One source of rows for a rollup table.
struct Feed {
    table: &'static str,
    /// Which `events` rows feed it (`$` stands for the row).
    when: &'static str,
    /// Key columns and their expressions over the row.
    keys: &'static [(&'static str, &'static str)],
    /// Counter columns and the per-row value added.
    values: &'static [(&'static str, &'static str)],
    /// Earliest / latest row time (first and last seen). Kept through
    /// erasure: a release's first-seen time is not personal data.
    extremes: &'static [(&'static str, Ext)],
    /// Whether ClickHouse keeps it too. The per-user-per-day table is
    /// SQLite's only: on ClickHouse its view cost a third of the insert
    /// time, charts read the day sketches instead, and exact daily users
    /// (the time-series API) are counted from raw rows.
    clickhouse: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ext {
    Min,
    Max,
}

const NO_EXTREMES: &[(&str, Ext)] = &[];

impl Feed {
    /// Key columns' names.
    fn key_names(&self) -> Vec<&'static str> {
        self.keys.iter().map(|(c, _)| *c).collect()
    }

    /// Every column's name: keys, counters, extremes.
    fn columns(&self) -> Vec<&'static str> {
        self.keys
            .iter()
            .chain(self.values)
            .map(|(c, _)| *c)
            .chain(self.extremes.iter().map(|(c, _)| *c))
            .collect()
    }
}

const UNTRUSTED: &str = "($rooted != 0 OR $emulator != 0)";
const DAY: &str = "@day";

const FEEDS: &[Feed] = &[
    Feed {
        table: "rollup_sessions",
        when: "$kind = 'session'",
        keys: &[
            ("app_id", "$app_id"),
            ("version", "$version"),
            ("build", "$build"),
            ("environment", "$environment"),
            ("untrusted", UNTRUSTED),
            ("day", DAY),
            ("platform", "$platform"),
            ("device_class", "$device_class"),
            ("os_major", "$os_major"),
            ("screen_class", "$screen_class"),
            ("net_family", "$net_family"),
            ("device_model", "$device_model"),
        ],
        values: &[
            ("n", "1"),
            // Session identity flags (crate::sessions): each session, its
            // crash and its abnormal end count once.
            ("starts", "$s_new"),
            ("crashed", "$s_crash"),
            ("abnormal", "$s_abn"),
        ],
        extremes: &[("first_ts", Ext::Min), ("last_ts", Ext::Max)],
        clickhouse: true,
    },
    Feed {
        table: "rollup_users",
        when: "1 = 1",
        keys: USER_KEYS,
        values: USER_VALUES,
        extremes: NO_EXTREMES,
        clickhouse: true,
    },
    Feed {
        table: "rollup_users_daily",
        when: "1 = 1",
        keys: &[
            ("app_id", "$app_id"),
            ("version", "$version"),
            ("build", "$build"),
            ("environment", "$environment"),
            ("untrusted", UNTRUSTED),
            ("day", DAY),
            ("user_key", "$user_key"),
        ],
        values: USER_VALUES,
        extremes: NO_EXTREMES,
        clickhouse: false,
    },
    Feed {
        table: "rollup_samples",
        when: "($kind IN ('cold_start', 'network') OR ($kind = 'perf' AND $cpu_pct IS NOT NULL))",
        keys: &[
            ("app_id", "$app_id"),
            ("version", "$version"),
            ("build", "$build"),
            ("environment", "$environment"),
            ("untrusted", UNTRUSTED),
            ("kind", "$kind"),
            ("metric", "0"),
            (
                "model",
                "(CASE WHEN $kind = 'cold_start' THEN $device_model ELSE '' END)",
            ),
            ("category", "$category"),
            ("site", "$site"),
            ("req_family", "$req_family"),
            ("flag", FLAG),
            ("bucket", "$bucket_a"),
        ],
        values: &[
            ("n", "1"),
            (
                "total",
                "(CASE WHEN $kind = 'perf' THEN $cpu_pct ELSE CAST($duration_ms AS Float64) END)",
            ),
            (
                "total_sq",
                "(CASE WHEN $kind = 'perf' THEN $cpu_pct * $cpu_pct ELSE CAST($duration_ms AS Float64) * CAST($duration_ms AS Float64) END)",
            ),
            ("aux", "$value"),
        ],
        extremes: NO_EXTREMES,
        clickhouse: true,
    },
    Feed {
        table: "rollup_samples",
        when: "($kind = 'perf' AND $memory_mb IS NOT NULL)",
        keys: &[
            ("app_id", "$app_id"),
            ("version", "$version"),
            ("build", "$build"),
            ("environment", "$environment"),
            ("untrusted", UNTRUSTED),
            ("kind", "$kind"),
            ("metric", "1"),
            ("model", "''"),
            ("category", "$category"),
            ("site", "$site"),
            ("req_family", "$req_family"),
            ("flag", "0"),
            ("bucket", "$bucket_b"),
        ],
        values: &[
            ("n", "1"),
            ("total", "$memory_mb"),
            ("total_sq", "$memory_mb * $memory_mb"),
            ("aux", "0"),
        ],
        extremes: NO_EXTREMES,
        clickhouse: true,
    },
];

/// A sample's flag: on a network request, that it failed (transport error
/// or timeout, status 0, or a 5xx: `Cond::RequestFailed`); on a cold start,
/// that it reported a breakdown (`Cond::ColdStartWithSpans`, whose
/// third-party SDK time is the row's `value`, summed as `aux`).
const FLAG: &str = "(CASE WHEN $kind = 'network' AND ($status_code = 0 OR $status_code >= 500) THEN 1 WHEN $kind = 'cold_start' AND $name = 'spans' THEN 1 ELSE 0 END)";

const USER_KEYS: &[(&str, &str)] = &[
    ("app_id", "$app_id"),
    ("version", "$version"),
    ("build", "$build"),
    ("environment", "$environment"),
    ("untrusted", UNTRUSTED),
    ("user_key", "$user_key"),
];

const USER_VALUES: &[(&str, &str)] = &[
    ("n", "1"),
    ("active", "($kind IN ('session', 'crash'))"),
    // A user crashed when a fatal crash event is theirs or one of their
    // sessions crashed (either signal; crate::sessions).
    (
        "fatals",
        "(($kind = 'crash' AND $fatal = 1) OR $s_crash = 1)",
    ),
];

/// Column types for ClickHouse (SQLite takes them untyped).
fn ch_type(col: &str) -> &'static str {
    match col {
        "untrusted" | "metric" | "flag" => "UInt8",
        "day" => "Date",
        "os_major" => "UInt16",
        "bucket" => "Int16",
        "total" | "total_sq" | "aux" => "Float64",
        "n" | "starts" | "crashed" | "abnormal" | "active" | "fatals" => "Int64",
        _ => "String",
    }
}

/// The rollup tables' names, each once.
pub(crate) fn tables() -> Vec<&'static str> {
    let mut t: Vec<&str> = FEEDS.iter().map(|f| f.table).collect();
    t.dedup();
    t
}

/// The feeds ClickHouse keeps, with their view numbers.
fn ch_feeds() -> impl Iterator<Item = (usize, &'static Feed)> {
    FEEDS.iter().enumerate().filter(|(_, f)| f.clickhouse)
}

/// The rollup tables ClickHouse keeps, each once.
fn ch_tables() -> Vec<&'static str> {
    let mut t: Vec<&str> = ch_feeds().map(|(_, f)| f.table).collect();
    t.dedup();
    t
}

/// Views and triggers are numbered by feed; a rebuild drops this many so
/// that ones left by an older layout with more feeds go too.
const MAX_FEEDS: usize = 16;

/// Tables an older layout kept on ClickHouse and this one does not.
const CH_RETIRED: &[&str] = &["rollup_users_daily"];

fn expr(d: Dialect, e: &str, row: &str, tz: &str) -> String {
    let day = match d {
        Dialect::ClickHouse => format!("toDate({row}ts, {})", lit(d, tz)),
        Dialect::Sqlite => format!("vitals_day({row}ts, {})", lit(d, tz)),
    };
    e.replace(DAY, &day).replace('$', row)
}

// ---------------------------------------------------------------- ClickHouse

fn ext_name(x: Ext) -> &'static str {
    match x {
        Ext::Min => "min",
        Ext::Max => "max",
    }
}

/// `CREATE TABLE` for each rollup table.
fn ch_create(table: &str) -> String {
    let feed = FEEDS
        .iter()
        .find(|f| f.table == table)
        .expect("known table");
    let cols: Vec<String> = feed
        .keys
        .iter()
        .chain(feed.values)
        .map(|(c, _)| format!("{c} {}", ch_type(c)))
        .chain(feed.extremes.iter().map(|(c, x)| {
            // An aggregate-function column: SummingMergeTree merges its
            // states (min with min) instead of summing.
            format!("{c} AggregateFunction({}, DateTime)", ext_name(*x))
        }))
        .collect();
    let keys = feed.key_names();
    let partition = if keys.contains(&"day") {
        "PARTITION BY toYYYYMM(day) "
    } else {
        ""
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} ({}) ENGINE = SummingMergeTree() {partition}ORDER BY ({})",
        cols.join(", "),
        keys.join(", ")
    )
}

/// The aggregating SELECT of one feed over `events` (`negate` gives the
/// deltas that take rows out again). Output names never shadow an `events`
/// column with a different expression (ClickHouse would see a cyclic
/// alias), and a subquery is avoided because 18.16's views mishandle them.
fn ch_select(feed: &Feed, tz: &str, negate: bool, extra_where: &str, source: &str) -> String {
    let d = Dialect::ClickHouse;
    let cols: Vec<String> = feed
        .keys
        .iter()
        .map(|(c, e)| {
            let e = expr(d, e, "", tz);
            if e == *c { e } else { format!("{e} AS {c}") }
        })
        .chain(feed.values.iter().map(|(c, e)| {
            let e = expr(d, e, "", tz);
            let sum = if ch_type(c) == "Float64" {
                format!("sum(toFloat64(ifNull({e}, 0)))")
            } else {
                format!("toInt64(sum(ifNull({e}, 0)))")
            };
            let sign = if negate { "-" } else { "" };
            format!("{sign}{sum} AS {c}")
        }))
        .chain(
            feed.extremes
                .iter()
                .map(|(c, x)| format!("{}State(ts) AS {c}", ext_name(*x))),
        )
        .collect();
    let when = expr(d, feed.when, "", tz);
    format!(
        "SELECT {} FROM {source} WHERE {when}{extra_where} GROUP BY {}",
        cols.join(", "),
        group_keys(feed).join(", ")
    )
}

/// Key columns that vary (constants are not grouped by: SQLite would read
/// a number as a column position).
fn group_keys(feed: &Feed) -> Vec<&'static str> {
    feed.keys
        .iter()
        .filter(|(_, e)| e.contains('$') || e.contains(DAY))
        .map(|(c, _)| *c)
        .collect()
}

/// The statements that (re)build every rollup for time zone `tz`, by
/// where they run: views dropped and tables created on every node, tables
/// emptied on one replica per shard, views created on every node, then the
/// rows already stored aggregated in per shard (each shard's rows feed its
/// own local rollups). Run before ingestion starts (migrations do), so no
/// insert falls between the view and the backfill. On one node all four
/// run there, in this order.
pub(crate) struct ChRebuild {
    pub tables: Vec<String>,
    pub truncate: Vec<String>,
    pub views: Vec<String>,
    pub backfill: Vec<String>,
}

pub(crate) fn clickhouse_rebuild(tz: &str, layout: &Layout) -> ChRebuild {
    let events = layout.local("events");
    let mut r = ChRebuild {
        tables: Vec::new(),
        truncate: Vec::new(),
        views: Vec::new(),
        backfill: Vec::new(),
    };
    for i in 0..MAX_FEEDS {
        r.tables.push(format!("DROP TABLE IF EXISTS rollup_mv_{i}"));
    }
    r.tables
        .push("DROP TABLE IF EXISTS rollup_mv_sketch".into());
    for t in CH_RETIRED {
        r.tables.push(format!("DROP TABLE IF EXISTS {t}"));
        if layout.is_cluster() {
            r.tables.push(format!("DROP TABLE IF EXISTS {t}_local"));
        }
    }
    for t in ch_tables() {
        r.tables.extend(layout.create(&ch_create(t)));
        r.truncate
            .push(format!("TRUNCATE TABLE {}", layout.local(t)));
    }
    r.tables.extend(layout.create(SKETCH_DDL));
    r.truncate.push(format!(
        "TRUNCATE TABLE {}",
        layout.local("rollup_user_sketch")
    ));
    for (i, f) in ch_feeds() {
        let select = ch_select(f, tz, false, "", &events);
        r.views.push(format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_mv_{i} TO {} AS {select}",
            layout.local(f.table),
        ));
        r.backfill
            .push(format!("INSERT INTO {} {select}", layout.local(f.table)));
    }
    let sketch = layout.local("rollup_user_sketch");
    r.views.push(format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_mv_sketch TO {sketch} AS {}",
        sketch_select(tz, &events)
    ));
    r.backfill.push(format!(
        "INSERT INTO {sketch} {}",
        sketch_select(tz, &events)
    ));
    r
}

/// Per-day distinct-user sketches for charts (ClickHouse only): a handful
/// of rows per release, so a daily-users chart never counts user by user.
/// An erased user stays inside a sketch (it holds hashes, not ids); charts
/// only, never verdicts.
const SKETCH_DDL: &str = "CREATE TABLE IF NOT EXISTS rollup_user_sketch (
    app_id String, version String, build String, environment String, untrusted UInt8, day Date,
    n Int64, active Int64,
    users AggregateFunction(uniqCombined, String),
    active_users AggregateFunction(uniqCombinedIf, String, UInt8),
    fatal_users AggregateFunction(uniqCombinedIf, String, UInt8)
) ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(day)
ORDER BY (app_id, version, build, environment, untrusted, day)";

fn sketch_select(tz: &str, source: &str) -> String {
    format!(
        "SELECT app_id, version, build, environment, toUInt8(rooted != 0 OR emulator != 0) AS untrusted,
            toDate(ts, {tz}) AS day, toInt64(count()) AS n,
            toInt64(countIf(kind IN ('session', 'crash'))) AS active,
            uniqCombinedState(user_key) AS users,
            uniqCombinedIfState(user_key, toUInt8(kind IN ('session', 'crash'))) AS active_users,
            uniqCombinedIfState(user_key, toUInt8((kind = 'crash' AND fatal = 1) OR s_crash = 1)) AS fatal_users
         FROM {source} GROUP BY app_id, version, build, environment, untrusted, day",
        tz = lit(Dialect::ClickHouse, tz)
    )
}

/// Statements that take one user's rows out of the counting rollups before
/// the rows themselves are deleted (the per-user tables are deleted from
/// by key instead, see [`clickhouse_user_tables`]).
pub(crate) fn clickhouse_erase_deltas(tz: &str, app_id: &str, user_id: &str) -> Vec<String> {
    let d = Dialect::ClickHouse;
    let extra = format!(
        " AND app_id = {} AND user_id = {}",
        lit(d, app_id),
        lit(d, user_id)
    );
    ch_feeds()
        .map(|(_, f)| f)
        .filter(|f| !f.keys.iter().any(|(c, _)| *c == "user_key"))
        .map(|f| {
            format!(
                "INSERT INTO {} {}",
                f.table,
                ch_select(f, tz, true, &extra, "events")
            )
        })
        .collect()
}

/// Rollup tables keyed by user.
pub(crate) fn clickhouse_user_tables() -> Vec<&'static str> {
    let mut t: Vec<&str> = ch_feeds()
        .map(|(_, f)| f)
        .filter(|f| f.keys.iter().any(|(c, _)| *c == "user_key"))
        .map(|f| f.table)
        .collect();
    t.dedup();
    t
}

// -------------------------------------------------------------------- SQLite

/// A script that (re)builds every rollup for `tz` inside one transaction:
/// triggers dropped, tables created and emptied, rows aggregated in,
/// triggers created (insert adds, delete subtracts and drops empty rows).
pub(crate) fn sqlite_rebuild(tz: &str) -> String {
    let d = Dialect::Sqlite;
    let mut out = Vec::new();
    for i in 0..MAX_FEEDS {
        out.push(format!("DROP TRIGGER IF EXISTS rollup_ins_{i}"));
        out.push(format!("DROP TRIGGER IF EXISTS rollup_del_{i}"));
    }
    for t in tables() {
        let feed = FEEDS.iter().find(|f| f.table == t).expect("known table");
        let (cols, keys) = (feed.columns(), feed.key_names());
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {t} ({}, PRIMARY KEY ({})) WITHOUT ROWID",
            cols.join(", "),
            keys.join(", ")
        ));
        out.push(format!("DELETE FROM {t}"));
    }
    for (i, f) in FEEDS.iter().enumerate() {
        let (cols, keys) = (f.columns(), f.key_names());
        let key_exprs: Vec<String> = f.keys.iter().map(|(_, e)| expr(d, e, "", tz)).collect();
        let sums: Vec<String> = f
            .values
            .iter()
            .map(|(_, e)| format!("SUM({})", expr(d, e, "", tz)))
            .chain(
                f.extremes
                    .iter()
                    .map(|(_, x)| format!("{}(ts)", ext_name(*x).to_uppercase())),
            )
            .collect();
        // Backfill: the table is empty, but two feeds share rollup_samples
        // (distinct `metric` keys), so conflicts cannot arise.
        let grouped: Vec<String> = f
            .keys
            .iter()
            .filter(|(c, _)| group_keys(f).contains(c))
            .map(|(_, e)| expr(d, e, "", tz))
            .collect();
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {}, {} FROM events WHERE {} GROUP BY {}",
            f.table,
            cols.join(", "),
            key_exprs.join(", "),
            sums.join(", "),
            expr(d, f.when, "", tz),
            grouped.join(", ")
        ));
        let new_vals: Vec<String> = f
            .keys
            .iter()
            .chain(f.values)
            .map(|(_, e)| expr(d, e, "NEW.", tz))
            .chain(f.extremes.iter().map(|_| "NEW.ts".to_string()))
            .collect();
        let add: Vec<String> =
            f.values
                .iter()
                .map(|(c, _)| format!("{c} = {c} + excluded.{c}"))
                .chain(f.extremes.iter().map(|(c, x)| {
                    format!("{c} = {}({c}, excluded.{c})", ext_name(*x).to_uppercase())
                }))
                .collect();
        out.push(format!(
            "CREATE TRIGGER rollup_ins_{i} AFTER INSERT ON events WHEN {} BEGIN \
             INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}; END",
            expr(d, f.when, "NEW.", tz),
            f.table,
            cols.join(", "),
            new_vals.join(", "),
            keys.join(", "),
            add.join(", ")
        ));
        let key_match: Vec<String> = f
            .keys
            .iter()
            .map(|(c, e)| format!("{c} = {}", expr(d, e, "OLD.", tz)))
            .collect();
        let sub: Vec<String> = f
            .values
            .iter()
            .map(|(c, e)| format!("{c} = {c} - {}", expr(d, e, "OLD.", tz)))
            .collect();
        out.push(format!(
            "CREATE TRIGGER rollup_del_{i} AFTER DELETE ON events WHEN {} BEGIN \
             UPDATE {} SET {} WHERE {}; DELETE FROM {} WHERE {} AND n <= 0; END",
            expr(d, f.when, "OLD.", tz),
            f.table,
            sub.join(", "),
            key_match.join(" AND "),
            f.table,
            key_match.join(" AND ")
        ));
    }
    out.join(";\n") + ";"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clickhouse_aliases_never_shadow_event_columns() {
        let r = clickhouse_rebuild("Asia/Shanghai", &Layout::single());
        for s in r.tables.iter().chain(&r.views).chain(&r.backfill) {
            assert!(!s.contains(" AS device_model,"), "{s}");
            assert!(!s.contains(" AS fatal,"), "{s}");
            assert!(!s.contains("_local"), "{s}");
        }
        let deltas = clickhouse_erase_deltas("UTC", "a'b", "u");
        assert_eq!(deltas.len(), 3, "sessions and both sample feeds");
        assert!(
            deltas
                .iter()
                .all(|s| s.contains("-toInt64(sum(ifNull(1, 0))) AS n"))
        );
        assert!(deltas[0].contains("app_id = 'a\\'b'"), "{}", deltas[0]);
        assert_eq!(clickhouse_user_tables(), vec!["rollup_users"]);
    }

    #[test]
    fn cluster_rollups_feed_local_tables_from_local_events() {
        let r = clickhouse_rebuild("UTC", &Layout::cluster("c", "db", false));
        for v in &r.views {
            assert!(
                v.contains(" TO rollup_") && v.contains("_local AS SELECT"),
                "{v}"
            );
            assert!(v.contains(" FROM events_local "), "{v}");
        }
        for b in &r.backfill {
            assert!(
                b.starts_with("INSERT INTO rollup_") && b.contains("_local SELECT"),
                "{b}"
            );
        }
        assert!(r.truncate.iter().all(|t| t.ends_with("_local")));
        let distributed = r
            .tables
            .iter()
            .filter(|t| t.contains("Distributed("))
            .count();
        assert_eq!(
            distributed,
            ch_tables().len() + 1,
            "every rollup table and the sketch"
        );
        assert!(
            r.tables
                .contains(&"DROP TABLE IF EXISTS rollup_users_daily_local".to_string())
        );
        assert!(!r.views.iter().any(|v| v.contains("rollup_users_daily")));
    }

    #[test]
    fn stamps_carry_the_layout_version() {
        assert_eq!(
            zone_of(&stamp("Asia/Shanghai")).as_deref(),
            Some("Asia/Shanghai")
        );
        assert_eq!(zone_of("Asia/Shanghai"), None, "a version-1 stamp");
        assert_eq!(zone_of("v1 Asia/Shanghai"), None);
        assert_eq!(zone_of(""), None);
    }

    #[test]
    fn sqlite_script_names_the_zone_once_per_day_expression() {
        let s = sqlite_rebuild("Asia/Shanghai");
        assert!(s.contains("vitals_day(NEW.ts, 'Asia/Shanghai')"));
        assert!(s.contains("vitals_day(OLD.ts, 'Asia/Shanghai')"));
        assert_eq!(tables().len(), 4);
    }
}
