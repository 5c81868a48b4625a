//! The ClickHouse backend: RowBinary inserts in large blocks over HTTP with
//! the `clickhouse` crate (validation off, which ClickHouse 18.16 needs).
//!
//! Exactly-once: event rows are written first, then the batch ids into the
//! `batches` ledger. A batch found in the ledger is skipped. When a previous
//! attempt may have stopped between the two writes (`in_doubt`), the events
//! table itself is asked which events (app, batch, seq) are already there and
//! only the others are written. Event-level, because an interrupted HTTP
//! insert whose stream ends on a row boundary is committed as a prefix.

mod cluster;
mod crashes;
mod rollups;
mod schema;
mod session_ledger;

use crate::row::{EventRow, rows_from_batch};
use crate::sessions;
use crate::{
    InsertOutcome, KindCount, MigrationReport, ReleaseSummary, Result, Store, StoreError,
    dedup_in_chunk,
};
use ::clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use vitals_protocol::AcceptedBatch;

pub(crate) use cluster::Layout;
pub use schema::{MIGRATIONS, latest_version};

/// Connection settings (`[clickhouse]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Cluster name from the servers' `<remote_servers>`; empty = one node.
    /// See [`cluster`](self) for the layout it implies.
    pub cluster: String,
    /// HTTP URLs of every cluster node; empty = discovered from
    /// `system.clusters` with the port of `url`.
    pub nodes: Vec<String>,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "vitals".into(),
            user: "default".into(),
            password: String::new(),
            cluster: String::new(),
            nodes: Vec::new(),
        }
    }
}

/// Telemetry in ClickHouse.
#[derive(Clone)]
pub struct ClickHouseStore {
    cfg: ClickHouseConfig,
    client: Client,
    /// Time zone of the rollups' local days (the platform's zone).
    timezone: String,
    /// Zone the stored rollups use: unknown until first asked; `Some(None)`
    /// when there are none.
    rollups: Arc<RwLock<Option<Option<String>>>>,
    /// Layout and nodes, discovered at first use.
    topology: Arc<RwLock<Option<Arc<cluster::Topology>>>>,
}

impl ClickHouseStore {
    pub fn new(cfg: ClickHouseConfig) -> Self {
        let mut client = base_client(&cfg).with_database(cfg.database.clone());
        if !cfg.cluster.trim().is_empty() {
            // Inserts into Distributed tables return once every shard has
            // its rows (see `cluster`).
            client = client.with_setting("insert_distributed_sync", "1");
        }
        ClickHouseStore {
            cfg,
            client,
            timezone: crate::DEFAULT_TIMEZONE.into(),
            rollups: Arc::default(),
            topology: Arc::default(),
        }
    }

    /// Sets the time zone of the rollups' days (default Asia/Shanghai);
    /// `migrate` rebuilds them when it changes.
    pub fn with_timezone(mut self, tz: impl Into<String>) -> Self {
        self.timezone = tz.into();
        self
    }

    /// The database name in use.
    pub fn database(&self) -> &str {
        &self.cfg.database
    }

    /// Drops the whole database, on every node of a cluster (tests and
    /// `vitals` tooling only).
    pub async fn drop_database(&self) -> Result<()> {
        let stmt = format!("DROP DATABASE IF EXISTS {}", ident(&self.cfg.database)?);
        for n in &self.topology().await?.nodes {
            n.admin.query(&stmt).execute().await?;
        }
        Ok(())
    }

    /// The cluster name, when in cluster mode.
    pub fn cluster(&self) -> Option<&str> {
        Some(self.cfg.cluster.trim()).filter(|c| !c.is_empty())
    }

