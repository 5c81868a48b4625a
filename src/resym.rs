//! Persisted re-symbolication: when a debug file arrives, stored crashes
//! that lacked it are symbolicated again from their raw form and rewritten
//! in the store — threads, notes, exception and fingerprint, so a crash
//! whose frames now read differently moves to its new group.
//!
//! An upload queues `(app, Uploaded)` through `DebugFileStore::on_upload`;
//! pending work is merged per app, so a zip of many files is one job. One
//! worker task runs one job at a time and one crash at a time on the
//! symbolicator's pool, paging through the app's crash rows that name a
//! missing file ([`Store::crashes_missing_files`]), keeping those the
//! upload helps (`Symbolicator::resolved_by`, what `is_affected` checks)
//! and rewriting each page with one [`Store::rewrite_crashes`].
//!
//! A rewritten crash no longer names the file, so a job can simply run
//! again: at start the server queues every app's stored files once (the
//! sweep), which picks up whatever a stopped job left behind.
//!
//! Several nodes sharing the debug-file directory: only the node that
//! stored a file runs its job. The other nodes see the file at their next
//! index check (`DebugFileStore` follows the directory) and use it for new
//! crashes, but run no job for it: `on_upload` fires for this process's
//! puts only, so two nodes never page through and rewrite the same crashes
//! for one upload (on ClickHouse each rewrite is a mutation). Crashes
//! another node symbolicated before it saw the file still name it, so the
//! uploading node runs the job a second time [`CATCH_UP_AFTER`] later. A
//! file written straight into the directory (`vitals upload-symbols
//! --data-dir`) has no uploading node: stored crashes that lacked it are
//! re-symbolicated by the next start's sweep. That sweep runs, with a
//! shared control plane, on one of the nodes starting together
//! ([`sweeps_here`]).

use crate::symbols::{
    CLIENT_FINGERPRINT_NOTE, SymbolEnricher, missing_files, release_label, stored_event,
};
use prometheus::{IntCounter, Registry};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use vitals_store::{ControlPlane, CrashRewrite, Store, StoreError, StoredCrash};
use vitals_symbolicator::{Status, Uploaded};

/// Why one crash could not be re-symbolicated.
#[derive(Debug, thiserror::Error)]
pub enum ResymError {
    #[error("attachment {0} unreadable")]
    Attachment(String),
    #[error("symbolicator: {0}")]
    Symbolicator(#[from] vitals_symbolicator::SymError),
    #[error("stored crash unreadable: {0}")]
    Payload(String),
    #[error("processing kept the raw form: {0}")]
    Raw(String),
}

/// Crash rows read per page (and rewritten per store call).
const PAGE: u32 = 100;
/// Wait before a job that failed on the store runs again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Runs of one queued job before it is left to the next upload or start.
const MAX_ATTEMPTS: u32 = 5;
/// Delay of the second run of an upload's job on the node that stored the
/// file: longer than it takes the other nodes to see the file (`[symbolicator]
/// index_refresh_ms`, 2 s, plus the NFS attribute cache, up to 60 s by
/// default) and to store the crashes they were symbolicating meanwhile.
pub const CATCH_UP_AFTER: Duration = Duration::from_secs(120);
/// Second runs of one app queued within this of each other are merged (a
/// zip of many files is one job then too).
const CATCH_UP_MERGE: Duration = Duration::from_secs(10);
/// Lease (control plane) of the start-up sweep.
pub const SWEEP_LEASE: &str = "resym-sweep";

/// Whether this node runs the start-up sweep. With one node (`shared`
/// false: the SQLite control plane) always. With a shared control plane only the node that takes the
/// [`SWEEP_LEASE`] for `ttl_secs` (`lease_secs`): nodes started together
/// sweep once, not once each (each sweep pages through and may rewrite the
/// same crashes). The lease is neither renewed nor released: a node
/// started after it expired sweeps again, which picks up what a job on a
/// node that died left behind. When the control plane does not answer the
/// node sweeps anyway: a second sweep costs work, a missing one leaves
/// crashes unsymbolicated until the next start.
pub fn sweeps_here(cp: &ControlPlane, shared: bool, holder: &str, ttl_secs: u64) -> bool {
    if !shared {
        return true;
    }
    match cp.try_lease(SWEEP_LEASE, holder, ttl_secs) {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "re-symbolication sweep lease not taken; sweeping anyway");
            true
        }
    }
}

struct Metrics {
    resymbolicated: IntCounter,
    regrouped: IntCounter,
    failed: IntCounter,
}

