//! A small, typed aggregation language that both backends render to SQL, so
//! services (the analyzer first) describe *what* to aggregate once and the
//! store pushes it down: ClickHouse with `countIf`/`uniqExactIf`, SQLite with
//! `CASE` expressions. Results are grouped rows of strings (dimensions) and
//! numbers (measures); a measure with no input is `NaN`.
//!
//! Percentiles come from the `bucket_a` / `bucket_b` columns: log-scale
//! histogram buckets computed in Rust at ingest ([`crate::row::bucket`]), so
//! both backends return identical histograms and identical percentiles.

use serde::{Deserialize, Serialize};

/// A grouping dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dim {
    Kind,
    Version,
    Build,
    Platform,
    DeviceModel,
    DeviceClass,
    OsMajor,
    ScreenClass,
    NetFamily,
    Category,
    Site,
    ReqFamily,
    PatchId,
    Stage,
    Fingerprint,
    ExceptionType,
    Abi,
    /// Local calendar day `YYYY-MM-DD` in the time zone.
    Day(String),
    /// Start of the local hour, Unix seconds, in the time zone.
    Hour(String),
    /// Histogram bucket of the kind's primary value.
    BucketA,
    /// Histogram bucket of the secondary value (memory on perf samples).
    BucketB,
}

/// A numeric column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Col {
    DurationMs,
    CpuPct,
    MemoryMb,
    PackageBytes,
    Value,
    Ts,
}

/// A row condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cond {
    /// The row that counts its session (each session once, see
    /// [`crate::sessions`]); the name is kept from when starts were counted.
    SessionStart,
    /// The row that counts its session's crash (an end with status
    /// `crashed` or a fatal crash naming it, once per session).
    SessionCrashed,
    SessionAbnormal,
    FatalCrash,
    /// A row that makes its user a crashed user: a fatal crash event of
    /// theirs, or the crash of one of their sessions (either signal).
    CrashedUser,
    HasCpu,
    HasMemory,
    /// Network request that failed (status 0 or ≥ 500).
    RequestFailed,
    Stage(String),
    /// Network request of one service category (`trade`, `quote`…).
    Category(String),
    /// A cold start that reported its breakdown (spans, 5.7c).
    ColdStartWithSpans,
}

/// An aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Measure {
    /// Rows (matching the condition).
    Count(Option<Cond>),
    /// Distinct users (`user_key`), exact: what verdicts use.
    Users(Option<Cond>),
    /// Distinct users for charts: ClickHouse answers from per-day sketches
    /// (`uniqCombined`, about 1 % relative error on large sets, exact on
    /// small ones); SQLite counts exactly. Never used for a verdict.
    UsersApprox(Option<Cond>),
    /// Distinct installs.
    Installs(Option<Cond>),
    Sum(Col, Option<Cond>),
    /// Sum of squares (for the variance of a mean's confidence interval).
    SumSq(Col, Option<Cond>),
    Avg(Col, Option<Cond>),
    Min(Col, Option<Cond>),
    Max(Col, Option<Cond>),
}

/// Which rows a query reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub app_id: String,
    pub version: Option<String>,
    pub build: Option<String>,
    /// Event kinds (`session`, `crash`…); empty = all.
    pub kinds: Vec<String>,
    pub platforms: Vec<String>,
    /// Inclusive time range, Unix seconds.
    pub since: Option<u32>,
    pub until: Option<u32>,
    /// Leave out rooted / jailbroken devices and emulators (4.2.3).
    pub exclude_untrusted: bool,
    pub fingerprint: Option<String>,
    /// Only completed network requests (a status from 1 to 499): transport
    /// errors, timeouts (status 0) and 5xx are left out, as 5.3f's response
    /// times are of answered requests; they count in the request error rate.
    #[serde(default)]
    pub completed_requests: bool,
}

