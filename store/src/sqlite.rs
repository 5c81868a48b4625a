//! The embedded backend: telemetry in a bundled SQLite file. Zero setup; the
//! default when no ClickHouse URL is configured. Fine up to a few million
//! events; percentiles there come from histograms, not sorts.
//!
//! Exactly-once is a transaction: ledger check, rows and ledger entries
//! commit together.

use crate::owners;
use crate::row::{COLUMNS, EventRow, rows_from_batch};
use crate::sessions::{self, SessionState};
use crate::{
    InsertOutcome, KindCount, MigrationReport, ReleaseSummary, Result, Store, dedup_in_chunk,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vitals_protocol::AcceptedBatch;

/// Telemetry in an embedded SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// Time zone of the rollups' local days.
    timezone: String,
    /// Zone the stored rollups use (`Some(None)`: none); unknown until asked.
    rollups: Arc<Mutex<Option<Option<String>>>>,
}

const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
    "events and batch ledger",
    "CREATE TABLE IF NOT EXISTS events (
        app_id TEXT NOT NULL, batch_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        ts INTEGER NOT NULL, ts_ms INTEGER NOT NULL, received_at INTEGER NOT NULL,
        platform TEXT NOT NULL, version TEXT NOT NULL, build TEXT NOT NULL,
        device_model TEXT NOT NULL, device_class TEXT NOT NULL, os_version TEXT NOT NULL,
        os_major INTEGER NOT NULL, screen_w INTEGER NOT NULL, screen_h INTEGER NOT NULL,
        density REAL NOT NULL, abi TEXT NOT NULL, rooted INTEGER NOT NULL, emulator INTEGER NOT NULL,
        net_family TEXT NOT NULL, carrier TEXT NOT NULL, install_id TEXT NOT NULL,
        user_id TEXT NOT NULL, user_key TEXT NOT NULL, device_id TEXT NOT NULL, client_ip TEXT NOT NULL,
        session_id TEXT NOT NULL, session_phase TEXT NOT NULL, session_status TEXT NOT NULL,
        duration_ms INTEGER NOT NULL, foreground_ms INTEGER NOT NULL,
        crash_id TEXT NOT NULL, exception_type TEXT NOT NULL, message TEXT NOT NULL,
        fatal INTEGER NOT NULL, handled INTEGER NOT NULL, payload TEXT NOT NULL,
        cpu_pct REAL, memory_mb REAL, package_bytes INTEGER NOT NULL,
        category TEXT NOT NULL, site TEXT NOT NULL, status_code INTEGER NOT NULL,
        req_family TEXT NOT NULL, patch_id TEXT NOT NULL, stage TEXT NOT NULL,
        error_code TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
        fingerprint TEXT NOT NULL, screen_class TEXT NOT NULL,
        bucket_a INTEGER NOT NULL, bucket_b INTEGER NOT NULL, environment TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_release ON events (app_id, kind, version, build, ts);
    CREATE INDEX IF NOT EXISTS events_user ON events (app_id, user_id);
    CREATE TABLE IF NOT EXISTS batches (
        app_id TEXT NOT NULL, batch_id TEXT NOT NULL, received_at INTEGER NOT NULL,
        events INTEGER NOT NULL, PRIMARY KEY (app_id, batch_id)
    ) WITHOUT ROWID;",
    ),
    (
        2,
        "session identity",
        // Rows stored before: each session counted by its first session row,
        // its crash and abnormal end by the first end saying so (a fatal
        // crash naming a session counts from this version on).
        "ALTER TABLE events ADD COLUMN s_new INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN s_crash INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN s_abn INTEGER NOT NULL DEFAULT 0;
    UPDATE events SET s_new = 1 WHERE rowid IN (
        SELECT MIN(rowid) FROM events WHERE kind = 'session'
        GROUP BY app_id, install_id, session_id);
    UPDATE events SET s_crash = 1 WHERE rowid IN (
        SELECT MIN(rowid) FROM events
        WHERE kind = 'session' AND session_phase = 'end' AND session_status = 'crashed'
        GROUP BY app_id, install_id, session_id);
    UPDATE events SET s_abn = 1 WHERE rowid IN (
        SELECT MIN(rowid) FROM events
        WHERE kind = 'session' AND session_phase = 'end' AND session_status = 'abnormal'
        GROUP BY app_id, install_id, session_id);
    CREATE TABLE IF NOT EXISTS session_ledger (
        app_id TEXT NOT NULL, install_id TEXT NOT NULL, session_id TEXT NOT NULL,
        counted INTEGER NOT NULL, crashed INTEGER NOT NULL, abnormal INTEGER NOT NULL,
        PRIMARY KEY (app_id, install_id, session_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO session_ledger
        SELECT app_id, install_id, session_id, MAX(s_new), MAX(s_crash), MAX(s_abn)
        FROM events WHERE kind = 'session' GROUP BY app_id, install_id, session_id;",
    ),
    (
        3,
        "install owners",
        // Each install's first user (crate::owners), from the rows stored
        // so far (SQLite takes the bare columns from the row of MIN).
        "CREATE TABLE IF NOT EXISTS install_owner (
        app_id TEXT NOT NULL, anon_key TEXT NOT NULL, owner TEXT NOT NULL, ts INTEGER NOT NULL,
        PRIMARY KEY (app_id, anon_key)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO install_owner
        SELECT app_id, 'i:' || install_id, user_id, MIN(ts) FROM events
        WHERE user_id != '' GROUP BY app_id, install_id;",
    ),
];

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        register_functions(&conn)?;
        Ok(SqliteStore {
            path,
            conn: Arc::new(Mutex::new(conn)),
            timezone: crate::DEFAULT_TIMEZONE.into(),
            rollups: Arc::default(),
        })
    }

    /// Runs SQL statements as they are, on the store's connection (its
    /// functions and triggers apply): tooling, benchmarks and tests.
    pub async fn execute_batch(&self, sql: &str) -> Result<()> {
        let sql = sql.to_string();
        self.with(move |c| Ok(c.execute_batch(&sql)?)).await
    }

    /// Sets the time zone of the rollups' days (default Asia/Shanghai);
    /// `migrate` rebuilds them when it changes.
    pub fn with_timezone(mut self, tz: impl Into<String>) -> Self {
        self.timezone = tz.into();
        self
    }

    /// The zone the stored rollups use, if there are any.
    async fn rollup_zone(&self) -> Result<Option<String>> {
        let cached = self
            .rollups
            .lock()
            .map_err(|_| crate::StoreError::Join("rollup state lock poisoned".into()))?
            .clone();
        if let Some(z) = cached {
            return Ok(z);
        }
        let zone = self.with(|c| stored_zone(c)).await?;
        if let Ok(mut g) = self.rollups.lock() {
            *g = Some(zone.clone());
        }
        Ok(zone)
    }

    /// Rebuilds the rollups for the configured zone in one transaction.
    async fn rebuild(&self, only_if_changed: bool) -> Result<bool> {
        let tz = self.timezone.clone();
        let rebuilt = self
            .with(move |c| {
                c.execute_batch(SETTINGS_DDL)?;
                if only_if_changed && stored_zone(c)?.as_deref() == Some(tz.as_str()) {
                    return Ok(false);
                }
                let started = std::time::Instant::now();
                let tx = c.transaction()?;
                tx.execute_batch(&crate::rollup_ddl::sqlite_rebuild(&tz))?;
                tx.execute(
                    "INSERT INTO rollup_settings (key, value) VALUES ('timezone', ?)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![crate::rollup_ddl::stamp(&tz)],
                )?;
                tx.commit()?;
                tracing::info!(timezone = %tz, secs = started.elapsed().as_secs_f64(), "sqlite rollups rebuilt");
                Ok(true)
            })
            .await?;
        if let Ok(mut g) = self.rollups.lock() {
            *g = None;
        }
        Ok(rebuilt)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn migrate_tables(&self) -> Result<MigrationReport> {
        self.with(|c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            )?;
            let current: u32 = c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?;
            let mut applied = 0;
            for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
                let tx = c.transaction()?;
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))",
                    params![version, name],
                )?;
                tx.commit()?;
                applied += 1;
            }
            let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
            Ok(MigrationReport {
                version: latest.max(current),
                applied,
            })
        })
        .await
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| crate::StoreError::Join("SQLite connection mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await?
    }
}