impl Metrics {
    fn new(registry: &Registry) -> Metrics {
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            if let Err(e) = registry.register(Box::new(c.clone())) {
                tracing::warn!(metric = name, error = %e, "metric not registered");
            }
            c
        };
        Metrics {
            resymbolicated: counter(
                "vitals_crashes_resymbolicated_total",
                "Stored crashes symbolicated again after a debug-file upload and rewritten",
            ),
            regrouped: counter(
                "vitals_crashes_regrouped_total",
                "Re-symbolicated crashes whose fingerprint (group) changed",
            ),
            failed: counter(
                "vitals_crash_resymbolication_failures_total",
                "Stored crashes an upload concerns that could not be re-symbolicated or rewritten",
            ),
        }
    }
}

/// What one job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobStats {
    /// Crashes the upload concerns.
    pub affected: u64,
    pub resymbolicated: u64,
    pub regrouped: u64,
    pub failed: u64,
    /// Processed again with the same result (nothing written).
    pub unchanged: u64,
}

enum Outcome {
    NotAffected,
    Unchanged,
    Rewrite {
        rewrite: CrashRewrite,
        regrouped: bool,
    },
}

#[derive(Default)]
struct Pending {
    uploaded: Uploaded,
    attempts: u32,
}

fn merge(into: &mut Uploaded, from: Uploaded) {
    into.debug_ids.extend(from.debug_ids);
    into.code_ids.extend(from.code_ids);
    into.mapping_uuids.extend(from.mapping_uuids);
    into.js_debug_ids.extend(from.js_debug_ids);
    into.js_artifacts.extend(from.js_artifacts);
}

/// Jobs to queue later: (when, app, files), in the order they were added.
#[derive(Default)]
struct Later(Vec<(tokio::time::Instant, String, Uploaded)>);

impl Later {
    /// Adds a job due at `at`, merged into the app's last one when that is
    /// due within [`CATCH_UP_MERGE`] before.
    fn push(&mut self, at: tokio::time::Instant, app: &str, uploaded: Uploaded) {
        if let Some((when, _, u)) = self
            .0
            .iter_mut()
            .rev()
            .find(|(_, a, _)| a == app)
            .filter(|(when, _, _)| at.saturating_duration_since(*when) <= CATCH_UP_MERGE)
        {
            *when = (*when).max(at);
            merge(u, uploaded);
            return;
        }
        self.0.push((at, app.to_string(), uploaded));
    }

    /// Takes the jobs due at `now`.
    fn due(&mut self, now: tokio::time::Instant) -> Vec<(String, Uploaded)> {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.0 = rest;
        due.into_iter().map(|(_, a, u)| (a, u)).collect()
    }

    fn next(&self) -> Option<tokio::time::Instant> {
        self.0.iter().map(|(at, _, _)| *at).min()
    }
}

/// The re-symbolication queue and its worker.
pub struct Resymbolicator {
    store: Arc<dyn Store>,
    enricher: Arc<SymbolEnricher>,
    pending: Mutex<BTreeMap<String, Pending>>,
    later: Mutex<Later>,
    wake: Notify,
    metrics: Metrics,
}

impl Resymbolicator {
    /// Counters go to `registry` (served at `/metrics`).
    pub fn new(
        store: Arc<dyn Store>,
        enricher: Arc<SymbolEnricher>,
        registry: &Registry,
    ) -> Arc<Self> {
        Arc::new(Resymbolicator {
            store,
            enricher,
            pending: Mutex::new(BTreeMap::new()),
            later: Mutex::new(Later::default()),
            wake: Notify::new(),
            metrics: Metrics::new(registry),
        })
    }

    /// Queues a job for every debug file newly stored through this process
    /// from now on, and its second run [`CATCH_UP_AFTER`] later (see the
    /// module documentation). Files other nodes store run no job here.
    pub fn watch_uploads(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        self.enricher.symbolicator.store().on_upload(move |meta| {
            if let Some(me) = me.upgrade() {
                me.enqueue(&meta.app, Uploaded::from_metas([meta]));
                me.enqueue_after(&meta.app, Uploaded::from_metas([meta]), CATCH_UP_AFTER);
            }
        });
    }

    /// Queues `uploaded` for `app` once `delay` has passed.
    pub fn enqueue_after(&self, app: &str, uploaded: Uploaded, delay: Duration) {
        if uploaded.is_empty() {
            return;
        }
        if let Ok(mut l) = self.later.lock() {
            l.push(tokio::time::Instant::now() + delay, app, uploaded);
        }
        // The worker recomputes how long to sleep.
        self.wake.notify_one();
    }

