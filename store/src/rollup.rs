//! Rollups: per-release pre-aggregates that answer the analyzer's and the
//! dashboard's questions without reading a release's raw rows again.
//!
//! Four tables, kept by the backend itself as rows arrive (ClickHouse
//! materialized views into `SummingMergeTree` tables; SQLite triggers in
//! the inserting transaction), so a rollup never lags its rows:
//!
//! - `rollup_sessions`: session rows counted per release, environment,
//!   trust, local day and the compatibility dimensions (platform, device
//!   class, OS major, screen class, network family, device model).
//! - `rollup_users` / `rollup_users_daily` (SQLite only): one row per user (per local day)
//!   and release, with how many rows, active rows (session or crash) and
//!   fatal crashes the user had: exact distinct counts over a table the size
//!   of the user base, not of the event stream.
//! - `rollup_samples`: cold-start, network and perf samples as (metric,
//!   histogram bucket) counts and sums; percentiles come from the same
//!   log buckets as the raw path, so verdicts are identical.
//!
//! [`route`] decides whether a [`Query`] can be answered from a rollup and
//! renders it; anything it cannot prove equivalent (time ranges,
//! fingerprints, days in another time zone, other measures) goes to the raw
//! `events` table. The conformance suite runs every routed query both ways.

use crate::query::{Col, Cond, Dialect, Dim, Filter, Measure, Query, lit};
use std::collections::BTreeSet;

/// A rollup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Sessions,
    Users,
    UsersDaily,
    Samples,
    /// ClickHouse only: per-day distinct-user sketches for charts.
    UserSketch,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Sessions => "rollup_sessions",
            Table::Users => "rollup_users",
            Table::UsersDaily => "rollup_users_daily",
            Table::Samples => "rollup_samples",
            Table::UserSketch => "rollup_user_sketch",
        }
    }
}

/// A query as a rollup answers it.
#[derive(Debug)]
pub struct Routed {
    pub table: Table,
    pub sql: String,
}

fn kind_set(f: &Filter) -> BTreeSet<&str> {
    f.kinds.iter().map(String::as_str).collect()
}

/// Which of a sample row's two values a query reads: 0 = the primary value
/// (`bucket_a`: cold start, latency, CPU), 1 = the secondary (`bucket_b`:
/// memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Primary,
    Secondary,
}