/// An aggregation query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub filter: Filter,
    pub group_by: Vec<Dim>,
    pub measures: Vec<Measure>,
    /// Order by this measure, descending (else by the dimensions).
    pub order_by_measure: Option<usize>,
    pub limit: Option<usize>,
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggRow {
    pub dims: Vec<String>,
    pub values: Vec<f64>,
}

impl AggRow {
    /// Value `i` as a count (NaN → 0).
    pub fn count(&self, i: usize) -> u64 {
        let v = self.values.get(i).copied().unwrap_or(f64::NAN);
        if v.is_finite() && v > 0.0 {
            v.round() as u64
        } else {
            0
        }
    }

    /// Value `i`, `None` when there was no input.
    pub fn value(&self, i: usize) -> Option<f64> {
        self.values.get(i).copied().filter(|v| v.is_finite())
    }

    pub fn dim(&self, i: usize) -> &str {
        self.dims.get(i).map(String::as_str).unwrap_or("")
    }
}

/// SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    ClickHouse,
    Sqlite,
}

/// Quotes a string as a SQL literal of dialect `d`: the one way a value is
/// written into SQL text. Any Rust string, including NUL and every other
/// control character, comes back from the server unchanged
/// (`store/tests/conformance.rs` round-trips every code point 0–255 and
/// multi-byte text through both engines).
///
/// - ClickHouse: backslash escapes; quote, backslash, `?` and every ASCII
///   control character (0x00–0x1F, 0x7F) are written as escapes, so the query
///   text has no raw control bytes and no bind placeholders.
/// - SQLite: a plain `'…'` literal with doubled quotes when the string has no
///   control characters; otherwise the UTF-8 bytes as a blob cast to text
///   (`CAST(X'…' AS TEXT)`), since SQLite's tokenizer ends the statement at a
///   NUL byte.
pub(crate) fn lit(d: Dialect, s: &str) -> String {
    match d {
        Dialect::ClickHouse => format!("'{}'", ch_escape(s)),
        Dialect::Sqlite if s.chars().any(|c| c.is_ascii_control()) => {
            format!("CAST(X'{}' AS TEXT)", hex::encode_upper(s.as_bytes()))
        }
        Dialect::Sqlite => format!("'{}'", s.replace('\'', "''")),
    }
}

/// The inside of a single-quoted ClickHouse string literal for `s`.
pub(crate) fn ch_escape(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            // `?` too: the `clickhouse` client reads a bare `?` in query
            // text as a bind placeholder.
            c if c.is_ascii_control() || c == '?' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn col(c: Col) -> &'static str {
    match c {
        Col::DurationMs => "duration_ms",
        Col::CpuPct => "cpu_pct",
        Col::MemoryMb => "memory_mb",
        Col::PackageBytes => "package_bytes",
        Col::Value => "value",
        Col::Ts => "ts",
    }
}

pub(crate) fn cond(d: Dialect, c: &Cond) -> String {
    match c {
        Cond::SessionStart => "(kind = 'session' AND s_new = 1)".into(),
        Cond::SessionCrashed => "(kind = 'session' AND s_crash = 1)".into(),
        Cond::SessionAbnormal => "(kind = 'session' AND s_abn = 1)".into(),
        Cond::FatalCrash => "(kind = 'crash' AND fatal = 1)".into(),
        Cond::CrashedUser => "((kind = 'crash' AND fatal = 1) OR s_crash = 1)".into(),
        Cond::HasCpu => "(cpu_pct IS NOT NULL)".into(),
        Cond::HasMemory => "(memory_mb IS NOT NULL)".into(),
        Cond::RequestFailed => {
            "(kind = 'network' AND (status_code = 0 OR status_code >= 500))".into()
        }
        Cond::Stage(s) => format!("(stage = {})", lit(d, s)),
        Cond::Category(s) => format!("(category = {})", lit(d, s)),
        Cond::ColdStartWithSpans => format!(
            "(kind = 'cold_start' AND name = {})",
            lit(d, crate::row::COLD_START_WITH_SPANS)
        ),
    }
}

