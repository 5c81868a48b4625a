//! Storage for vitals.
//!
//! * [`Store`]: the telemetry store trait every service codes against, with
//!   two backends: [`ClickHouseStore`] (production) and [`SqliteStore`]
//!   (embedded, zero setup, the default).
//! * [`ControlPlane`]: apps, ingest keys, API tokens, erasure requests and
//!   the operations state, in an embedded SQLite file by default or in a
//!   PostgreSQL database shared by several nodes ([`ControlPlaneConfig`]),
//!   with leader leases for the scheduled jobs.
//!
//! Invariant: [`Store::insert`] is idempotent per `(app_id, batch_id)`. A
//! batch inserted twice — a client retry, a spool replay after a crash, an
//! insert retried after an ambiguous error — is stored once.

mod clickhouse;
pub mod control;
mod cpdb;
mod error;
mod leases;
pub mod ops;
pub mod order_stats;
mod owners;
pub mod query;
pub mod releases;
pub mod replay;
mod rollup;
mod rollup_ddl;
pub mod row;
pub mod sentry_intake;
pub mod sessions;
mod sqlite;
mod sqlite_crashes;
pub mod users;

pub use crate::clickhouse::{ClickHouseConfig, ClickHouseStore};
pub use control::{ControlPlane, ControlPlaneConfig, default_node_id};
pub use error::StoreError;
pub use sqlite::SqliteStore;

/// The platform's default time zone (days, charts, schedules).
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use vitals_protocol::AcceptedBatch;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What one [`Store::insert`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InsertOutcome {
    /// Batches newly stored.
    pub batches: usize,
    /// Batches skipped because they were stored before (same app + batch id).
    pub duplicate_batches: usize,
    /// Event rows written.
    pub rows: usize,
    /// Events of duplicate batches (not written again).
    pub duplicate_rows: usize,
    /// Events dropped because their user's data was erased.
    pub erased_rows: usize,
}

/// Health of one release, straight from the store (the analyzer adds
/// intervals and verdicts on top).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSummary {
    pub version: String,
    pub build: String,
    /// Sessions started.
    pub sessions: u64,
    /// Sessions that ended with status `crashed`.
    pub crashed_sessions: u64,
    /// Distinct users (pseudonym, or install when no user id) with any event.
    pub users: u64,
    /// Distinct users with at least one fatal crash.
    pub crashed_users: u64,
    /// Fatal crash reports.
    pub fatal_crashes: u64,
    /// First and last event time, Unix seconds.
    pub first_seen: u32,
    pub last_seen: u32,
}

/// Event count per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: String,
    pub events: u64,
}

/// One stored crash report of a group (the dashboard's crash detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashSample {
    pub ts: u32,
    pub platform: String,
    pub version: String,
    pub build: String,
    pub device_model: String,
    pub os_version: String,
    pub exception_type: String,
    pub message: String,
    /// JSON: `{"threads": […], "images": […], "raw": …}` as stored.
    pub payload: String,
}

/// Prefix of a crash note naming a debug file the symbolicator lacked (the
/// rest of the note is the missing file as JSON). Crash rows whose payload
/// holds such a note are the candidates for re-symbolication
/// ([`Store::crashes_missing_files`]).
pub const MISSING_FILE_NOTE: &str = "missing-file: ";

/// What the payload text contains when a note starts with
/// [`MISSING_FILE_NOTE`]: the opening quote of the JSON string, then the
/// prefix. A pre-filter; callers confirm by parsing the notes.
pub(crate) fn missing_file_needle() -> String {
    format!("\"{MISSING_FILE_NOTE}")
}

/// Identity of one stored crash row: `(batch_id, seq)` within the app, plus
/// the columns that lead the tables' sort keys (so updates find it fast).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashRowKey {
    pub batch_id: String,
    pub seq: u32,
    /// Event time, Unix seconds.
    pub ts: u32,
    pub version: String,
    pub build: String,
}

/// A stored crash row as re-symbolication reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCrash {
    pub key: CrashRowKey,
    pub crash_id: String,
    pub exception_type: String,
    pub message: String,
    pub fingerprint: String,
    /// JSON: `{"threads": […], "images": […], "raw": …, "notes": […]}`.
    pub payload: String,
}

/// New contents of one crash row after re-symbolication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashRewrite {
    pub key: CrashRowKey,
    pub payload: String,
    pub fingerprint: String,
    pub exception_type: String,
    pub message: String,
}

/// Result of applying schema migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    /// Schema version after the run.
    pub version: u32,
    /// Migrations applied by this run (0 when already current).
    pub applied: u32,
}

