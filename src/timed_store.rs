//! Every call to the telemetry store with a deadline (issue #22: a hung
//! store stops ingest).
//!
//! A ClickHouse server that is frozen (SIGSTOP: the kernel still completes
//! connections into its backlog), black-holed or holding half-open
//! connections never answers, and an HTTP client without a deadline waits
//! for ever. [`TimedStore`] wraps the configured backend and bounds each
//! call by its kind's timeout (`[store]` in the config file): a call that
//! runs out is dropped (which closes its connection) and fails with an
//! I/O error of kind `TimedOut`, which callers already treat as "store
//! unavailable" (the writer retries in doubt, the APIs answer 503).
//!
//! The schema migration runs in the background ([`spawn_migration`]):
//! start-up waits for it at most `startup_wait_ms`, then listens anyway, so
//! ingest goes into the spool whatever the store does. Until the migration
//! has succeeded, [`Store::insert`] is refused at once (the writer keeps
//! the batches in the spool and retries), so nothing is written into a
//! schema that is being created or changed.

use crate::config::StoreSection;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use vitals_protocol::AcceptedBatch;
use vitals_store::{
    CrashKey, CrashRewrite, CrashRowKey, CrashSample, InsertOutcome, KindCount, MigrationReport,
    ReleaseSummary, Result, Store, StoreError, StoredCrash, order_stats, query,
};

/// The timeouts of one store call, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub ping: Duration,
    pub query: Duration,
    pub write: Duration,
    pub migrate: Duration,
}

impl From<&StoreSection> for Timeouts {
    fn from(s: &StoreSection) -> Self {
        Timeouts {
            ping: Duration::from_millis(s.ping_timeout_ms),
            query: Duration::from_millis(s.query_timeout_ms),
            write: Duration::from_millis(s.write_timeout_ms),
            migrate: Duration::from_millis(s.migrate_timeout_ms),
        }
    }
}

/// A store whose every call has a deadline, and whose inserts wait for the
/// schema migration.
pub struct TimedStore {
    inner: Arc<dyn Store>,
    t: Timeouts,
    /// True once a migration has succeeded in this process.
    migrated: watch::Sender<bool>,
}

/// The error of a call that ran out of time.
fn timed_out(op: &'static str, after: Duration) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the store gave no answer to {op} within {} ms",
            after.as_millis()
        ),
    ))
}

/// Whether `e` is a call that ran out of time.
pub fn is_timeout(e: &StoreError) -> bool {
    matches!(e, StoreError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

async fn bounded<T>(
    op: &'static str,
    after: Duration,
    f: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(after, f).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(
                op,
                timeout_ms = after.as_millis() as u64,
                "store call timed out"
            );
            Err(timed_out(op, after))
        }
    }
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>, t: Timeouts) -> Self {
        TimedStore {
            inner,
            t,
            migrated: watch::channel(false).0,
        }
    }

    /// Whether the schema migration has succeeded in this process.
    pub fn migrated(&self) -> bool {
        *self.migrated.borrow()
    }

    /// Waits until the migration has succeeded, at most `wait`; returns
    /// whether it has.
    pub async fn wait_migrated(&self, wait: Duration) -> bool {
        let mut rx = self.migrated.subscribe();
        matches!(
            tokio::time::timeout(wait, rx.wait_for(|done| *done)).await,
            Ok(Ok(_))
        )
    }
}