fn dim(d: Dialect, x: &Dim) -> String {
    let text = |c: &str| match d {
        Dialect::ClickHouse => format!("toString({c})"),
        Dialect::Sqlite => format!("CAST({c} AS TEXT)"),
    };
    match x {
        Dim::Kind => "kind".into(),
        Dim::Version => "version".into(),
        Dim::Build => "build".into(),
        Dim::Platform => "platform".into(),
        Dim::DeviceModel => "device_model".into(),
        Dim::DeviceClass => "device_class".into(),
        Dim::OsMajor => text("os_major"),
        Dim::ScreenClass => "screen_class".into(),
        Dim::NetFamily => "net_family".into(),
        Dim::Category => "category".into(),
        Dim::Site => "site".into(),
        Dim::ReqFamily => "req_family".into(),
        Dim::PatchId => "patch_id".into(),
        Dim::Stage => "stage".into(),
        Dim::Fingerprint => "fingerprint".into(),
        Dim::ExceptionType => "exception_type".into(),
        Dim::Abi => "abi".into(),
        Dim::Day(tz) => match d {
            Dialect::ClickHouse => format!("toString(toDate(ts, {}))", lit(d, tz)),
            Dialect::Sqlite => format!("vitals_day(ts, {})", lit(d, tz)),
        },
        Dim::Hour(tz) => match d {
            Dialect::ClickHouse => format!("toString(toUInt32(toStartOfHour(ts, {})))", lit(d, tz)),
            Dialect::Sqlite => format!("CAST(vitals_hour(ts, {}) AS TEXT)", lit(d, tz)),
        },
        Dim::BucketA => text("bucket_a"),
        Dim::BucketB => text("bucket_b"),
    }
}

fn measure(d: Dialect, m: &Measure) -> String {
    let c = |o: &Option<Cond>| o.as_ref().map(|x| cond(d, x));
    match (d, m) {
        (Dialect::ClickHouse, Measure::Count(None)) => "toFloat64(count())".into(),
        (Dialect::ClickHouse, Measure::Count(Some(x))) => {
            format!("toFloat64(countIf({}))", cond(d, x))
        }
        (Dialect::ClickHouse, Measure::Users(o)) => uniq_ch(crate::owners::unit(d), c(o)),
        (Dialect::ClickHouse, Measure::UsersApprox(o)) => match c(o) {
            None => "toFloat64(uniqCombined(user_key))".into(),
            Some(c) => format!("toFloat64(uniqCombinedIf(user_key, {c}))"),
        },
        (Dialect::ClickHouse, Measure::Installs(o)) => uniq_ch("install_id", c(o)),
        (Dialect::ClickHouse, Measure::Sum(k, o)) => agg_ch("sum", k, c(o), "0"),
        (Dialect::ClickHouse, Measure::SumSq(k, o)) => {
            let v = format!("toFloat64({})", col(*k));
            let sq = format!("{v} * {v}");
            match c(o) {
                None => format!("ifNull(toFloat64(sum({sq})), 0)"),
                Some(c) => format!("ifNull(toFloat64(sumIf({sq}, {c})), 0)"),
            }
        }
        (Dialect::ClickHouse, Measure::Avg(k, o)) => agg_ch("avg", k, c(o), "nan"),
        (Dialect::ClickHouse, Measure::Min(k, o)) => agg_ch("min", k, c(o), "nan"),
        (Dialect::ClickHouse, Measure::Max(k, o)) => agg_ch("max", k, c(o), "nan"),
        (Dialect::Sqlite, Measure::Count(None)) => "CAST(COUNT(*) AS REAL)".into(),
        (Dialect::Sqlite, Measure::Count(Some(x))) => {
            format!(
                "CAST(SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS REAL)",
                cond(d, x)
            )
        }
        (Dialect::Sqlite, Measure::Users(o)) => uniq_sqlite(crate::owners::unit(d), c(o)),
        (Dialect::Sqlite, Measure::UsersApprox(o)) => uniq_sqlite("user_key", c(o)),
        (Dialect::Sqlite, Measure::Installs(o)) => uniq_sqlite("install_id", c(o)),
        (Dialect::Sqlite, Measure::Sum(k, o)) => {
            format!("COALESCE({}, 0)", agg_sqlite("SUM", k, c(o)))
        }
        (Dialect::Sqlite, Measure::SumSq(k, o)) => {
            let v = format!("CAST({} AS REAL)", col(*k));
            match c(o) {
                None => format!("COALESCE(SUM({v} * {v}), 0)"),
                Some(c) => format!("COALESCE(SUM(CASE WHEN {c} THEN {v} * {v} END), 0)"),
            }
        }
        (Dialect::Sqlite, Measure::Avg(k, o)) => agg_sqlite("AVG", k, c(o)),
        (Dialect::Sqlite, Measure::Min(k, o)) => agg_sqlite("MIN", k, c(o)),
        (Dialect::Sqlite, Measure::Max(k, o)) => agg_sqlite("MAX", k, c(o)),
    }
}