    /// Runs one statement as is (tooling and tests, e.g. to simulate a
    /// partly written batch).
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.client.query(sql).execute().await?;
        Ok(())
    }

    async fn fetch_agg(
        &self,
        q: &crate::query::Query,
        sql: &str,
    ) -> Result<Vec<crate::query::AggRow>> {
        #[derive(Row, Deserialize)]
        struct R {
            d: Vec<String>,
            v: Vec<f64>,
        }
        let rows = self.client.query(sql).fetch_all::<R>().await?;
        let no_dims = q.group_by.is_empty();
        Ok(rows
            .into_iter()
            .map(|r| crate::query::AggRow {
                dims: if no_dims { Vec::new() } else { r.d },
                values: r.v,
            })
            .collect())
    }

    async fn current_version(client: &Client) -> Result<u32> {
        #[derive(Row, Deserialize)]
        struct V {
            v: u32,
        }
        let rows = client
            .query("SELECT toUInt32(max(version)) AS v FROM schema_migrations")
            .fetch_all::<V>()
            .await?;
        Ok(rows.first().map(|r| r.v).unwrap_or(0))
    }

    async fn ledger_has(&self, keys: &[(&str, &str)]) -> Result<HashSet<(String, String)>> {
        #[derive(Row, Deserialize)]
        struct K {
            app_id: String,
            batch_id: String,
        }
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT app_id, batch_id FROM batches WHERE (app_id, batch_id) IN ({})",
            tuple_list(keys)
        );
        let rows = self.client.query(&sql).fetch_all::<K>().await?;
        Ok(rows.into_iter().map(|k| (k.app_id, k.batch_id)).collect())
    }

    /// (app, batch, seq) of the events of these batches already stored.
    async fn events_present(
        &self,
        keys: &[(&str, &str)],
        min_ts: u32,
        max_ts: u32,
    ) -> Result<HashSet<(String, String, u32)>> {
        #[derive(Row, Deserialize)]
        struct P {
            app_id: String,
            batch_id: String,
            seq: u32,
        }
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT DISTINCT app_id, batch_id, seq FROM events \
             WHERE ts >= toDateTime({min_ts}) AND ts <= toDateTime({max_ts}) \
             AND (app_id, batch_id) IN ({})",
            tuple_list(keys)
        );
        let rows = self.client.query(&sql).fetch_all::<P>().await?;
        Ok(rows
            .into_iter()
            .map(|p| (p.app_id, p.batch_id, p.seq))
            .collect())
    }

    /// Waits until no mutation is running on any node.
    async fn wait_mutations(&self) -> Result<()> {
        #[derive(Row, Deserialize)]
        struct N {
            n: u64,
        }
        let sql = format!(
            "SELECT count() AS n FROM system.mutations WHERE database = '{}' AND is_done = 0",
            escape(&self.cfg.database)
        );
        let topo = self.topology().await?;
        for _ in 0..600 {
            let mut running = 0;
            for node in &topo.nodes {
                running += node.client.query(&sql).fetch_one::<N>().await?.n;
            }
            if running == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StoreError::Schema(
            "a deletion did not finish within 60 s".into(),
        ))
    }
}

fn base_client(cfg: &ClickHouseConfig) -> Client {
    Client::default()
        .with_url(cfg.url.clone())
        .with_user(cfg.user.clone())
        .with_password(cfg.password.clone())
        .with_validation(false)
}

/// Escapes a value for a single-quoted ClickHouse string literal.
fn escape(s: &str) -> String {
    crate::query::ch_escape(s)
}

