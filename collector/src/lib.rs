//! The vitals collector: `POST /api/v1/batch` and its operational
//! endpoints, as a library so tests drive it in-process.
//!
//! Request path (no blocking I/O on the HTTP threads): read the body with a
//! size cap → verify key, timestamp, HMAC and nonce (in memory, then claimed
//! in the control plane's replay ledger while the body is decompressed with
//! a cap) → decode and validate → check the app, whether the batch was
//! acknowledged before (memory, then the ledger) and its rate limit → apply
//! privacy rules → append to the spool and wait for its fsync → record the
//! batch in the ledger → `202`. Every ledger wait is bounded (`ledger.rs`).
//! The writer task ([`writer`]) moves spooled batches into the [`Store`].

mod api;
mod attachments;
pub mod auth;
pub mod config;
// Public for the fuzz targets (`fuzz/`).
pub mod decode;
pub mod error;
mod ledger;
pub mod metrics;
pub mod privacy;
mod ratelimit;
mod recent;
pub mod sentry;
pub mod spool;
mod writer;

pub use config::CollectorConfig;
pub use error::ApiError;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use vitals_i18n::Lang;
use vitals_store::{ControlPlane, Store};

/// Errors starting the collector.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("spool: {0}")]
    Spool(#[from] spool::SpoolError),
    #[error("control plane: {0}")]
    Store(#[from] vitals_store::StoreError),
    #[error("invalid privacy pattern: {0}")]
    Pattern(#[from] regex::Error),
    #[error("replay ledger thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Shared state of a running collector.
pub struct Inner {
    pub cfg: CollectorConfig,
    pub cp: Arc<ControlPlane>,
    pub store: Arc<dyn Store>,
    pub spool: spool::Spool,
    pub metrics: metrics::Metrics,
    pub lang: Lang,
    /// Where crash attachments (minidumps…) are written.
    pub attachments_dir: std::path::PathBuf,
    /// Optional step between spool and store (symbolication).
    enricher: Option<Arc<dyn vitals_store::Enricher>>,
    keys: auth::KeyCache,
    nonces: auth::NonceCache,
    /// Nonces and acknowledged batch ids in the control plane.
    ledger: ledger::Ledger,
    limiter: ratelimit::RateLimiter,
    scrubber: privacy::Scrubber,
    erased: RwLock<Arc<HashSet<(String, String)>>>,
    /// (app, batch id) digests acknowledged lately.
    recent: Mutex<recent::Recent>,
    store_ok: AtomicBool,
}

const RECENT_BATCH_IDS: usize = 200_000;

impl Inner {
    fn erased_snapshot(&self) -> Arc<HashSet<(String, String)>> {
        self.erased.read().map(|e| e.clone()).unwrap_or_default()
    }

    fn refresh_control(&self) {
        if let Err(e) = self.keys.refresh() {
            tracing::warn!(error = %e, "could not refresh ingest keys");
        }
        match self.cp.erasures() {
            Ok(set) => {
                if let Ok(mut e) = self.erased.write() {
                    *e = Arc::new(set);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not refresh erasures"),
        }
    }

    /// Verifies a request signed like ingest (key, timestamp window, HMAC,
    /// nonce) with this collector's key and nonce caches; used by the
    /// client-config endpoint (`control/`).
    pub fn verify_signed(
        &self,
        h: &auth::SignedHeaders<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<vitals_store::control::App, ApiError> {
        auth::verify(
            &self.keys,
            &self.nonces,
            self.cfg.auth.max_skew_secs,
            h,
            body,
            now,
        )
    }

    /// Claims a verified request's nonce in the control plane, which
    /// remembers it across restarts and nodes (the in-memory cache has
    /// accepted it already). Start it early, wait for it before acting.
    fn claim_nonce(&self, key_id: &str, nonce: &str) -> ledger::Pending {
        self.ledger.claim(auth::nonce_digest(key_id, nonce))
    }

    /// True if this (app, batch id) was acknowledged within the batch
    /// window: by this process (memory), or by any process on this control
    /// plane, before a restart too (the ledger). When the ledger cannot
    /// answer in time, memory alone answers.
    async fn seen_before(&self, app: &str, batch_id: &str, now: i64) -> bool {
        let d = batch_digest(app, batch_id);
        let known = self
            .recent
            .lock()
            .map(|mut g| g.contains(&d, now))
            .unwrap_or(false);
        if known {
            return true;
        }
        let seen = self.ledger.lookup(d).wait().await == Some(true);
        if seen && let Ok(mut g) = self.recent.lock() {
            g.insert(d, now);
        }
        seen
    }

    /// Records an acknowledged batch, after its spool append succeeded
    /// (recorded first, a failed append would make the retry a "duplicate"
    /// and lose the batch); returns once the control plane has it, or its
    /// deadline passed.
    async fn acknowledged(&self, app: &str, batch_id: &str, now: i64) {
        let d = batch_digest(app, batch_id);
        if let Ok(mut g) = self.recent.lock() {
            g.insert(d, now);
        }
        self.ledger.record(d).wait().await;
    }
}

/// The digest of an (app, batch id): the ledger's key and the cache's.
fn batch_digest(app: &str, batch_id: &str) -> recent::Digest {
    recent::digest(&["batch", app, batch_id])
}

/// Registers the collector's routes for shared state (for servers that
/// build their `App` in a factory closure).
pub fn configure_routes(inner: Arc<Inner>, cfg: &mut actix_web::web::ServiceConfig) {
    api::configure(inner, cfg);
}

/// A running collector: state plus its background tasks.
pub struct Collector {
    pub inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<()>,
    refresher: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Opens the spool under `data_dir` (or the configured directory),
    /// replays what it holds, and starts the writer.
    pub fn start(
        cfg: CollectorConfig,
        data_dir: &Path,
        cp: Arc<ControlPlane>,
        store: Arc<dyn Store>,
        lang: Lang,
    ) -> Result<Collector, CollectorError> {
        Self::start_with(cfg, data_dir, cp, store, lang, None)
    }

    /// Like [`Collector::start`], with an enrichment step (the
    /// symbolicator) between the spool and the store.
    pub fn start_with(
        cfg: CollectorConfig,
        data_dir: &Path,
        cp: Arc<ControlPlane>,
        store: Arc<dyn Store>,
        lang: Lang,
        enricher: Option<Arc<dyn vitals_store::Enricher>>,
    ) -> Result<Collector, CollectorError> {
        let dir = cfg
            .spool
            .dir
            .clone()
            .unwrap_or_else(|| data_dir.join("spool"));
        let (spool, recovery, start) =
            spool::Spool::open(&dir, cfg.spool.max_bytes, cfg.spool.segment_bytes)?;
        tracing::info!(dir = %dir.display(), segments = recovery.segments, records = recovery.records,
            torn_bytes = recovery.torn_bytes, quarantined_bytes = recovery.quarantined_bytes,
            quarantined_regions = recovery.quarantined_regions, "spool opened");
        let metrics = metrics::Metrics::new();
        metrics
            .spool_quarantined_bytes
            .inc_by(recovery.quarantined_bytes);
        metrics.spool_bytes.set(spool.bytes() as i64);
        let nonce_ttl = i64::from(cfg.auth.max_skew_secs) * 2;
        let ledger = ledger::Ledger::start(cp.clone(), &cfg.replay, nonce_ttl, &metrics)?;
        let batch_window = i64::try_from(cfg.replay.batch_window_secs).unwrap_or(i64::MAX / 2);
        let inner = Arc::new(Inner {
            keys: auth::KeyCache::new(cp.clone())?,
            ledger,
            nonces: auth::NonceCache::new(nonce_ttl, cfg.auth.max_nonces),
            limiter: ratelimit::RateLimiter::new(
                cfg.rate_limit.events_per_sec,
                cfg.rate_limit.burst_events,
            ),
            scrubber: privacy::Scrubber::new(&cfg.privacy.extra_patterns)?,
            erased: RwLock::new(Arc::new(cp.erasures()?)),
            recent: Mutex::new(recent::Recent::new(Some(batch_window), RECENT_BATCH_IDS)),
            store_ok: AtomicBool::new(true),
            attachments_dir: data_dir.join("attachments"),
            enricher,
            cfg,
            cp,
            store,
            spool,
            metrics,
            lang,
        });
        let (stop, stop_rx) = watch::channel(false);
        let reader = inner.spool.reader(start);
        let writer = tokio::spawn(writer::run(
            inner.clone(),
            reader,
            recovery.first_new,
            stop_rx.clone(),
        ));
        let refresher = {
            let inner = inner.clone();
            let mut stop_rx = stop_rx;
            let every = std::time::Duration::from_secs(inner.cfg.auth.key_refresh_secs.max(1));
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop_rx.changed() => return,
                    }
                    let i = inner.clone();
                    let _ = tokio::task::spawn_blocking(move || i.refresh_control()).await;
                }
            })
        };
        Ok(Collector {
            inner,
            stop,
            writer,
            refresher,
        })
    }

    /// Registers the collector's routes.
    pub fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        api::configure(self.inner.clone(), cfg);
    }

    /// Stops the writer after it has drained the spool (or given up because
    /// the store is down; the spool keeps the rest for the next start).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.writer.await;
        self.refresher.abort();
    }
}
