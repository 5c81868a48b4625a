//! The `Symbolicator` service: owns the store, caches and grouping state,
//! and runs symbolication on a CPU pool of its own (a fixed set of threads
//! fed through a bounded queue), never on the caller's I/O threads.

use crate::android::{self, Retracer};
use crate::apple;
use crate::cache::{CacheLimits, DerivedCaches};
use crate::error::{Result, SymError};
use crate::grouping::{GroupOverrides, GroupingRules, SplitBy};
use crate::js::JsSymbolizer;
use crate::microdump;
use crate::minidump;
use crate::model::{Status, SymbolicatedCrash};
use crate::native::NativeSymbolizer;
use crate::process::Processor;
use crate::raw::{self, RawCrash};
use crate::store::{DebugFileStore, check_app, write_atomic};
use base64::Engine;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use vitals_protocol::CrashEvent;

/// Configuration of the symbolicator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root directory of the debug-file store and caches.
    pub root: PathBuf,
    /// Largest single debug file accepted.
    pub max_file_bytes: u64,
    /// Cache budgets.
    pub cache: CacheLimits,
    /// Worker threads (CPU pool size).
    pub workers: usize,
    /// Queued jobs beyond which `symbolicate` waits for room.
    pub queue: usize,
    /// Per-crash time budget; past it the crash keeps its raw form.
    pub timeout: Duration,
    /// Fingerprint rules.
    pub rules: GroupingRules,
    /// How often a lookup checks its app's debug-file directory for files
    /// stored or deleted by other processes (other nodes on shared
    /// storage); None = never (see `DebugFileStore::with_refresh`).
    pub index_refresh: Option<Duration>,
}

impl Config {
    /// Defaults under `root`: 2 GiB files, 256 MiB memory / 4 GiB disk
    /// caches, workers = CPUs − 1 (at least 1), 30 s per crash, the index
    /// checked against the disk every 2 s.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Config {
            root: root.into(),
            max_file_bytes: 2 << 30,
            cache: CacheLimits::default(),
            workers: cpus.saturating_sub(1).max(1),
            queue: 256,
            timeout: Duration::from_secs(30),
            rules: GroupingRules::default(),
            index_refresh: Some(crate::store::DEFAULT_REFRESH),
        }
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The service. Share it as `Arc<Symbolicator>`.
pub struct Symbolicator {
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
    native: NativeSymbolizer,
    retracer: Retracer,
    js: JsSymbolizer,
    rules: RwLock<GroupingRules>,
    overrides: RwLock<HashMap<String, GroupOverrides>>,
    grouping_dir: PathBuf,
    jobs: Mutex<Option<SyncSender<Job>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    timeout: Duration,
}

impl std::fmt::Debug for Symbolicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolicator")
            .field("store", &self.store)
            .finish()
    }
}

/// Kind of a raw payload in `CrashEvent::raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// `minidump:` + base64 of a minidump.
    Minidump,
    /// Breakpad microdump text (`-----BEGIN BREAKPAD MICRODUMP-----`, often
    /// with logcat prefixes).
    Microdump,
    /// Apple `.crash` text.
    AppleText,
    /// Apple `.ips` JSON.
    AppleIps,
    /// KSCrash / Sentry JSON event.
    AppleJson,
    /// Android tombstone.
    Tombstone,
    /// Java stack trace text (`at a.b.c(File:1)` lines).
    JavaTrace,
}

/// Guesses the kind of a raw payload.
pub fn payload_kind(raw: &str) -> Option<PayloadKind> {
    let t = raw.trim_start();
    if t.starts_with("minidump:") {
        Some(PayloadKind::Minidump)
    } else if microdump::looks_like_microdump(t) {
        Some(PayloadKind::Microdump)
    } else if apple::looks_like_ips(t) {
        Some(PayloadKind::AppleIps)
    } else if t.starts_with('{') && t.contains("\"debug_meta\"") {
        Some(PayloadKind::AppleJson)
    } else if t.contains("Incident Identifier:")
        || (t.contains("Exception Type:") && t.contains("Binary Images:"))
    {
        Some(PayloadKind::AppleText)
    } else if t.contains("backtrace:") && t.contains("#00 pc") {
        Some(PayloadKind::Tombstone)
    } else if t
        .lines()
        .any(|l| l.trim_start().starts_with("at ") && l.contains('('))
    {
        Some(PayloadKind::JavaTrace)
    } else {
        None
    }
}