const SETTINGS_DDL: &str =
    "CREATE TABLE IF NOT EXISTS rollup_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

fn stored_zone(c: &Connection) -> Result<Option<String>> {
    let exists: i64 = c.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'rollup_settings'",
        [],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(None);
    }
    Ok(c.query_row(
        "SELECT value FROM rollup_settings WHERE key = 'timezone'",
        [],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .and_then(|v| crate::rollup_ddl::zone_of(&v)))
}

/// Local-time helpers the query renderer uses (`vitals_day`, `vitals_hour`):
/// days and hours follow the configured time zone, never the server's.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use chrono::{TimeZone, Timelike};
    use rusqlite::functions::FunctionFlags;
    fn local(
        ctx: &rusqlite::functions::Context<'_>,
    ) -> rusqlite::Result<chrono::DateTime<chrono_tz::Tz>> {
        let ts: i64 = ctx.get(0)?;
        let tz: String = ctx.get(1)?;
        let tz: chrono_tz::Tz = tz.parse().map_err(|_| {
            rusqlite::Error::UserFunctionError(format!("unknown time zone {tz}").into())
        })?;
        tz.timestamp_opt(ts, 0)
            .single()
            .ok_or_else(|| rusqlite::Error::UserFunctionError("time out of range".into()))
    }
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("vitals_day", 2, flags, |ctx| {
        Ok(local(ctx)?.format("%Y-%m-%d").to_string())
    })?;
    conn.create_scalar_function("vitals_hour", 2, flags, |ctx| {
        let t = local(ctx)?;
        let start = t.with_minute(0).and_then(|t| t.with_second(0)).unwrap_or(t);
        Ok(start.timestamp())
    })?;
    Ok(())
}