    /// Moves the delayed jobs now due into the queue; when the next one is.
    fn promote_due(&self) -> Option<tokio::time::Instant> {
        let (due, next) = match self.later.lock() {
            Ok(mut l) => (l.due(tokio::time::Instant::now()), l.next()),
            Err(_) => return None,
        };
        for (app, uploaded) in due {
            self.enqueue(&app, uploaded);
        }
        next
    }

    /// Queues `uploaded` for `app`, merged with what is already waiting.
    pub fn enqueue(&self, app: &str, uploaded: Uploaded) {
        self.enqueue_attempt(app, uploaded, 0);
    }

    fn enqueue_attempt(&self, app: &str, uploaded: Uploaded, attempts: u32) {
        if uploaded.is_empty() {
            return;
        }
        if let Ok(mut p) = self.pending.lock() {
            let e = p.entry(app.to_string()).or_default();
            merge(&mut e.uploaded, uploaded);
            e.attempts = e.attempts.max(attempts);
        }
        self.wake.notify_one();
    }

    /// Queues every stored debug file of `apps`: crashes a stopped job
    /// left behind (or stored while a file was arriving) get their turn.
    pub fn sweep(&self, apps: impl IntoIterator<Item = String>) {
        for app in apps {
            let files = self.enricher.symbolicator.store().list(&app);
            if !files.is_empty() {
                tracing::debug!(app = %app, files = files.len(), "re-symbolication sweep queued");
                self.enqueue(&app, Uploaded::from_metas(files.iter()));
            }
        }
    }

    fn take_next(&self) -> Option<(String, Pending)> {
        self.pending.lock().ok()?.pop_first()
    }