impl Symbolicator {
    /// Opens the store and caches and starts the worker threads.
    pub fn start(config: Config) -> Result<Arc<Self>> {
        let store = Arc::new(
            DebugFileStore::open(&config.root, config.max_file_bytes)?
                .with_refresh(config.index_refresh),
        );
        let caches = Arc::new(DerivedCaches::open(store.cache_dir(), config.cache)?);
        let grouping_dir = config.root.join("grouping");
        std::fs::create_dir_all(&grouping_dir).map_err(|e| SymError::io(&grouping_dir, e))?;
        let (tx, rx) = sync_channel::<Job>(config.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for n in 0..config.workers.max(1) {
            let rx = rx.clone();
            let h = std::thread::Builder::new()
                .name(format!("symbolicator-{n}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        match job {
                            // A job that panics (a parser bug, ours or a
                            // library's, on a hostile input) must not take
                            // the worker with it, or a few such crashes stop
                            // symbolication until restart. Its caller sees
                            // the result sender dropped: "worker panicked".
                            Ok(job) => {
                                if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                                    tracing::error!("symbolication job panicked; worker continues");
                                }
                            }
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| SymError::Pool(e.to_string()))?;
            workers.push(h);
        }
        tracing::info!(root = %config.root.display(), workers = config.workers, "symbolicator started");
        Ok(Arc::new(Symbolicator {
            native: NativeSymbolizer::new(store.clone(), caches.clone()),
            retracer: Retracer::new(store.clone(), caches.clone()),
            js: JsSymbolizer::new(store.clone(), caches.clone()),
            store,
            caches,
            rules: RwLock::new(config.rules),
            overrides: RwLock::new(HashMap::new()),
            grouping_dir,
            jobs: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
            timeout: config.timeout,
        }))
    }

    /// The debug-file store.
    pub fn store(&self) -> &Arc<DebugFileStore> {
        &self.store
    }

    /// The derived caches.
    pub fn caches(&self) -> &Arc<DerivedCaches> {
        &self.caches
    }

    /// Native lookups (for direct use and benchmarks).
    pub fn native(&self) -> &NativeSymbolizer {
        &self.native
    }

    /// JS lookups.
    pub fn js(&self) -> &JsSymbolizer {
        &self.js
    }

    /// ProGuard indexes.
    pub fn retracer(&self) -> &Retracer {
        &self.retracer
    }

    /// Replaces the fingerprint rules.
    pub fn set_rules(&self, rules: GroupingRules) {
        if let Ok(mut r) = self.rules.write() {
            *r = rules;
        }
    }

    fn overrides_of(&self, app: &str) -> GroupOverrides {
        if let Some(o) = self.overrides.read().ok().and_then(|m| m.get(app).cloned()) {
            return o;
        }
        let path = self.grouping_dir.join(format!("{app}.json"));
        let o: GroupOverrides = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Ok(mut m) = self.overrides.write() {
            m.insert(app.to_string(), o.clone());
        }
        o
    }

    fn update_overrides(
        &self,
        app: &str,
        f: impl FnOnce(&mut GroupOverrides),
    ) -> Result<GroupOverrides> {
        check_app(app)?;
        let mut o = self.overrides_of(app);
        f(&mut o);
        let json = serde_json::to_vec_pretty(&o).map_err(|e| SymError::Internal(e.to_string()))?;
        write_atomic(&self.grouping_dir.join(format!("{app}.json")), &json)?;
        if let Ok(mut m) = self.overrides.write() {
            m.insert(app.to_string(), o.clone());
        }
        Ok(o)
    }

    /// Merges groups `from` into `into` for `app` (persisted).
    pub fn merge_groups(&self, app: &str, from: &[String], into: &str) -> Result<GroupOverrides> {
        tracing::info!(app, ?from, into, "groups merged");
        self.update_overrides(app, |o| o.merge(from, into))
    }

    /// Splits group `fingerprint` of `app` (persisted).
    pub fn split_group(&self, app: &str, fingerprint: &str, by: SplitBy) -> Result<GroupOverrides> {
        tracing::info!(app, fingerprint, ?by, "group split");
        self.update_overrides(app, |o| o.split(fingerprint, by))
    }

    /// Parses the raw payload of a crash, if it has one and no threads.
    pub fn raw_crash(&self, app: &str, ev: &CrashEvent) -> Result<RawCrash> {
        let Some(payload) = ev.raw.as_deref().filter(|_| ev.threads.is_empty()) else {
            return Ok(raw::from_event(ev));
        };
        let mut rc = match payload_kind(payload) {
            Some(PayloadKind::Minidump) => {
                let b64 = payload.trim_start().trim_start_matches("minidump:").trim();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| SymError::BadPayload {
                        kind: "minidump",
                        reason: e.to_string(),
                    })?;
                match std::str::from_utf8(&bytes) {
                    // A microdump sent as a minidump attachment.
                    Ok(text) if microdump::looks_like_microdump(text) => {
                        microdump::process(app, self.store.clone(), self.caches.clone(), text)?
                    }
                    _ => minidump::process(app, self.store.clone(), self.caches.clone(), &bytes)?,
                }
            }
            Some(PayloadKind::Microdump) => {
                microdump::process(app, self.store.clone(), self.caches.clone(), payload)?
            }
            Some(PayloadKind::AppleText) => {
                apple::text_report_to_raw(&apple::parse_text_report(payload)?)
            }
            Some(PayloadKind::AppleIps) => apple::parse_ips(payload)?,
            Some(PayloadKind::AppleJson) => apple::parse_sentry_event(payload)?,
            Some(PayloadKind::Tombstone) => android::parse_tombstone(payload)?,
            Some(PayloadKind::JavaTrace) => java_trace_to_raw(payload),
            None => {
                return Err(SymError::BadPayload {
                    kind: "raw",
                    reason: "unknown payload format".into(),
                });
            }
        };
        let base = raw::from_event(ev);
        if rc.exception_type.is_empty() {
            rc.exception_type = ev.exception_type.clone();
        }
        if rc.message.is_empty() {
            rc.message = ev.message.clone();
        }
        rc.proguard_uuids.extend(base.proguard_uuids);
        rc.scripts.extend(base.scripts);
        if rc.images.is_empty() {
            rc.images = base.images;
        }
        Ok(rc)
    }