/// Renders `q` against a rollup when one answers it exactly; `tz` is the
/// time zone the rollups' days were computed in.
pub(crate) fn route(d: Dialect, q: &Query, tz: &str) -> Option<Routed> {
    let f = &q.filter;
    if f.since.is_some() || f.until.is_some() || f.fingerprint.is_some() {
        return None;
    }
    let kinds = kind_set(f);
    // Completed requests only: only the samples rollup keeps failures apart.
    let durations_only =
        !kinds.is_empty() && kinds.iter().all(|k| *k == "cold_start" || *k == "network");
    if f.completed_requests && !durations_only {
        return None;
    }
    let day_dim = |x: &Dim| matches!(x, Dim::Day(z) if z == tz);
    let has_day = q.group_by.iter().any(day_dim);
    let mut wheres = base_where(d, f);
    let (table, dims, measures) = if kinds == BTreeSet::from(["session"]) {
        let dims = q
            .group_by
            .iter()
            .map(|x| session_dim(d, x, tz))
            .collect::<Option<Vec<_>>>()?;
        let ms = q
            .measures
            .iter()
            .map(|m| session_measure(d, m))
            .collect::<Option<Vec<_>>>()?;
        if !f.platforms.is_empty() {
            let list: Vec<String> = f.platforms.iter().map(|p| lit(d, p)).collect();
            wheres.push(format!("platform IN ({})", list.join(", ")));
        }
        (Table::Sessions, dims, ms)
    } else if kinds.is_empty() || kinds == BTreeSet::from(["session", "crash"]) {
        if !f.platforms.is_empty() || q.measures.is_empty() {
            return None;
        }
        let all_kinds = kinds.is_empty();
        let dims = q
            .group_by
            .iter()
            .map(|x| match x {
                Dim::Version => Some("version".to_string()),
                Dim::Build => Some("build".to_string()),
                x if day_dim(x) => Some(day_text(d)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let approx = q
            .measures
            .iter()
            .all(|m| matches!(m, Measure::UsersApprox(_)));
        if approx && d == Dialect::ClickHouse {
            let ms = q
                .measures
                .iter()
                .map(|m| sketch_measure(m, all_kinds))
                .collect::<Option<Vec<_>>>()?;
            (Table::UserSketch, dims, ms)
        } else {
            let ms = q
                .measures
                .iter()
                .map(|m| user_measure(d, m, all_kinds))
                .collect::<Option<Vec<_>>>()?;
            let t = match (has_day, d) {
                // ClickHouse keeps no per-user-per-day table (see
                // rollup_ddl): exact daily users come from raw rows.
                (true, Dialect::ClickHouse) => return None,
                (true, Dialect::Sqlite) => Table::UsersDaily,
                (false, _) => Table::Users,
            };
            (t, dims, ms)
        }
    } else {
        if !f.platforms.is_empty() {
            return None;
        }
        let durations =
            !kinds.is_empty() && kinds.iter().all(|k| *k == "cold_start" || *k == "network");
        let perf = kinds == BTreeSet::from(["perf"]);
        // The flag column means "failed" on network rows and "has spans" on
        // cold starts: a flagged measure needs that one kind.
        let only = |k: &str| kinds == BTreeSet::from([k]);
        if !durations && !perf {
            return None;
        }
        let mut metric: Option<Metric> = None;
        let mut pin = |m: Metric| -> Option<()> {
            match metric {
                Some(x) if x != m => None,
                _ => {
                    metric = Some(m);
                    Some(())
                }
            }
        };
        let mut dims = Vec::new();
        for x in &q.group_by {
            dims.push(match x {
                Dim::Kind => "kind".to_string(),
                Dim::Version => "version".into(),
                Dim::Build => "build".into(),
                Dim::Category => "category".into(),
                Dim::Site => "site".into(),
                Dim::ReqFamily => "req_family".into(),
                // Kept for cold starts only (the per-model figures 5.3 asks).
                Dim::DeviceModel if kinds == BTreeSet::from(["cold_start"]) => "model".into(),
                Dim::BucketA => {
                    pin(Metric::Primary)?;
                    text(d, "bucket")
                }
                Dim::BucketB => {
                    pin(Metric::Secondary)?;
                    text(d, "bucket")
                }
                _ => return None,
            });
        }
        let mut ms = Vec::new();
        for m in &q.measures {
            let (metric, kind) = sample_measure(m, perf)?;
            match kind {
                SampleAgg::CountFailed if !only("network") => return None,
                SampleAgg::FlaggedCount | SampleAgg::FlaggedSum | SampleAgg::FlaggedAux
                    if !only("cold_start") =>
                {
                    return None;
                }
                _ => {}
            }
            pin(metric)?;
            ms.push(match kind {
                SampleAgg::Count => count_sum(d, "n"),
                SampleAgg::Sum => match d {
                    Dialect::ClickHouse => "toFloat64(sum(total))".to_string(),
                    Dialect::Sqlite => "CAST(COALESCE(SUM(total), 0) AS REAL)".to_string(),
                },
                SampleAgg::CountFailed | SampleAgg::FlaggedCount => flagged(d, "n"),
                SampleAgg::FlaggedSum => flagged(d, "total"),
                SampleAgg::FlaggedAux => flagged(d, "aux"),
                SampleAgg::SumSq => match d {
                    Dialect::ClickHouse => "toFloat64(sum(total_sq))".to_string(),
                    Dialect::Sqlite => "CAST(COALESCE(SUM(total_sq), 0) AS REAL)".to_string(),
                },
                SampleAgg::Avg => match d {
                    Dialect::ClickHouse => {
                        "if(sum(n) = 0, nan, toFloat64(sum(total)) / toFloat64(sum(n)))"
                            .to_string()
                    }
                    Dialect::Sqlite => {
                        "CASE WHEN COALESCE(SUM(n), 0) = 0 THEN NULL ELSE CAST(SUM(total) AS REAL) / SUM(n) END"
                            .to_string()
                    }
                },
            });
        }
        let metric = metric?;
        let list: Vec<String> = kinds.iter().map(|k| lit(d, k)).collect();
        wheres.push(format!("kind IN ({})", list.join(", ")));
        if f.completed_requests {
            if !only("network") {
                return None;
            }
            wheres.push("flag = 0".into());
        }
        wheres.push(format!(
            "metric = {}",
            match metric {
                Metric::Primary => 0,
                Metric::Secondary => 1,
            }
        ));
        (Table::Samples, dims, ms)
    };
    let sql = crate::query::finish(
        d,
        q,
        &dims,
        if measures.is_empty() {
            return None;
        } else {
            &measures
        },
        &format!(
            "{} {}WHERE {}",
            table.name(),
            match table {
                Table::Users | Table::UsersDaily => {
                    crate::query::owner_join(d, table.name(), q)
                }
                _ => String::new(),
            },
            wheres.join(" AND ")
        ),
        // A group whose rows were all erased (their counts netted to zero,
        // not yet merged away) is not a group on the raw path either.
        Some(match table {
            Table::Users | Table::UsersDaily if kinds.is_empty() => "max(n) > 0",
            Table::Users | Table::UsersDaily => "max(active) > 0",
            Table::UserSketch if kinds.is_empty() => "sum(n) > 0",
            Table::UserSketch => "sum(active) > 0",
            Table::Sessions | Table::Samples => "sum(n) > 0",
        }),
    );
    Some(Routed { table, sql })
}

fn base_where(d: Dialect, f: &Filter) -> Vec<String> {
    let mut w = vec![format!("app_id = {}", lit(d, &f.app_id))];
    if let Some(v) = &f.version {
        w.push(format!("version = {}", lit(d, v)));
    }
    if let Some(b) = &f.build {
        w.push(format!("build = {}", lit(d, b)));
    }
    if f.exclude_untrusted {
        w.push("untrusted = 0".into());
    }
    w
}

fn text(d: Dialect, c: &str) -> String {
    match d {
        Dialect::ClickHouse => format!("toString({c})"),
        Dialect::Sqlite => format!("CAST({c} AS TEXT)"),
    }
}

fn day_text(d: Dialect) -> String {
    match d {
        Dialect::ClickHouse => "toString(day)".into(),
        // Stored as `YYYY-MM-DD` text already.
        Dialect::Sqlite => "day".into(),
    }
}

/// The sum of column `c` over flagged rows.
fn flagged(d: Dialect, c: &str) -> String {
    match d {
        Dialect::ClickHouse => format!("toFloat64(sumIf({c}, flag = 1))"),
        Dialect::Sqlite => {
            format!("CAST(COALESCE(SUM(CASE WHEN flag = 1 THEN {c} ELSE 0 END), 0) AS REAL)")
        }
    }
}

fn count_sum(d: Dialect, c: &str) -> String {
    match d {
        Dialect::ClickHouse => format!("toFloat64(sum({c}))"),
        Dialect::Sqlite => format!("CAST(COALESCE(SUM({c}), 0) AS REAL)"),
    }
}

fn session_dim(d: Dialect, x: &Dim, tz: &str) -> Option<String> {
    Some(match x {
        Dim::Kind => "'session'".into(),
        Dim::Version => "version".into(),
        Dim::Build => "build".into(),
        Dim::Platform => "platform".into(),
        Dim::DeviceModel => "device_model".into(),
        Dim::DeviceClass => "device_class".into(),
        Dim::OsMajor => text(d, "os_major"),
        Dim::ScreenClass => "screen_class".into(),
        Dim::NetFamily => "net_family".into(),
        Dim::Day(z) if z == tz => day_text(d),
        _ => return None,
    })
}

fn session_measure(d: Dialect, m: &Measure) -> Option<String> {
    let extreme = |f: &str, c: &str| match d {
        Dialect::ClickHouse => {
            format!("if(sum(n) = 0, nan, toFloat64(toUInt32({f}Merge({c}))))")
        }
        Dialect::Sqlite => format!("CAST({}({c}) AS REAL)", f.to_uppercase()),
    };
    let c = match m {
        Measure::Min(Col::Ts, None) => return Some(extreme("min", "first_ts")),
        Measure::Max(Col::Ts, None) => return Some(extreme("max", "last_ts")),
        Measure::Count(None) => "n",
        Measure::Count(Some(Cond::SessionStart)) => "starts",
        Measure::Count(Some(Cond::SessionCrashed)) => "crashed",
        Measure::Count(Some(Cond::SessionAbnormal)) => "abnormal",
        _ => return None,
    };
    Some(count_sum(d, c))
}

/// A chart's distinct users from the day sketches (ClickHouse).
fn sketch_measure(m: &Measure, all_kinds: bool) -> Option<String> {
    let c = match m {
        Measure::UsersApprox(None) if all_kinds => "users",
        Measure::UsersApprox(None) => "active_users",
        Measure::UsersApprox(Some(Cond::CrashedUser)) => "fatal_users",
        _ => return None,
    };
    let f = if c == "users" {
        "uniqCombinedMerge"
    } else {
        "uniqCombinedIfMerge"
    };
    Some(format!("toFloat64({f}({c}))"))
}

fn user_measure(d: Dialect, m: &Measure, all_kinds: bool) -> Option<String> {
    let cond = match m {
        Measure::Users(None) | Measure::UsersApprox(None) if all_kinds => "n > 0",
        // (An exact count counts the owner-attributed unit, see below.)
        Measure::Users(None) | Measure::UsersApprox(None) => "active > 0",
        Measure::Users(Some(Cond::CrashedUser)) | Measure::UsersApprox(Some(Cond::CrashedUser)) => {
            "fatals > 0"
        }
        _ => return None,
    };
    // Exact counts count the unit (an anonymous key attributed to its
    // install's first user, crate::owners); approximate ones the key.
    let unit = match m {
        Measure::Users(_) => crate::owners::unit(d),
        _ => "user_key",
    };
    Some(match d {
        Dialect::ClickHouse => {
            format!("toFloat64({})", crate::query::ch_distinct(unit, Some(cond)))
        }
        Dialect::Sqlite => {
            format!("CAST(COUNT(DISTINCT CASE WHEN {cond} THEN {unit} END) AS REAL)")
        }
    })
}

enum SampleAgg {
    Count,
    /// Failed network requests (`Cond::RequestFailed`).
    CountFailed,
    /// Cold starts with a breakdown, their total time and their third-party
    /// SDK time (`Cond::ColdStartWithSpans`).
    FlaggedCount,
    FlaggedSum,
    FlaggedAux,
    Sum,
    SumSq,
    Avg,
}

/// The metric and aggregate a sample measure reads. Durations (cold start,
/// latency) are the primary value of their kinds; on perf samples CPU is
/// primary and memory secondary, each present only when reported.
fn sample_measure(m: &Measure, perf: bool) -> Option<(Metric, SampleAgg)> {
    use Metric::*;
    Some(match (m, perf) {
        (Measure::Count(None), false) => (Primary, SampleAgg::Count),
        (Measure::Count(Some(Cond::RequestFailed)), false) => (Primary, SampleAgg::CountFailed),
        (Measure::Count(Some(Cond::ColdStartWithSpans)), false) => {
            (Primary, SampleAgg::FlaggedCount)
        }
        (Measure::Sum(Col::DurationMs, Some(Cond::ColdStartWithSpans)), false) => {
            (Primary, SampleAgg::FlaggedSum)
        }
        (Measure::Sum(Col::Value, Some(Cond::ColdStartWithSpans)), false) => {
            (Primary, SampleAgg::FlaggedAux)
        }
        (Measure::Sum(Col::DurationMs, None), false) => (Primary, SampleAgg::Sum),
        (Measure::SumSq(Col::DurationMs, None), false) => (Primary, SampleAgg::SumSq),
        (Measure::Avg(Col::DurationMs, None), false) => (Primary, SampleAgg::Avg),
        (Measure::Count(Some(Cond::HasCpu)), true) => (Primary, SampleAgg::Count),
        (Measure::Sum(Col::CpuPct, None | Some(Cond::HasCpu)), true) => (Primary, SampleAgg::Sum),
        (Measure::SumSq(Col::CpuPct, None | Some(Cond::HasCpu)), true) => {
            (Primary, SampleAgg::SumSq)
        }
        (Measure::Avg(Col::CpuPct, None | Some(Cond::HasCpu)), true) => (Primary, SampleAgg::Avg),
        (Measure::Count(Some(Cond::HasMemory)), true) => (Secondary, SampleAgg::Count),
        (Measure::Sum(Col::MemoryMb, None | Some(Cond::HasMemory)), true) => {
            (Secondary, SampleAgg::Sum)
        }
        (Measure::SumSq(Col::MemoryMb, None | Some(Cond::HasMemory)), true) => {
            (Secondary, SampleAgg::SumSq)
        }
        (Measure::Avg(Col::MemoryMb, None | Some(Cond::HasMemory)), true) => {
            (Secondary, SampleAgg::Avg)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(kinds: &[&str], group_by: Vec<Dim>, measures: Vec<Measure>) -> Query {
        Query {
            filter: Filter {
                app_id: "a".into(),
                version: Some("1.0".into()),
                kinds: kinds.iter().map(|k| k.to_string()).collect(),
                ..Default::default()
            },
            group_by,
            measures,
            ..Default::default()
        }
    }

    #[test]
    fn gate_shapes_are_routed() {
        let tz = "Asia/Shanghai";
        let sessions = query(
            &["session"],
            vec![Dim::DeviceModel],
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Count(Some(Cond::SessionCrashed)),
            ],
        );
        let r = route(Dialect::ClickHouse, &sessions, tz).expect("routed");
        assert_eq!(r.table, Table::Sessions);
        assert!(r.sql.contains("sum(crashed)"), "{}", r.sql);
        let users = query(&["session", "crash"], vec![], vec![Measure::Users(None)]);
        let r = route(Dialect::Sqlite, &users, tz).expect("routed");
        assert_eq!(r.table, Table::Users);
        assert!(r.sql.contains("active > 0"), "{}", r.sql);
        let daily = query(&[], vec![Dim::Day(tz.into())], vec![Measure::Users(None)]);
        assert_eq!(
            route(Dialect::Sqlite, &daily, tz).map(|r| r.table),
            Some(Table::UsersDaily)
        );
        assert!(route(Dialect::ClickHouse, &daily, tz).is_none());
        let mem = query(
            &["perf"],
            vec![Dim::BucketB],
            vec![
                Measure::Count(Some(Cond::HasMemory)),
                Measure::Sum(Col::MemoryMb, Some(Cond::HasMemory)),
            ],
        );
        let r = route(Dialect::ClickHouse, &mem, tz).expect("routed");
        assert!(r.sql.contains("metric = 1"), "{}", r.sql);
    }

    #[test]
    fn what_a_rollup_cannot_answer_stays_raw() {
        let tz = "Asia/Shanghai";
        // Another time zone's days.
        let q = query(
            &["session"],
            vec![Dim::Day("Europe/Berlin".into())],
            vec![Measure::Count(None)],
        );
        assert!(route(Dialect::ClickHouse, &q, tz).is_none());
        // A time range.
        let mut q = query(&["session"], vec![], vec![Measure::Count(None)]);
        q.filter.since = Some(1);
        assert!(route(Dialect::ClickHouse, &q, tz).is_none());
        // Mixed metrics in one query.
        let q = query(
            &["perf"],
            vec![],
            vec![
                Measure::Count(Some(Cond::HasCpu)),
                Measure::Count(Some(Cond::HasMemory)),
            ],
        );
        assert!(route(Dialect::ClickHouse, &q, tz).is_none());
        // Per-model network latency: models are kept for cold starts only.
        let q = query(
            &["network"],
            vec![Dim::DeviceModel],
            vec![Measure::Count(None)],
        );
        assert!(route(Dialect::Sqlite, &q, tz).is_none());
        // Crash groups read crash rows.
        let q = query(
            &["crash"],
            vec![Dim::Fingerprint],
            vec![Measure::Count(None)],
        );
        assert!(route(Dialect::Sqlite, &q, tz).is_none());
        // Installs.
        let q = query(&["session", "crash"], vec![], vec![Measure::Installs(None)]);
        assert!(route(Dialect::Sqlite, &q, tz).is_none());
    }
}