/// The telemetry store. Every method pushes its work into the backend (SQL);
/// none pulls raw rows into Rust to aggregate them.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `clickhouse` or `sqlite`.
    fn backend(&self) -> &'static str;

    /// Creates or upgrades the schema; idempotent.
    async fn migrate(&self) -> Result<MigrationReport>;

    /// Cheap liveness check.
    async fn ping(&self) -> Result<()>;

    /// Stores batches exactly once per `(app_id, batch_id)`. Rows of users
    /// in `erased` (`(app_id, pseudonym)`) are dropped and counted.
    ///
    /// `in_doubt` tells the backend that some of these batches may have been
    /// partly written by an earlier attempt whose outcome is unknown (a
    /// crash or an ambiguous error); it must then check for such partial
    /// writes instead of trusting its batch ledger alone.
    async fn insert(
        &self,
        batches: &[AcceptedBatch],
        erased: &HashSet<(String, String)>,
        in_doubt: bool,
    ) -> Result<InsertOutcome>;

    /// Deletes every stored row of one user (4.3.4d). Returns when the
    /// deletion is visible to queries.
    async fn erase_user(&self, app_id: &str, pseudonym: &str) -> Result<()>;

    /// Events per kind for one app.
    async fn kind_counts(&self, app_id: &str) -> Result<Vec<KindCount>>;

    /// Per-release health, newest first-seen last.
    async fn release_summaries(&self, app_id: &str) -> Result<Vec<ReleaseSummary>>;

    /// Rows stored for one user pseudonym (used to prove erasure).
    async fn user_row_count(&self, app_id: &str, pseudonym: &str) -> Result<u64>;

    /// Number of distinct batches stored for an app.
    async fn batch_count(&self, app_id: &str) -> Result<u64>;

    /// Runs an aggregation ([`query::Query`]) inside the backend, from a
    /// rollup when one answers it exactly, else from the raw rows.
    async fn aggregate(&self, q: &query::Query) -> Result<Vec<query::AggRow>>;

    /// The same aggregation from the raw rows only (conformance tests and
    /// benchmarks compare both paths).
    async fn aggregate_raw(&self, q: &query::Query) -> Result<Vec<query::AggRow>>;

    /// Exact order statistics from the raw rows, one value per pick
    /// ([`order_stats::OrderStats`]); `None` for a pick past its bucket.
    async fn order_stats(&self, q: &order_stats::OrderStats) -> Result<Vec<Option<f64>>>;

    /// Empties and recomputes every rollup from the raw rows (after a
    /// restore, or to repair one after a backend crash mid-insert). Run it
    /// while ingestion is stopped.
    async fn rebuild_rollups(&self) -> Result<()>;

    /// The most recent fatal crash report of a group (optionally of one
    /// version), for showing its stack.
    async fn crash_sample(
        &self,
        app_id: &str,
        fingerprint: &str,
        version: Option<&str>,
    ) -> Result<Option<CrashSample>> {
        self.crash(
            app_id,
            CrashKey::Group {
                fingerprint,
                version,
            },
        )
        .await
    }

    /// One stored crash report: by crash id, or the newest fatal one of a
    /// group.
    async fn crash(&self, app_id: &str, key: CrashKey<'_>) -> Result<Option<CrashSample>>;

    /// Crash rows of `app_id` whose payload has a [`MISSING_FILE_NOTE`]
    /// note, ordered by `(ts, batch_id, seq)`, strictly after `after`
    /// (keyset paging: rows rewritten meanwhile drop out without shifting
    /// the pages), at most `limit`.
    async fn crashes_missing_files(
        &self,
        app_id: &str,
        after: Option<&CrashRowKey>,
        limit: u32,
    ) -> Result<Vec<StoredCrash>>;

    /// Replaces payload, fingerprint, exception type and message of crash
    /// rows of `app_id` (re-symbolication; regrouping is the new
    /// fingerprint). Returns when the new values are visible to queries.
    /// Crash rows feed no rollup counter these columns change.
    async fn rewrite_crashes(&self, app_id: &str, rewrites: &[CrashRewrite]) -> Result<()>;
}

/// Which crash report [`Store::crash`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashKey<'a> {
    Group {
        fingerprint: &'a str,
        version: Option<&'a str>,
    },
    Id(&'a str),
}

impl CrashKey<'_> {
    /// The SQL condition and its string arguments (in order).
    pub(crate) fn condition(&self) -> (&'static str, Vec<String>) {
        match self {
            CrashKey::Group {
                fingerprint,
                version,
            } => (
                "fatal = 1 AND fingerprint = ? AND (? = '' OR version = ?)",
                vec![
                    fingerprint.to_string(),
                    version.unwrap_or("").to_string(),
                    version.unwrap_or("").to_string(),
                ],
            ),
            CrashKey::Id(id) => ("crash_id = ?", vec![id.to_string()]),
        }
    }
}

/// A step between the spool and the store that may rewrite accepted
/// batches (the symbolicator: readable stacks and fingerprints for crash
/// events). Runs on the writer's task, once per batch, before the insert.
#[async_trait::async_trait]
pub trait Enricher: Send + Sync + 'static {
    async fn enrich(&self, batch: &mut AcceptedBatch);
}

/// Dedups a slice of batches by `(app_id, batch_id)`, keeping the first of
/// each; returns the kept indexes and how many were dropped.
pub(crate) fn dedup_in_chunk(batches: &[AcceptedBatch]) -> (Vec<usize>, usize) {
    let mut seen = HashSet::with_capacity(batches.len());
    let mut keep = Vec::with_capacity(batches.len());
    for (i, b) in batches.iter().enumerate() {
        if seen.insert((b.app_id.as_str(), b.batch.batch_id.as_str())) {
            keep.push(i);
        }
    }
    let dropped = batches.len() - keep.len();
    (keep, dropped)
}

/// Which rollup table, if any, answers `q` when the rollups' days are in
/// time zone `tz` (tests and `EXPLAIN`-style diagnostics).
pub fn rollup_for(q: &query::Query, tz: &str) -> Option<&'static str> {
    rollup::route(query::Dialect::Sqlite, q, tz).map(|r| r.table.name())
}