    /// Symbolicates on the calling thread. Never fails: a crash that cannot
    /// be processed comes back `Status::Raw` with the reason.
    pub fn symbolicate_blocking(
        &self,
        app: &str,
        release: Option<&str>,
        ev: &CrashEvent,
    ) -> SymbolicatedCrash {
        let started = std::time::Instant::now();
        let raw = match check_app(app).and_then(|_| self.raw_crash(app, ev)) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(app, crash_id = %ev.crash_id, error = %e, "crash kept raw");
                return raw_result(ev, e.to_string());
            }
        };
        let rules = self.rules.read().map(|r| r.clone()).unwrap_or_default();
        let overrides = self.overrides_of(app);
        let p = Processor {
            app,
            release,
            native: &self.native,
            retracer: &self.retracer,
            js: &self.js,
            rules: &rules,
            overrides: &overrides,
        };
        let out = p.run(&ev.crash_id, raw);
        tracing::debug!(app, crash_id = %ev.crash_id, status = ?out.status, missing = out.missing.len(),
            fingerprint = %out.fingerprint, us = started.elapsed().as_micros() as u64, "crash symbolicated");
        out
    }

    /// Symbolicates on the pool; waits for queue room and for the result
    /// without blocking the async executor.
    pub async fn symbolicate(
        self: &Arc<Self>,
        app: &str,
        release: Option<&str>,
        ev: &CrashEvent,
    ) -> SymbolicatedCrash {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        let (app_s, rel_s, ev_c) = (app.to_string(), release.map(str::to_string), ev.clone());
        let mut job: Job = Box::new(move || {
            let r = me.symbolicate_blocking(&app_s, rel_s.as_deref(), &ev_c);
            let _ = tx.send(r);
        });
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let sent = match self.jobs.lock() {
                Ok(g) => match g.as_ref() {
                    Some(s) => s.try_send(job),
                    None => return raw_result(ev, "pool stopped".into()),
                },
                Err(_) => return raw_result(ev, "pool lock poisoned".into()),
            };
            match sent {
                Ok(()) => break,
                Err(TrySendError::Full(j)) => {
                    job = j;
                    if tokio::time::Instant::now() > deadline {
                        return raw_result(ev, "timeout: queue full".into());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(TrySendError::Disconnected(_)) => return raw_result(ev, "pool stopped".into()),
            }
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => raw_result(ev, "worker panicked".into()),
            Err(_) => raw_result(ev, "timeout".into()),
        }
    }

    /// Stops the pool after the queued jobs ran.
    pub fn shutdown(&self) {
        if let Ok(mut j) = self.jobs.lock() {
            j.take();
        }
        if let Ok(mut w) = self.workers.lock() {
            for h in w.drain(..) {
                let _ = h.join();
            }
        }
    }
}