    /// Runs queued jobs until `stop` turns true.
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                let next_due = self.promote_due();
                let Some((app, job)) = self.take_next() else {
                    let delayed = async {
                        match next_due {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = delayed => {}
                        r = stop.changed() => if r.is_err() { break },
                    }
                    continue;
                };
                let started = Instant::now();
                match self.run_job(&app, &job.uploaded, &mut stop).await {
                    Ok(s) => tracing::info!(
                        app = %app, affected = s.affected, resymbolicated = s.resymbolicated,
                        regrouped = s.regrouped, failed = s.failed, unchanged = s.unchanged,
                        ms = started.elapsed().as_millis() as u64, "re-symbolication job done"
                    ),
                    Err(e) => {
                        let attempts = job.attempts + 1;
                        tracing::warn!(app = %app, error = %e, attempts, "re-symbolication job failed");
                        if attempts < MAX_ATTEMPTS {
                            let me = Arc::downgrade(&self);
                            tokio::spawn(async move {
                                tokio::time::sleep(RETRY_AFTER).await;
                                if let Some(me) = me.upgrade() {
                                    me.enqueue_attempt(&app, job.uploaded, attempts);
                                }
                            });
                        }
                    }
                }
            }
        })
    }

    /// One job: every crash row of `app` naming a missing file, page by
    /// page; stops early (after writing what is done) when `stop` turns.
    pub async fn run_job(
        &self,
        app: &str,
        uploaded: &Uploaded,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<JobStats, StoreError> {
        let mut stats = JobStats::default();
        let mut after = None;
        loop {
            let page = self
                .store
                .crashes_missing_files(app, after.as_ref(), PAGE)
                .await?;
            let last_page = page.len() < PAGE as usize;
            after = page.last().map(|c| c.key.clone());
            let mut rewrites = Vec::new();
            let mut regrouped = 0u64;
            for row in &page {
                if *stop.borrow() {
                    break;
                }
                let outcome = tokio::select! {
                    o = self.reprocess(app, uploaded, row) => o,
                    _ = stop.changed() => break,
                };
                match outcome {
                    Ok(Outcome::NotAffected) => {}
                    Ok(Outcome::Unchanged) => {
                        stats.affected += 1;
                        stats.unchanged += 1;
                    }
                    Ok(Outcome::Rewrite {
                        rewrite,
                        regrouped: r,
                    }) => {
                        stats.affected += 1;
                        tracing::debug!(app, crash_id = %row.crash_id, old = %row.fingerprint,
                            new = %rewrite.fingerprint, "crash re-symbolicated");
                        regrouped += u64::from(r);
                        rewrites.push(rewrite);
                    }
                    Err(e) => {
                        stats.affected += 1;
                        stats.failed += 1;
                        self.metrics.failed.inc();
                        tracing::warn!(app, crash_id = %row.crash_id, error = %e, "crash not re-symbolicated");
                    }
                }
            }
            if !rewrites.is_empty() {
                let n = rewrites.len() as u64;
                if let Err(e) = self.store.rewrite_crashes(app, &rewrites).await {
                    self.metrics.failed.inc_by(n);
                    tracing::warn!(app, rows = n, done = stats.resymbolicated, error = %e,
                        "re-symbolicated crashes not rewritten");
                    return Err(e);
                }
                stats.resymbolicated += n;
                stats.regrouped += regrouped;
                self.metrics.resymbolicated.inc_by(n);
                self.metrics.regrouped.inc_by(regrouped);
            }
            if last_page || *stop.borrow() {
                return Ok(stats);
            }
        }
    }

    /// One candidate row: affected by this upload? Then its new stored form.
    async fn reprocess(
        &self,
        app: &str,
        uploaded: &Uploaded,
        row: &StoredCrash,
    ) -> Result<Outcome, ResymError> {
        let doc: Value =
            serde_json::from_str(&row.payload).map_err(|e| ResymError::Payload(e.to_string()))?;
        let mut stored = stored_event(
            &row.crash_id,
            row.key.ts,
            &row.exception_type,
            &row.message,
            &doc,
        )?;
        let missing = missing_files(&stored.notes);
        let resolved = self
            .enricher
            .symbolicator
            .resolved_by(app, uploaded, &missing);
        if resolved.is_empty() {
            return Ok(Outcome::NotAffected);
        }
        tracing::debug!(app, crash_id = %row.crash_id,
            files = ?resolved.iter().map(|m| m.key()).collect::<Vec<_>>(), "crash affected by upload");
        if stored.notes.iter().any(|n| n == CLIENT_FINGERPRINT_NOTE) {
            stored.fingerprint = Some(row.fingerprint.clone());
        }
        let release = release_label(&row.key.version, &row.key.build);
        let (c, out) = self.enricher.resymbolicate(app, &release, &stored).await?;
        if let Status::Raw { reason } = &out.status {
            return Err(ResymError::Raw(reason.clone()));
        }
        let fingerprint = c
            .fingerprint
            .clone()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| row.fingerprint.clone());
        let payload = vitals_store::row::crash_payload(&c);
        if payload == row.payload
            && fingerprint == row.fingerprint
            && c.exception_type == row.exception_type
            && c.message == row.message
        {
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Rewrite {
            regrouped: fingerprint != row.fingerprint,
            rewrite: CrashRewrite {
                key: row.key.clone(),
                payload,
                fingerprint,
                exception_type: c.exception_type,
                message: c.message,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delayed_jobs_come_due_in_time_and_merge_per_app() {
        let t0 = tokio::time::Instant::now();
        let s = Duration::from_secs;
        let mut l = Later::default();
        l.push(t0 + s(120), "a", Uploaded::from_keys(["code:c1"]));
        l.push(t0 + s(121), "a", Uploaded::from_keys(["code:c2"]));
        l.push(t0 + s(121), "b", Uploaded::from_keys(["code:c3"]));
        l.push(t0 + s(200), "a", Uploaded::from_keys(["code:c4"]));
        assert_eq!(
            l.0.len(),
            3,
            "a's first two merged, b apart, a's late one apart"
        );
        assert_eq!(l.next(), Some(t0 + s(121)));
        assert!(
            l.due(t0 + s(120)).is_empty(),
            "merged job due at the later time"
        );
        let due = l.due(t0 + s(121));
        assert_eq!(
            due.iter()
                .map(|(a, u)| (a.as_str(), u.code_ids.len()))
                .collect::<Vec<_>>(),
            vec![("a", 2), ("b", 1)]
        );
        assert_eq!(l.next(), Some(t0 + s(200)));
        assert_eq!(l.due(t0 + s(500)).len(), 1);
        assert_eq!(l.next(), None);
    }

    #[test]
    fn one_of_the_nodes_sharing_a_control_plane_sweeps() {
        let dir = tempfile::tempdir().unwrap();
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).unwrap();
        // Shared: the first taker only, until the lease expires.
        assert!(sweeps_here(&cp, true, "a", 30));
        assert!(!sweeps_here(&cp, true, "b", 30), "both nodes swept");
        assert!(
            sweeps_here(&cp, true, "a", 30),
            "a restarted under its name"
        );
        // One node (SQLite): always, even while a lease of a previous
        // process of it is live.
        assert!(sweeps_here(&cp, false, "b", 30));
    }

    #[test]
    fn merge_unites_uploads() {
        let mut a = Uploaded::from_keys(["debug:67E9247C-814E-392B-A027-DBDE6748FCBF"]);
        merge(
            &mut a,
            Uploaded::from_keys([
                "code:abcdef",
                "proguard:3828bd45-950f-5e77-9737-b6b3a1d80299",
            ]),
        );
        assert_eq!(
            (a.debug_ids.len(), a.code_ids.len(), a.mapping_uuids.len()),
            (1, 1, 1)
        );
    }
}