/// Exact distinct count of a string column on ClickHouse. The strings are
/// hashed with `cityHash64` first: `uniqExact` on a `String` keeps a
/// 128-bit SipHash of each value, which costs about twice the time of a
/// fast 64-bit hash for a release's million users (measured on 18.16). Two
/// different keys share a 64-bit hash with probability ~n²/2⁶⁵: 3·10⁻⁸ for a
/// million users, 3·10⁻⁴ for a hundred million, and a collision could only
/// lower a count by one.
pub(crate) fn ch_distinct(column: &str, c: Option<&str>) -> String {
    match c {
        None => format!("uniqExact(cityHash64({column}))"),
        Some(c) => format!("uniqExactIf(cityHash64({column}), {c})"),
    }
}

fn uniq_ch(column: &str, c: Option<String>) -> String {
    format!("toFloat64({})", ch_distinct(column, c.as_deref()))
}

fn uniq_sqlite(column: &str, c: Option<String>) -> String {
    match c {
        None => format!("CAST(COUNT(DISTINCT {column}) AS REAL)"),
        Some(c) => format!("CAST(COUNT(DISTINCT CASE WHEN {c} THEN {column} END) AS REAL)"),
    }
}

fn agg_ch(f: &str, k: &Col, c: Option<String>, empty: &str) -> String {
    // Nullable columns (cpu, memory) skip NULLs; an empty input gives
    // `empty` (nan for avg/min/max) so both backends agree on "no data".
    let v = format!("toFloat64({})", col(*k));
    let (expr, n) = match c {
        None => (
            format!("{f}({v})"),
            format!("countIf({} IS NOT NULL)", col(*k)),
        ),
        Some(c) => (
            format!("{f}If({v}, {c})"),
            format!("countIf({c} AND {} IS NOT NULL)", col(*k)),
        ),
    };
    // avg/min/max over a Nullable column are Nullable: fold NULL into the
    // empty value so the result array is plain Float64.
    format!("ifNull(if({n} = 0, {empty}, toFloat64({expr})), {empty})")
}

fn agg_sqlite(f: &str, k: &Col, c: Option<String>) -> String {
    match c {
        None => format!("{f}(CAST({} AS REAL))", col(*k)),
        Some(c) => format!("{f}(CASE WHEN {c} THEN CAST({} AS REAL) END)", col(*k)),
    }
}