fn insert_sql() -> String {
    let marks = vec!["?"; COLUMNS.len()].join(",");
    format!(
        "INSERT INTO events ({}) VALUES ({marks})",
        COLUMNS.join(",")
    )
}

fn insert_row(stmt: &mut rusqlite::Statement<'_>, r: &EventRow<'_>) -> rusqlite::Result<usize> {
    stmt.execute(params![
        r.app_id,
        r.batch_id,
        r.seq,
        r.kind,
        r.ts,
        r.ts_ms,
        r.received_at,
        r.platform,
        r.version,
        r.build,
        r.device_model,
        r.device_class,
        r.os_version,
        r.os_major,
        r.screen_w,
        r.screen_h,
        f64::from(r.density),
        r.abi,
        r.rooted,
        r.emulator,
        r.net_family,
        r.carrier,
        r.install_id,
        r.user_id,
        r.user_key.as_ref(),
        r.device_id,
        r.client_ip,
        r.session_id,
        r.session_phase,
        r.session_status,
        r.duration_ms as i64,
        r.foreground_ms as i64,
        r.crash_id,
        r.exception_type,
        r.message,
        r.fatal,
        r.handled,
        r.payload.as_ref(),
        r.cpu_pct,
        r.memory_mb,
        r.package_bytes as i64,
        r.category,
        r.site,
        r.status_code,
        r.req_family,
        r.patch_id,
        r.stage,
        r.error_code,
        r.name,
        r.value,
        r.fingerprint.as_ref(),
        r.screen_class,
        r.bucket_a,
        r.bucket_b,
        r.environment,
        r.s_new,
        r.s_crash,
        r.s_abn
    ])
}