fn raw_result(ev: &CrashEvent, reason: String) -> SymbolicatedCrash {
    SymbolicatedCrash {
        crash_id: ev.crash_id.clone(),
        exception_type: ev.exception_type.clone(),
        message: ev.message.clone(),
        threads: Vec::new(),
        fingerprint: String::new(),
        fingerprint_basis: Vec::new(),
        missing: Vec::new(),
        status: Status::Raw { reason },
    }
}

/// Parses a Java stack trace text into one crashed thread.
pub fn java_trace_to_raw(text: &str) -> RawCrash {
    let mut crash = RawCrash::default();
    let trace = proguard::StackTrace::try_parse(text.trim().as_bytes());
    let mut frames = Vec::new();
    if let Some(t) = &trace {
        if let Some(e) = t.exception() {
            crash.exception_type = e.class().to_string();
            crash.message = e.message().unwrap_or("").to_string();
        }
        for f in t.frames() {
            frames.push(raw::RawFrame::Java {
                class: f.class().to_string(),
                method: f.method().to_string(),
                file: f.file().map(str::to_string),
                line: f.line().map(|l| l as u32),
            });
        }
    }
    crash.threads.push(raw::RawThread {
        crashed: true,
        frames,
        ..Default::default()
    });
    crash
}

impl Drop for Symbolicator {
    fn drop(&mut self) {
        if let Ok(mut j) = self.jobs.lock() {
            j.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found while fixing a fuzz-found panic (fuzz/regressions/): a panicking
    /// job ended its worker thread, so `workers` such crashes stopped
    /// symbolication for good ("pool stopped").
    #[test]
    fn a_panicking_job_does_not_shrink_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path());
        cfg.workers = 1;
        let sym = Symbolicator::start(cfg).unwrap();
        let send = |job: Job| {
            let jobs = sym.jobs.lock().unwrap();
            jobs.as_ref().unwrap().send(job).unwrap();
        };
        send(Box::new(|| panic!("a parser bug")));
        let (tx, rx) = std::sync::mpsc::channel();
        send(Box::new(move || tx.send(42).unwrap()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(42));
    }

    #[test]
    fn payload_kinds() {
        assert_eq!(payload_kind("minidump:AAAA"), Some(PayloadKind::Minidump));
        assert_eq!(
            payload_kind(
                "W/google-breakpad( 1): -----BEGIN BREAKPAD MICRODUMP-----\nW/google-breakpad( 1): O A arm 02 armv7l x"
            ),
            Some(PayloadKind::Microdump)
        );
        assert_eq!(
            payload_kind("backtrace:\n    #00 pc 0000  /system/lib/libc.so"),
            Some(PayloadKind::Tombstone)
        );
        assert_eq!(
            payload_kind("java.lang.X: y\n    at a.b.c(SourceFile:1)"),
            Some(PayloadKind::JavaTrace)
        );
        assert_eq!(payload_kind("hello"), None);
    }
}
