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

use crate::symbols::{
    CLIENT_FINGERPRINT_NOTE, SymbolEnricher, missing_files, release_label, stored_event,
};
use prometheus::{IntCounter, Registry};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use vitals_store::{CrashRewrite, Store, StoreError, StoredCrash};
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

/// The re-symbolication queue and its worker.
pub struct Resymbolicator {
    store: Arc<dyn Store>,
    enricher: Arc<SymbolEnricher>,
    pending: Mutex<BTreeMap<String, Pending>>,
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
            wake: Notify::new(),
            metrics: Metrics::new(registry),
        })
    }

    /// Queues a job for every debug file newly stored from now on.
    pub fn watch_uploads(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        self.enricher.symbolicator.store().on_upload(move |meta| {
            if let Some(me) = me.upgrade() {
                me.enqueue(&meta.app, Uploaded::from_metas([meta]));
            }
        });
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
                let Some((app, job)) = self.take_next() else {
                    tokio::select! {
                        _ = self.wake.notified() => {}
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