/// Runs the schema migration until it succeeds, each attempt bounded by
/// a ping and the migrate timeout, with back-off between attempts (1 s
/// doubling to 5 s, the writer's own retry bound). Ends when it succeeds
/// or `stop` turns true.
pub fn spawn_migration(
    store: Arc<TimedStore>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            // A cheap ping first: an attempt on a store that does not
            // answer would wait out the (long) migrate timeout. (Only its
            // timing out counts: a ping that fails at once, e.g. because
            // the database is not created yet, is no reason not to
            // migrate.) Shutting down does not wait for an attempt either.
            let attempt = tokio::select! {
                r = async {
                    match store.ping().await {
                        Err(e) if is_timeout(&e) => Err(e),
                        _ => store.migrate().await,
                    }
                } => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            match attempt {
                Ok(r) => {
                    tracing::info!(
                        backend = store.backend(),
                        version = r.version,
                        applied = r.applied,
                        "schema ready"
                    );
                    return;
                }
                Err(e) => tracing::error!(
                    backend = store.backend(),
                    error = %e,
                    retry_ms = backoff.as_millis() as u64,
                    "schema migration failed; ingest continues into the spool"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

#[async_trait::async_trait]
impl Store for TimedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn migrate(&self) -> Result<MigrationReport> {
        let r = bounded("migrate", self.t.migrate, self.inner.migrate()).await?;
        self.migrated.send_replace(true);
        Ok(r)
    }

    async fn ping(&self) -> Result<()> {
        bounded("ping", self.t.ping, self.inner.ping()).await
    }

    async fn insert(
        &self,
        batches: &[AcceptedBatch],
        erased: &HashSet<(String, String)>,
        in_doubt: bool,
    ) -> Result<InsertOutcome> {
        if !self.migrated() {
            return Err(StoreError::Schema(
                "the schema migration has not completed yet; batches stay in the spool".into(),
            ));
        }
        bounded(
            "insert",
            self.t.write,
            self.inner.insert(batches, erased, in_doubt),
        )
        .await
    }

    async fn erase_user(&self, app_id: &str, pseudonym: &str) -> Result<()> {
        bounded(
            "erase_user",
            self.t.write,
            self.inner.erase_user(app_id, pseudonym),
        )
        .await
    }

    async fn kind_counts(&self, app_id: &str) -> Result<Vec<KindCount>> {
        bounded("kind_counts", self.t.query, self.inner.kind_counts(app_id)).await
    }

    async fn release_summaries(&self, app_id: &str) -> Result<Vec<ReleaseSummary>> {
        bounded(
            "release_summaries",
            self.t.query,
            self.inner.release_summaries(app_id),
        )
        .await
    }

    async fn user_row_count(&self, app_id: &str, pseudonym: &str) -> Result<u64> {
        bounded(
            "user_row_count",
            self.t.query,
            self.inner.user_row_count(app_id, pseudonym),
        )
        .await
    }

    async fn batch_count(&self, app_id: &str) -> Result<u64> {
        bounded("batch_count", self.t.query, self.inner.batch_count(app_id)).await
    }

    async fn aggregate(&self, q: &query::Query) -> Result<Vec<query::AggRow>> {
        bounded("aggregate", self.t.query, self.inner.aggregate(q)).await
    }

    async fn aggregate_raw(&self, q: &query::Query) -> Result<Vec<query::AggRow>> {
        bounded("aggregate_raw", self.t.query, self.inner.aggregate_raw(q)).await
    }

    async fn order_stats(&self, q: &order_stats::OrderStats) -> Result<Vec<Option<f64>>> {
        bounded("order_stats", self.t.query, self.inner.order_stats(q)).await
    }

    async fn rebuild_rollups(&self) -> Result<()> {
        bounded(
            "rebuild_rollups",
            self.t.migrate,
            self.inner.rebuild_rollups(),
        )
        .await
    }

    async fn crash_sample(
        &self,
        app_id: &str,
        fingerprint: &str,
        version: Option<&str>,
    ) -> Result<Option<CrashSample>> {
        bounded(
            "crash_sample",
            self.t.query,
            self.inner.crash_sample(app_id, fingerprint, version),
        )
        .await
    }

    async fn crash(&self, app_id: &str, key: CrashKey<'_>) -> Result<Option<CrashSample>> {
        bounded("crash", self.t.query, self.inner.crash(app_id, key)).await
    }

    async fn crashes_missing_files(
        &self,
        app_id: &str,
        after: Option<&CrashRowKey>,
        limit: u32,
    ) -> Result<Vec<StoredCrash>> {
        bounded(
            "crashes_missing_files",
            self.t.query,
            self.inner.crashes_missing_files(app_id, after, limit),
        )
        .await
    }

    async fn rewrite_crashes(&self, app_id: &str, rewrites: &[CrashRewrite]) -> Result<()> {
        bounded(
            "rewrite_crashes",
            self.t.write,
            self.inner.rewrite_crashes(app_id, rewrites),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that never answers (a frozen server).
    struct Hung;

    #[async_trait::async_trait]
    impl Store for Hung {
        fn backend(&self) -> &'static str {
            "hung"
        }
        async fn migrate(&self) -> Result<MigrationReport> {
            std::future::pending().await
        }
        async fn ping(&self) -> Result<()> {
            std::future::pending().await
        }
        async fn insert(
            &self,
            _: &[AcceptedBatch],
            _: &HashSet<(String, String)>,
            _: bool,
        ) -> Result<InsertOutcome> {
            std::future::pending().await
        }
        async fn erase_user(&self, _: &str, _: &str) -> Result<()> {
            std::future::pending().await
        }
        async fn kind_counts(&self, _: &str) -> Result<Vec<KindCount>> {
            std::future::pending().await
        }
        async fn release_summaries(&self, _: &str) -> Result<Vec<ReleaseSummary>> {
            std::future::pending().await
        }
        async fn user_row_count(&self, _: &str, _: &str) -> Result<u64> {
            std::future::pending().await
        }
        async fn batch_count(&self, _: &str) -> Result<u64> {
            std::future::pending().await
        }
        async fn aggregate(&self, _: &query::Query) -> Result<Vec<query::AggRow>> {
            std::future::pending().await
        }
        async fn aggregate_raw(&self, _: &query::Query) -> Result<Vec<query::AggRow>> {
            std::future::pending().await
        }
        async fn order_stats(&self, _: &order_stats::OrderStats) -> Result<Vec<Option<f64>>> {
            std::future::pending().await
        }
        async fn rebuild_rollups(&self) -> Result<()> {
            std::future::pending().await
        }
        async fn crash(&self, _: &str, _: CrashKey<'_>) -> Result<Option<CrashSample>> {
            std::future::pending().await
        }
        async fn crashes_missing_files(
            &self,
            _: &str,
            _: Option<&CrashRowKey>,
            _: u32,
        ) -> Result<Vec<StoredCrash>> {
            std::future::pending().await
        }
        async fn rewrite_crashes(&self, _: &str, _: &[CrashRewrite]) -> Result<()> {
            std::future::pending().await
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timed() -> TimedStore {
        TimedStore::new(
            Arc::new(Hung),
            Timeouts {
                ping: ms(50),
                query: ms(60),
                write: ms(70),
                migrate: ms(80),
            },
        )
    }

    #[tokio::test]
    async fn every_call_to_a_hung_store_ends_within_its_timeout() {
        let s = timed();
        let t = std::time::Instant::now();
        let e = s.ping().await.unwrap_err();
        assert!(
            is_timeout(&e) && e.to_string().contains("ping within 50 ms"),
            "{e}"
        );
        assert!(t.elapsed() < ms(1000));
        assert!(is_timeout(&s.kind_counts("a").await.unwrap_err()));
        assert!(is_timeout(&s.erase_user("a", "p").await.unwrap_err()));
        assert!(is_timeout(&s.rebuild_rollups().await.unwrap_err()));
        let e = s.migrate().await.unwrap_err();
        assert!(is_timeout(&e), "{e}");
        assert!(
            !s.migrated(),
            "a failed migration leaves the schema pending"
        );
        assert!(!s.wait_migrated(ms(20)).await);
    }

    #[tokio::test]
    async fn inserts_wait_for_the_migration() {
        let s = timed();
        let e = s.insert(&[], &HashSet::new(), false).await.unwrap_err();
        assert!(matches!(e, StoreError::Schema(_)), "{e}");
        // Once migrated, the insert reaches the (hung) backend and times out.
        s.migrated.send_replace(true);
        let e = s.insert(&[], &HashSet::new(), false).await.unwrap_err();
        assert!(is_timeout(&e), "{e}");
    }
}