fn tuple_list(keys: &[(&str, &str)]) -> String {
    keys.iter()
        .map(|(a, b)| format!("('{}','{}')", escape(a), escape(b)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A database name is an identifier we put into DDL: allow only safe ones.
fn ident(name: &str) -> Result<&str> {
    if !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(name)
    } else {
        Err(StoreError::Invalid(format!(
            "database name '{name}' must be 1-64 letters, digits or '_'"
        )))
    }
}

#[async_trait::async_trait]
impl Store for ClickHouseStore {
    fn backend(&self) -> &'static str {
        "clickhouse"
    }

    async fn migrate(&self) -> Result<MigrationReport> {
        let db = ident(&self.cfg.database)?;
        let topo = self.topology().await?;
        let (mut applied, mut version) = (0, 0);
        // Each node keeps its own ledger: a node added later, or one that
        // was down, is brought up to date by the next `migrate`.
        for n in &topo.nodes {
            n.admin
                .query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
                .execute()
                .await?;
            n.client.query(schema::LEDGER_DDL).execute().await?;
            let current = Self::current_version(&n.client).await?;
            version = version.max(latest_version().max(current));
            for m in MIGRATIONS.iter().filter(|m| m.version > current) {
                for &(table, column, def) in m.add_columns {
                    let mut tables = vec![topo.layout.local(table)];
                    if topo.layout.is_cluster() {
                        tables.push(table.to_string());
                    }
                    for t in tables {
                        let present: u64 = n
                            .client
                            .query(
                                "SELECT count() FROM system.columns
                                 WHERE database = currentDatabase() AND table = ? AND name = ?",
                            )
                            .bind(&t)
                            .bind(column)
                            .fetch_one()
                            .await?;
                        if present == 0 {
                            n.client
                                .query(&format!("ALTER TABLE {t} ADD COLUMN {column} {def}"))
                                .execute()
                                .await?;
                        }
                    }
                }
                for stmt in m.statements {
                    let stmt = schema::with_locals(stmt, |t| topo.layout.local(t));
                    for s in topo.layout.create(&stmt) {
                        n.client.query(&s).execute().await?;
                    }
                }
                n.client
                    .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())")
                    .bind(m.version)
                    .bind(m.name)
                    .execute()
                    .await?;
                tracing::info!(
                    node = %n.url,
                    version = m.version,
                    name = m.name,
                    "clickhouse migration applied"
                );
                applied += 1;
            }
        }
        if self.ensure_rollups().await? {
            applied += 1;
        }
        Ok(MigrationReport { version, applied })
    }

    async fn ping(&self) -> Result<()> {
        self.client.query("SELECT 1").execute().await?;
        Ok(())
    }

    async fn insert(
        &self,
        batches: &[AcceptedBatch],
        erased: &HashSet<(String, String)>,
        in_doubt: bool,
    ) -> Result<InsertOutcome> {
        let mut out = InsertOutcome::default();
        let (keep, dup_in_chunk) = dedup_in_chunk(batches);
        out.duplicate_batches += dup_in_chunk;
        let keys: Vec<(&str, &str)> = keep
            .iter()
            .map(|&i| {
                (
                    batches[i].app_id.as_str(),
                    batches[i].batch.batch_id.as_str(),
                )
            })
            .collect();
        let stored = self.ledger_has(&keys).await?;
        let fresh: Vec<&AcceptedBatch> = keep
            .iter()
            .map(|&i| &batches[i])
            .filter(|b| {
                let known = stored.contains(&(b.app_id.clone(), b.batch.batch_id.clone()));
                if known {
                    out.duplicate_batches += 1;
                    out.duplicate_rows += b.batch.events.len();
                }
                !known
            })
            .collect();
        if fresh.is_empty() {
            return Ok(out);
        }
        let mut rows: Vec<EventRow<'_>> = Vec::new();
        let mut ledger = Vec::with_capacity(fresh.len());
        for b in &fresh {
            let (r, erased_n) = rows_from_batch(b, erased);
            out.erased_rows += erased_n;
            ledger.push(LedgerRow {
                app_id: &b.app_id,
                batch_id: &b.batch.batch_id,
                received_at: u32::try_from(b.received_at_ms / 1000).unwrap_or(0),
                events: u32::try_from(b.batch.events.len()).unwrap_or(u32::MAX),
            });
            rows.extend(r);
        }
        let batch_ids: HashSet<&str> = fresh.iter().map(|b| b.batch.batch_id.as_str()).collect();
        let (derived, changed) = self.session_flags(&mut rows, &batch_ids).await?;
        rows.extend(derived);
        if in_doubt && !rows.is_empty() {
            let fresh_keys: Vec<(&str, &str)> = fresh
                .iter()
                .map(|b| (b.app_id.as_str(), b.batch.batch_id.as_str()))
                .collect();
            let min_ts = rows.iter().map(|r| r.ts).min().unwrap_or(0);
            let max_ts = rows.iter().map(|r| r.ts).max().unwrap_or(0);
            let present = self.events_present(&fresh_keys, min_ts, max_ts).await?;
            if !present.is_empty() {
                let before = rows.len();
                let mut skipped_events = 0;
                rows.retain(|r| {
                    let keep =
                        !present.contains(&(r.app_id.to_string(), r.batch_id.to_string(), r.seq));
                    if !keep && !sessions::is_derived(r.seq) {
                        skipped_events += 1;
                    }
                    keep
                });
                out.duplicate_rows += skipped_events;
                tracing::warn!(
                    skipped = before - rows.len(),
                    "rows of a partly written earlier attempt found; not written again"
                );
            }
        }
        self.write_session_ledger(&changed).await?;
        self.write_install_owners(&rows).await?;
        if !rows.is_empty() {
            let mut ins = self.client.insert::<EventRow<'_>>("events").await?;
            for r in &rows {
                ins.write(r).await?;
            }
            ins.end().await?;
        }
        let mut ins = self.client.insert::<LedgerRow<'_>>("batches").await?;
        for l in &ledger {
            ins.write(l).await?;
        }
        ins.end().await?;
        out.batches += fresh.len();
        out.rows += rows.iter().filter(|r| !sessions::is_derived(r.seq)).count();
        Ok(out)
    }

    async fn erase_user(&self, app_id: &str, pseudonym: &str) -> Result<()> {
        self.erase_from_rollups(app_id, pseudonym).await?;
        let events = self.local("events").await?;
        let owners = self.local("install_owner").await?;
        self.on_every_shard(&[
            format!(
                "ALTER TABLE {events} DELETE WHERE app_id = {} AND user_id = {}",
                cluster::quote(app_id),
                cluster::quote(pseudonym)
            ),
            format!(
                "ALTER TABLE {owners} DELETE WHERE app_id = {} AND owner = {}",
                cluster::quote(app_id),
                cluster::quote(pseudonym)
            ),
        ])
        .await?;
        self.wait_mutations().await
    }

    async fn kind_counts(&self, app_id: &str) -> Result<Vec<KindCount>> {
        #[derive(Row, Deserialize)]
        struct R {
            kind: String,
            events: u64,
        }
        let rows = self
            .client
            .query(
                // Client events only: not the session rows the store derives.
                "SELECT kind, count() AS events FROM events
                 WHERE app_id = ? AND bitAnd(seq, 2147483648) = 0
                 GROUP BY kind ORDER BY kind",
            )
            .bind(app_id)
            .fetch_all::<R>()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| KindCount {
                kind: r.kind,
                events: r.events,
            })
            .collect())
    }

    async fn release_summaries(&self, app_id: &str) -> Result<Vec<ReleaseSummary>> {
        #[derive(Row, Deserialize)]
        struct R {
            version: String,
            build: String,
            sessions: u64,
            crashed_sessions: u64,
            users: u64,
            crashed_users: u64,
            fatal_crashes: u64,
            first_seen: u32,
            last_seen: u32,
        }
        // Users are counted as everywhere else (crate::owners).
        let d = crate::query::Dialect::ClickHouse;
        let join = crate::owners::join(
            d,
            "events",
            &crate::query::Filter {
                app_id: app_id.to_string(),
                ..Default::default()
            },
        );
        let unit = crate::owners::unit(d);
        let rows = self
            .client
            .query(&format!(
                "SELECT version, build,
                    countIf(kind = 'session' AND s_new = 1) AS sessions,
                    countIf(kind = 'session' AND s_crash = 1) AS crashed_sessions,
                    uniqExact(cityHash64({unit})) AS users,
                    uniqExactIf(cityHash64({unit}), (kind = 'crash' AND fatal = 1) OR s_crash = 1) AS crashed_users,
                    countIf(kind = 'crash' AND fatal = 1) AS fatal_crashes,
                    toUInt32(min(ts)) AS first_seen,
                    toUInt32(max(ts)) AS last_seen
                 FROM events {join} WHERE app_id = ?
                 GROUP BY version, build
                 ORDER BY first_seen, version, build"
            ))
            .bind(app_id)
            .fetch_all::<R>()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ReleaseSummary {
                version: r.version,
                build: r.build,
                sessions: r.sessions,
                crashed_sessions: r.crashed_sessions,
                users: r.users,
                crashed_users: r.crashed_users,
                fatal_crashes: r.fatal_crashes,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
            })
            .collect())
    }

    async fn user_row_count(&self, app_id: &str, pseudonym: &str) -> Result<u64> {
        #[derive(Row, Deserialize)]
        struct N {
            n: u64,
        }
        Ok(self
            .client
            .query("SELECT count() AS n FROM events WHERE app_id = ? AND user_id = ?")
            .bind(app_id)
            .bind(pseudonym)
            .fetch_one::<N>()
            .await?
            .n)
    }

    async fn crash(
        &self,
        app_id: &str,
        key: crate::CrashKey<'_>,
    ) -> Result<Option<crate::CrashSample>> {
        #[derive(Row, Deserialize)]
        struct S {
            ts: u32,
            platform: String,
            version: String,
            build: String,
            device_model: String,
            os_version: String,
            exception_type: String,
            message: String,
            payload: String,
        }
        let (cond, args) = key.condition();
        let mut q = self
            .client
            .query(&format!(
                "SELECT ts, platform, version, build, device_model, os_version, exception_type,
                        message, payload FROM events
                 WHERE app_id = ? AND kind = 'crash' AND {cond}
                 ORDER BY ts DESC LIMIT 1"
            ))
            .bind(app_id);
        for a in &args {
            q = q.bind(a.as_str());
        }
        Ok(q.fetch_optional::<S>().await?.map(|s| crate::CrashSample {
            ts: s.ts,
            platform: s.platform,
            version: s.version,
            build: s.build,
            device_model: s.device_model,
            os_version: s.os_version,
            exception_type: s.exception_type,
            message: s.message,
            payload: s.payload,
        }))
    }

    async fn aggregate(&self, q: &crate::query::Query) -> Result<Vec<crate::query::AggRow>> {
        match self.routed(q).await? {
            Some(r) => {
                tracing::debug!(table = r.table.name(), sql = %r.sql, "aggregate from rollup");
                self.fetch_agg(q, &r.sql).await
            }
            None => self.aggregate_raw(q).await,
        }
    }

    async fn aggregate_raw(&self, q: &crate::query::Query) -> Result<Vec<crate::query::AggRow>> {
        let sql = crate::query::render(crate::query::Dialect::ClickHouse, q);
        tracing::debug!(%sql, "aggregate");
        self.fetch_agg(q, &sql).await
    }

    async fn rebuild_rollups(&self) -> Result<()> {
        self.rebuild().await
    }

    async fn order_stats(&self, q: &crate::order_stats::OrderStats) -> Result<Vec<Option<f64>>> {
        if q.picks.is_empty() {
            return Ok(Vec::new());
        }
        let sql = crate::order_stats::render(crate::query::Dialect::ClickHouse, q);
        let rows = self.fetch_agg(&crate::order_stats::shape(), &sql).await?;
        Ok(crate::order_stats::collect(q.picks.len(), rows))
    }

    async fn batch_count(&self, app_id: &str) -> Result<u64> {
        #[derive(Row, Deserialize)]
        struct N {
            n: u64,
        }
        Ok(self
            .client
            .query("SELECT count() AS n FROM batches WHERE app_id = ?")
            .bind(app_id)
            .fetch_one::<N>()
            .await?
            .n)
    }

    async fn crashes_missing_files(
        &self,
        app_id: &str,
        after: Option<&crate::CrashRowKey>,
        limit: u32,
    ) -> Result<Vec<crate::StoredCrash>> {
        self.missing_files(app_id, after, limit).await
    }

    async fn rewrite_crashes(&self, app_id: &str, rewrites: &[crate::CrashRewrite]) -> Result<()> {
        self.rewrite(app_id, rewrites).await
    }
}

#[derive(Row, Serialize)]
struct LedgerRow<'a> {
    app_id: &'a str,
    batch_id: &'a str,
    received_at: u32,
    events: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_backslashes() {
        assert_eq!(escape(r"a'b\c"), r"a\'b\\c");
        assert!(ident("vitals_test_1").is_ok());
        assert!(ident("x; DROP").is_err());
    }
}