fn insert_tx(
    conn: &mut Connection,
    batches: &[AcceptedBatch],
    erased: &HashSet<(String, String)>,
) -> Result<InsertOutcome> {
    let mut out = InsertOutcome::default();
    let (keep, dup) = dedup_in_chunk(batches);
    out.duplicate_batches += dup;
    let tx = conn.transaction()?;
    {
        let mut known =
            tx.prepare_cached("SELECT 1 FROM batches WHERE app_id = ? AND batch_id = ?")?;
        let mut ledger = tx.prepare_cached(
            "INSERT INTO batches (app_id, batch_id, received_at, events) VALUES (?, ?, ?, ?)",
        )?;
        let mut ins = tx.prepare_cached(&insert_sql())?;
        for &i in &keep {
            let b = &batches[i];
            let exists: Option<i64> = known
                .query_row(params![b.app_id, b.batch.batch_id], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                out.duplicate_batches += 1;
                out.duplicate_rows += b.batch.events.len();
                continue;
            }
            let (mut rows, erased_n) = rows_from_batch(b, erased);
            out.erased_rows += erased_n;
            let derived = session_flags(&tx, &mut rows)?;
            install_owners(&tx, &rows)?;
            for r in rows.iter().chain(&derived) {
                insert_row(&mut ins, r)?;
            }
            ledger.execute(params![
                b.app_id,
                b.batch.batch_id,
                b.received_at_ms / 1000,
                b.batch.events.len() as i64
            ])?;
            out.rows += rows.len();
            out.batches += 1;
        }
    }
    tx.commit()?;
    Ok(out)
}

/// Each install's first user (crate::owners): the earliest login wins,
/// the smaller user id on a tie, whatever order batches arrive in.
fn install_owners(tx: &rusqlite::Transaction<'_>, rows: &[EventRow<'_>]) -> rusqlite::Result<()> {
    let logins = owners::logins(rows);
    if logins.is_empty() {
        return Ok(());
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO install_owner (app_id, anon_key, owner, ts) VALUES (?, ?, ?, ?)
         ON CONFLICT (app_id, anon_key) DO UPDATE SET owner = excluded.owner, ts = excluded.ts
         WHERE excluded.ts < install_owner.ts
            OR (excluded.ts = install_owner.ts AND excluded.owner < install_owner.owner)",
    )?;
    for l in logins {
        put.execute(params![l.app_id, l.anon_key, l.owner, l.ts])?;
    }
    Ok(())
}