/// Renders the WHERE clause.
pub(crate) fn where_clause(d: Dialect, f: &Filter) -> String {
    let mut w = vec![format!("app_id = {}", lit(d, &f.app_id))];
    let list = |v: &[String]| v.iter().map(|s| lit(d, s)).collect::<Vec<_>>().join(", ");
    if !f.kinds.is_empty() {
        w.push(format!("kind IN ({})", list(&f.kinds)));
    }
    if let Some(v) = &f.version {
        w.push(format!("version = {}", lit(d, v)));
    }
    if let Some(b) = &f.build {
        w.push(format!("build = {}", lit(d, b)));
    }
    if !f.platforms.is_empty() {
        w.push(format!("platform IN ({})", list(&f.platforms)));
    }
    let ts = |t: u32| match d {
        Dialect::ClickHouse => format!("toDateTime({t})"),
        Dialect::Sqlite => t.to_string(),
    };
    if let Some(s) = f.since {
        w.push(format!("ts >= {}", ts(s)));
    }
    if let Some(u) = f.until {
        w.push(format!("ts <= {}", ts(u)));
    }
    if f.exclude_untrusted {
        w.push("rooted = 0 AND emulator = 0".into());
    }
    if let Some(fp) = &f.fingerprint {
        w.push(format!("fingerprint = {}", lit(d, fp)));
    }
    if f.completed_requests {
        w.push(format!("NOT {}", cond(d, &Cond::RequestFailed)));
    }
    w.join(" AND ")
}

/// Renders a whole query. ClickHouse returns two array columns `d` and `v`;
/// SQLite returns the dimensions then the measures as plain columns.
pub(crate) fn render(d: Dialect, q: &Query) -> String {
    let dims: Vec<String> = q.group_by.iter().map(|x| dim(d, x)).collect();
    let mut ms: Vec<String> = q.measures.iter().map(|m| measure(d, m)).collect();
    if ms.is_empty() {
        ms.push(measure(d, &Measure::Count(None)));
    }
    finish(
        d,
        q,
        &dims,
        &ms,
        &format!(
            "events {}WHERE {}",
            owner_join(d, "events", q),
            where_clause(d, &q.filter)
        ),
        None,
    )
}

/// The join to `install_owner` when `q` counts users exactly (see
/// [`crate::owners`]), followed by a space; else nothing.
pub(crate) fn owner_join(d: Dialect, table: &str, q: &Query) -> String {
    if q.measures.iter().any(|m| matches!(m, Measure::Users(_))) {
        format!("{} ", crate::owners::join(d, table, &q.filter))
    } else {
        String::new()
    }
}

/// Assembles `SELECT dims, measures FROM <from_where> GROUP BY … ORDER BY
/// … LIMIT …` from rendered parts (shared by the raw and rollup paths).
pub(crate) fn finish(
    d: Dialect,
    q: &Query,
    dims: &[String],
    ms: &[String],
    from_where: &str,
    having: Option<&str>,
) -> String {
    let select = match d {
        Dialect::ClickHouse => format!(
            "[{}] AS d, [{}] AS v",
            if dims.is_empty() {
                "''".to_string()
            } else {
                dims.join(", ")
            },
            ms.join(", ")
        ),
        Dialect::Sqlite => dims
            .iter()
            .chain(ms.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut sql = format!("SELECT {select} FROM {from_where}");
    if !dims.is_empty() {
        let keys: Vec<String> = (1..=dims.len()).map(|i| i.to_string()).collect();
        let group = match d {
            // ClickHouse 18.16 does not group by position; repeat the
            // expressions.
            Dialect::ClickHouse => dims.join(", "),
            Dialect::Sqlite => keys.join(", "),
        };
        sql.push_str(&format!(" GROUP BY {group}"));
        if let Some(h) = having {
            sql.push_str(&format!(" HAVING {h}"));
        }
    }
    match q.order_by_measure {
        Some(i) if i < ms.len() => match d {
            Dialect::ClickHouse => sql.push_str(&format!(" ORDER BY v[{}] DESC, d", i + 1)),
            Dialect::Sqlite => {
                let mut keys = vec![format!("{} DESC", dims.len() + i + 1)];
                keys.extend((1..=dims.len()).map(|k| k.to_string()));
                sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
            }
        },
        _ if !dims.is_empty() => match d {
            Dialect::ClickHouse => sql.push_str(" ORDER BY d"),
            Dialect::Sqlite => {
                let keys: Vec<String> = (1..=dims.len()).map(|i| i.to_string()).collect();
                sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
            }
        },
        _ => {}
    }
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    sql
}