/// Session identity (crate::sessions) inside the inserting transaction:
/// reads the ledger for the rows' sessions, flags the rows, writes the
/// changed states back. Returns the derived rows to insert.
fn session_flags<'a>(
    tx: &rusqlite::Transaction<'_>,
    rows: &mut [EventRow<'a>],
) -> rusqlite::Result<Vec<EventRow<'a>>> {
    let keys = sessions::keys(rows);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut get = tx.prepare_cached(
        "SELECT counted, crashed, abnormal FROM session_ledger
         WHERE app_id = ? AND install_id = ? AND session_id = ?",
    )?;
    let mut states = HashMap::with_capacity(keys.len());
    for k in keys {
        let st = get
            .query_row(params![k.0, k.1, k.2], |r| {
                Ok(SessionState {
                    counted: r.get::<_, i64>(0)? != 0,
                    crashed: r.get::<_, i64>(1)? != 0,
                    abnormal: r.get::<_, i64>(2)? != 0,
                })
            })
            .optional()?;
        if let Some(st) = st {
            states.insert(k, st);
        }
    }
    let (derived, changed) = sessions::assign(rows, &mut states);
    let mut put = tx.prepare_cached(
        "INSERT INTO session_ledger (app_id, install_id, session_id, counted, crashed, abnormal)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (app_id, install_id, session_id) DO UPDATE SET
           counted = excluded.counted, crashed = excluded.crashed, abnormal = excluded.abnormal",
    )?;
    for c in changed {
        let (k, s) = (c.key, c.state);
        put.execute(params![k.0, k.1, k.2, s.counted, s.crashed, s.abnormal])?;
    }
    Ok(derived)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<MigrationReport> {
        let mut report = self.migrate_tables().await?;
        if self.rebuild(true).await? {
            report.applied += 1;
        }
        Ok(report)
    }

    async fn rebuild_rollups(&self) -> Result<()> {
        self.rebuild(false).await.map(|_| ())
    }

    async fn aggregate(&self, q: &crate::query::Query) -> Result<Vec<crate::query::AggRow>> {
        let routed = match self.rollup_zone().await? {
            Some(z) => crate::rollup::route(crate::query::Dialect::Sqlite, q, &z),
            None => None,
        };
        match routed {
            Some(r) => {
                tracing::debug!(table = r.table.name(), sql = %r.sql, "aggregate from rollup");
                self.fetch_agg(q, r.sql).await
            }
            None => self.aggregate_raw(q).await,
        }
    }

    async fn aggregate_raw(&self, q: &crate::query::Query) -> Result<Vec<crate::query::AggRow>> {
        let sql = crate::query::render(crate::query::Dialect::Sqlite, q);
        self.fetch_agg(q, sql).await
    }

    async fn ping(&self) -> Result<()> {
        self.with(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn order_stats(&self, q: &crate::order_stats::OrderStats) -> Result<Vec<Option<f64>>> {
        if q.picks.is_empty() {
            return Ok(Vec::new());
        }
        let sql = crate::order_stats::render(crate::query::Dialect::Sqlite, q);
        let rows = self.fetch_agg(&crate::order_stats::shape(), sql).await?;
        Ok(crate::order_stats::collect(q.picks.len(), rows))
    }

    async fn insert(
        &self,
        batches: &[AcceptedBatch],
        erased: &HashSet<(String, String)>,
        _in_doubt: bool,
    ) -> Result<InsertOutcome> {
        // The transaction makes every attempt all-or-nothing, so there is
        // never a partial write to look for.
        let batches = batches.to_vec();
        let erased = erased.clone();
        self.with(move |c| insert_tx(c, &batches, &erased)).await
    }

    async fn erase_user(&self, app_id: &str, pseudonym: &str) -> Result<()> {
        let (a, p) = (app_id.to_string(), pseudonym.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM events WHERE app_id = ? AND user_id = ?",
                params![a, p],
            )?;
            c.execute(
                "DELETE FROM install_owner WHERE app_id = ? AND owner = ?",
                params![a, p],
            )?;
            Ok(())
        })
        .await
    }

    async fn kind_counts(&self, app_id: &str) -> Result<Vec<KindCount>> {
        let a = app_id.to_string();
        self.with(move |c| {
            let mut st = c.prepare(
                // Client events only: not the session rows the store derives.
                "SELECT kind, COUNT(*) FROM events WHERE app_id = ? AND (seq & 2147483648) = 0
                 GROUP BY kind ORDER BY kind",
            )?;
            let rows = st
                .query_map(params![a], |r| {
                    Ok(KindCount {
                        kind: r.get(0)?,
                        events: r.get::<_, i64>(1)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn release_summaries(&self, app_id: &str) -> Result<Vec<ReleaseSummary>> {
        let a = app_id.to_string();
        // Users are counted as everywhere else (crate::owners).
        let join = owners::join(
            crate::query::Dialect::Sqlite,
            "events",
            &crate::query::Filter {
                app_id: app_id.to_string(),
                ..Default::default()
            },
        );
        let unit = owners::unit(crate::query::Dialect::Sqlite);
        self.with(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT version, build,
                    SUM(kind = 'session' AND s_new = 1),
                    SUM(kind = 'session' AND s_crash = 1),
                    COUNT(DISTINCT {unit}),
                    COUNT(DISTINCT CASE WHEN (kind = 'crash' AND fatal = 1) OR s_crash = 1
                        THEN {unit} END),
                    SUM(kind = 'crash' AND fatal = 1),
                    MIN(ts), MAX(ts)
                 FROM events {join} WHERE app_id = ?
                 GROUP BY version, build
                 ORDER BY MIN(ts), version, build"
            ))?;
            let rows = st
                .query_map(params![a], |r| {
                    Ok(ReleaseSummary {
                        version: r.get(0)?,
                        build: r.get(1)?,
                        sessions: r.get::<_, i64>(2)? as u64,
                        crashed_sessions: r.get::<_, i64>(3)? as u64,
                        users: r.get::<_, i64>(4)? as u64,
                        crashed_users: r.get::<_, i64>(5)? as u64,
                        fatal_crashes: r.get::<_, i64>(6)? as u64,
                        first_seen: r.get(7)?,
                        last_seen: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn user_row_count(&self, app_id: &str, pseudonym: &str) -> Result<u64> {
        let (a, p) = (app_id.to_string(), pseudonym.to_string());
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM events WHERE app_id = ? AND user_id = ?",
                params![a, p],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    async fn crash(
        &self,
        app_id: &str,
        key: crate::CrashKey<'_>,
    ) -> Result<Option<crate::CrashSample>> {
        let (cond, args) = key.condition();
        let sql = format!(
            "SELECT ts, platform, version, build, device_model, os_version, exception_type,
                    message, payload FROM events
             WHERE app_id = ? AND kind = 'crash' AND {cond}
             ORDER BY ts DESC LIMIT 1"
        );
        let mut all = vec![app_id.to_string()];
        all.extend(args);
        self.with(move |c| {
            Ok(
                c.query_row(&sql, rusqlite::params_from_iter(all.iter()), |r| {
                    Ok(crate::CrashSample {
                        ts: r.get::<_, i64>(0)? as u32,
                        platform: r.get(1)?,
                        version: r.get(2)?,
                        build: r.get(3)?,
                        device_model: r.get(4)?,
                        os_version: r.get(5)?,
                        exception_type: r.get(6)?,
                        message: r.get(7)?,
                        payload: r.get(8)?,
                    })
                })
                .optional()?,
            )
        })
        .await
    }

    async fn batch_count(&self, app_id: &str) -> Result<u64> {
        let a = app_id.to_string();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM batches WHERE app_id = ?",
                params![a],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    async fn crashes_missing_files(
        &self,
        app_id: &str,
        after: Option<&crate::CrashRowKey>,
        limit: u32,
    ) -> Result<Vec<crate::StoredCrash>> {
        let (a, k) = (app_id.to_string(), after.cloned());
        self.with(move |c| crate::sqlite_crashes::missing_files(c, &a, k.as_ref(), limit))
            .await
    }

    async fn rewrite_crashes(&self, app_id: &str, rewrites: &[crate::CrashRewrite]) -> Result<()> {
        let (a, r) = (app_id.to_string(), rewrites.to_vec());
        self.with(move |c| crate::sqlite_crashes::rewrite(c, &a, &r))
            .await
    }
}

impl SqliteStore {
    async fn fetch_agg(
        &self,
        q: &crate::query::Query,
        sql: String,
    ) -> Result<Vec<crate::query::AggRow>> {
        let n_dims = q.group_by.len();
        let n_vals = q.measures.len().max(1);
        self.with(move |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st
                .query_map([], |r| {
                    let mut dims = Vec::with_capacity(n_dims);
                    for i in 0..n_dims {
                        dims.push(r.get::<_, Option<String>>(i)?.unwrap_or_default());
                    }
                    let mut values = Vec::with_capacity(n_vals);
                    for i in 0..n_vals {
                        values.push(r.get::<_, Option<f64>>(n_dims + i)?.unwrap_or(f64::NAN));
                    }
                    Ok(crate::query::AggRow { dims, values })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}
