//! The fleet simulator behind `vitals simulate` and `vitals demo`.
//!
//! A fleet of virtual devices (platform mix, models, OS versions, networks,
//! users and consent drawn deterministically from a seed) reports sessions,
//! crashes, cold starts, performance samples, installs, network timings,
//! hot-update funnels and custom events, spread over the last `days` days,
//! while releases roll out progressively and one "bad" release crashes far
//! more often than the others.
//!
//! * [`generate_batches`] / [`BatchGenerator`] build the batches without I/O
//!   (benchmarks, embedded-store tests);
//! * [`run`] / [`run_until`] sign and POST them to a collector with bounded
//!   concurrency, an optional rate, retries and backoff, and return a
//!   [`SimReport`] holding the ground truth of what was accepted, so tests can
//!   compare an analyzer's figures with what was sent.
//!
//! Batch `i` always belongs to device `i % devices` and is derived only from
//! the seed, the device index and the device's batch number: the data does
//! not depend on concurrency, and ids (batch, session, crash) are the same
//! for the same seed on every run, which makes re-sends idempotent.

mod bugs;
mod catalog;
mod crash;
mod device;
mod generate;
mod report;
mod send;
mod util;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_http;

pub use generate::BatchGenerator;
pub use report::{ReleaseTruth, SimReport, ground_truth};

use report::{BatchSummary, TruthAcc};
use send::{Delivery, Outcome, Sender, stopped};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinError, JoinSet};

/// Simulator settings (`[simulate]` in a config file, or CLI flags). Every
/// field has a default.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Collector base URL, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    pub app_id: String,
    /// Ingest key id (`X-Vitals-Key`).
    pub key_id: String,
    /// Ingest key secret; the HMAC key is its UTF-8 bytes as written.
    pub key_secret: String,
    pub seed: u64,
    /// Number of virtual devices.
    pub devices: u64,
    /// Batches to send in all; 0 = no limit.
    pub batches: u64,
    /// Stop issuing batches after this many seconds; 0 = no limit. With both
    /// limits set, whichever is reached first ends the run.
    pub duration_secs: u64,
    pub events_per_batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Target batches per second; 0 = as fast as possible.
    pub rate: f64,
    /// Event timestamps are spread over the last `days` days (1–30).
    pub days: u32,
    /// Send bodies gzip-compressed.
    pub gzip: bool,
    /// Releases with their rollout start; empty = [`default_releases`].
    pub releases: Vec<ReleaseSpec>,
    /// Version whose crash probability is multiplied. Unset = the newest
    /// release; `""` = none.
    pub bad_release: Option<String>,
    /// Crash probability factor of the bad release.
    pub crash_multiplier: f64,
    /// Probability that a session crashes (0.0003 = 0.03%, under the 0.05%
    /// standard).
    pub crash_probability: f64,
    /// Share of batches that are live traffic: a device active in the last
    /// hour, its sessions ending before now (what alerts, which watch a
    /// recent window, see). The rest is history spread over `days`. 0 =
    /// none, and the batches are exactly those of earlier versions.
    pub live_share: f64,
    /// Re-sends after 429 / 5xx / connection errors before giving up.
    pub max_retries: u32,
    /// Per-request timeout, seconds.
    pub timeout_secs: u64,
    /// Interval of progress log lines, seconds; 0 = none.
    pub progress_secs: u64,
    /// Anchor ("now") of the simulated history, Unix ms. Unset = the wall
    /// clock when each batch is generated (so a long run stays within the
    /// accepted lateness). Set it for bit-identical batches.
    pub now_ms: Option<i64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            target: "http://127.0.0.1:8080".into(),
            app_id: "demo".into(),
            key_id: String::new(),
            key_secret: String::new(),
            seed: 1,
            devices: 1000,
            batches: 1000,
            duration_secs: 0,
            events_per_batch: 100,
            concurrency: 16,
            rate: 0.0,
            days: 7,
            gzip: true,
            releases: default_releases(),
            bad_release: None,
            crash_multiplier: 20.0,
            crash_probability: 0.0003,
            live_share: 0.0,
            max_retries: 8,
            timeout_secs: 30,
            progress_secs: 5,
            now_ms: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("target", &self.target)
            .field("app_id", &self.app_id)
            .field("key_id", &self.key_id)
            .field(
                "key_secret",
                &if self.key_secret.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("seed", &self.seed)
            .field("devices", &self.devices)
            .field("batches", &self.batches)
            .field("duration_secs", &self.duration_secs)
            .field("events_per_batch", &self.events_per_batch)
            .field("concurrency", &self.concurrency)
            .field("rate", &self.rate)
            .field("days", &self.days)
            .field("gzip", &self.gzip)
            .field("releases", &self.releases)
            .field("bad_release", &self.bad_release)
            .field("crash_multiplier", &self.crash_multiplier)
            .field("crash_probability", &self.crash_probability)
            .field("live_share", &self.live_share)
            .field("max_retries", &self.max_retries)
            .field("timeout_secs", &self.timeout_secs)
            .field("progress_secs", &self.progress_secs)
            .field("now_ms", &self.now_ms)
            .finish()
    }
}

/// A release and when its rollout started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    pub version: String,
    #[serde(default)]
    pub build: String,
    /// Days before "now" the rollout started; devices pick it up after
    /// their own update latency (most within days, laggards in weeks).
    pub released_days_ago: f64,
}

/// Four releases: two long-established, one from last week, and a new one
/// three days into its rollout (the default bad release).
pub fn default_releases() -> Vec<ReleaseSpec> {
    [
        ("5.1.2", "5120", 45.0),
        ("5.2.0", "5200", 20.0),
        ("5.2.1", "5210", 9.0),
        ("5.3.0", "5300", 3.0),
    ]
    .into_iter()
    .map(|(v, b, d)| ReleaseSpec {
        version: v.into(),
        build: b.into(),
        released_days_ago: d,
    })
    .collect()
}

/// Why the simulator could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A setting is out of range or inconsistent.
    #[error("invalid simulator setting: {0}")]
    Config(String),
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// A batch could not be serialised or compressed.
    #[error("cannot encode a batch: {0}")]
    Encode(String),
}

fn bad(msg: impl Into<String>) -> Result<(), SimError> {
    Err(SimError::Config(msg.into()))
}

impl SimConfig {
    /// Checks the settings that shape the generated data.
    pub fn check(&self) -> Result<(), SimError> {
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
        };
        if !id_ok(&self.app_id) {
            return bad(format!(
                "app_id '{}' must be 1–128 of letters, digits, . _ - :",
                self.app_id
            ));
        }
        if self.devices == 0 {
            return bad("devices must be at least 1");
        }
        if !(1..=1000).contains(&self.events_per_batch) {
            return bad(format!(
                "events_per_batch {} must be within 1–1000",
                self.events_per_batch
            ));
        }
        if !(1..=30).contains(&self.days) {
            return bad(format!(
                "days {} must be within 1–30 (the accepted lateness)",
                self.days
            ));
        }
        if self.releases.is_empty() {
            return bad("at least one release is needed");
        }
        for (i, r) in self.releases.iter().enumerate() {
            if r.version.is_empty() || r.version.len() > 256 || r.build.len() > 256 {
                return bad(format!(
                    "release {i}: version must be 1–256 characters, build at most 256"
                ));
            }
            if !r.released_days_ago.is_finite() || r.released_days_ago < 0.0 {
                return bad(format!(
                    "release {}: released_days_ago must be 0 or more",
                    r.version
                ));
            }
            if self.releases[..i].iter().any(|o| o.version == r.version) {
                return bad(format!("release {} is listed twice", r.version));
            }
        }
        if let Some(v) = self.bad_release.as_deref()
            && !v.is_empty()
            && !self.releases.iter().any(|r| r.version == v)
        {
            return bad(format!("bad_release {v} is not one of the releases"));
        }
        if !(0.0..=1.0).contains(&self.crash_probability) {
            return bad("crash_probability must be within 0–1");
        }
        if !(0.0..=1.0).contains(&self.live_share) {
            return bad("live_share must be within 0–1");
        }
        if !self.crash_multiplier.is_finite() || self.crash_multiplier < 0.0 {
            return bad("crash_multiplier must be 0 or more");
        }
        Ok(())
    }

    /// [`Self::check`] plus what sending needs.
    pub fn check_run(&self) -> Result<(), SimError> {
        self.check()?;
        match reqwest::Url::parse(&self.target) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return bad(format!("target '{}' must be an http(s) URL", self.target)),
        }
        if self.key_id.is_empty() || self.key_secret.is_empty() {
            return bad(
                "key_id and key_secret are required (create a key with `vitals keys create`)",
            );
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return bad(format!("concurrency must be within 1–{MAX_CONCURRENCY}"));
        }
        if !(self.rate == 0.0 || (0.01..=1e6).contains(&self.rate)) {
            return bad("rate must be 0 (unlimited) or within 0.01–1000000 batches/s");
        }
        if self.timeout_secs == 0 {
            return bad("timeout_secs must be at least 1");
        }
        Ok(())
    }
}

/// Most requests in flight at once.
const MAX_CONCURRENCY: usize = 10_000;
/// How far a rate-limited run may fall behind its schedule before it stops
/// trying to catch up (so a stall is not followed by a burst).
const MAX_LAG: Duration = Duration::from_secs(1);

/// Wall-clock Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The first `n` batches of the run `cfg` describes, without any I/O.
/// Deterministic for a given config when `cfg.now_ms` is set (otherwise the
/// anchor is the wall clock at the call). Out-of-range settings are clamped.
pub fn generate_batches(cfg: &SimConfig, n: usize) -> Vec<vitals_protocol::Batch> {
    let generator = BatchGenerator::new(cfg);
    (0..n as u64).map(|i| generator.batch(i)).collect()
}

/// Sends batches as `cfg` says until its batch or time limit is reached
/// (with neither set it runs until the process ends; see [`run_until`]).
pub async fn run(cfg: SimConfig) -> Result<SimReport, SimError> {
    let (_keep, stop) = watch::channel(false);
    run_until(cfg, stop).await
}

/// Like [`run`], also stopping when `stop` turns `true` (e.g. on Ctrl-C):
/// no new batch is started, requests in flight complete, pending retry
/// waits are abandoned (counted as failed). A dropped sender never stops it.
pub async fn run_until(cfg: SimConfig, stop: watch::Receiver<bool>) -> Result<SimReport, SimError> {
    cfg.check_run()?;
    let generator = Arc::new(BatchGenerator::new(&cfg));
    let sender = Arc::new(Sender::new(
        &cfg.target,
        &cfg.key_id,
        &cfg.key_secret,
        cfg.gzip,
        cfg.max_retries,
        Duration::from_secs(cfg.timeout_secs),
        cfg.concurrency,
    )?);
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let started = Instant::now();
    let deadline = (cfg.duration_secs > 0)
        .then(|| started.checked_add(Duration::from_secs(cfg.duration_secs)))
        .flatten();
    let interval = (cfg.rate > 0.0)
        .then(|| Duration::try_from_secs_f64(1.0 / cfg.rate).ok())
        .flatten();
    let mut due = started;
    let mut agg = Aggregate::new(started, cfg.progress_secs);
    let mut tasks: JoinSet<(BatchSummary, Outcome, u32)> = JoinSet::new();
    let mut stop_main = stop.clone();
    tracing::info!(
        target_url = %cfg.target, app_id = %cfg.app_id, seed = cfg.seed, devices = cfg.devices,
        batches = cfg.batches, duration_secs = cfg.duration_secs, concurrency = cfg.concurrency,
        rate = cfg.rate, gzip = cfg.gzip, "simulation starting"
    );

    let mut index = 0u64;
    loop {
        if cfg.batches > 0 && index >= cfg.batches {
            break;
        }
        if let Some(interval) = interval {
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = stopped(&mut stop_main) => break,
                _ = until(deadline) => break,
            }
            let floor = Instant::now().checked_sub(MAX_LAG).unwrap_or(due);
            due = due.max(floor).checked_add(interval).unwrap_or(due);
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop_main) => break,
            _ = until(deadline) => break,
        };
        let generator = generator.clone();
        let sender = sender.clone();
        let mut stop_task = stop.clone();
        let fixed_anchor = cfg.now_ms;
        tasks.spawn(async move {
            let _permit = permit;
            let batch = generator.batch_at(index, fixed_anchor.unwrap_or_else(now_ms));
            let summary = BatchSummary::of(&batch);
            let sent_at = Instant::now();
            let outcome = match sender.encode(&batch) {
                Ok(body) => sender.send(&batch.batch_id, body, &mut stop_task).await,
                Err(e) => Outcome {
                    delivery: Delivery::Failed {
                        reason: e.to_string(),
                    },
                    retries: 0,
                },
            };
            // Time to acknowledgement, retries included.
            let ack_ms = u32::try_from(sent_at.elapsed().as_millis()).unwrap_or(u32::MAX);
            (summary, outcome, ack_ms)
        });
        index += 1;
        while let Some(res) = tasks.try_join_next() {
            agg.record(res);
        }
        agg.maybe_log();
    }
    while let Some(res) = tasks.join_next().await {
        agg.record(res);
        agg.maybe_log();
    }
    let report = agg.finish();
    tracing::info!(
        sent = report.batches_sent,
        accepted = report.batches_accepted,
        rejected = report.rejected_total(),
        failed = report.failed,
        retries = report.retries,
        events = report.events_sent,
        elapsed_secs = report.elapsed_secs,
        events_per_sec = report.events_per_sec,
        "simulation finished"
    );
    Ok(report)
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Running totals of a run.
struct Aggregate {
    report: SimReport,
    /// Milliseconds to acknowledgement of each accepted batch.
    ack_ms: Vec<u32>,
    truth: TruthAcc,
    started: Instant,
    progress: Option<Duration>,
    last_log: Instant,
}

impl Aggregate {
    fn new(started: Instant, progress_secs: u64) -> Self {
        Aggregate {
            report: SimReport::default(),
            ack_ms: Vec::new(),
            truth: TruthAcc::default(),
            started,
            progress: (progress_secs > 0).then(|| Duration::from_secs(progress_secs)),
            last_log: started,
        }
    }

    fn record(&mut self, res: Result<(BatchSummary, Outcome, u32), JoinError>) {
        let r = &mut self.report;
        let (summary, outcome, ack_ms) = match res {
            Ok(x) => x,
            Err(e) => {
                r.failed += 1;
                tracing::error!(error = %e, "batch task failed");
                return;
            }
        };
        r.batches_sent += 1;
        r.events_sent += summary.events;
        r.retries += u64::from(outcome.retries);
        match outcome.delivery {
            Delivery::Accepted => {
                self.ack_ms.push(ack_ms);
                r.batches_accepted += 1;
                r.events_accepted += summary.events;
                self.truth.add(&summary);
            }
            Delivery::Rejected { status, detail } => {
                let n = r.batches_rejected.entry(status).or_insert(0);
                *n += 1;
                if *n == 1 || n.is_power_of_two() {
                    tracing::warn!(status, count = *n, %detail, "batch rejected");
                }
            }
            Delivery::Failed { reason } => {
                r.failed += 1;
                if r.failed.is_power_of_two() {
                    tracing::warn!(failed = r.failed, %reason, "batch failed");
                }
            }
        }
    }

    fn maybe_log(&mut self) {
        let Some(every) = self.progress else { return };
        if self.last_log.elapsed() < every {
            return;
        }
        self.last_log = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        let r = &self.report;
        tracing::info!(
            sent = r.batches_sent,
            accepted = r.batches_accepted,
            rejected = r.rejected_total(),
            failed = r.failed,
            retries = r.retries,
            elapsed_secs = secs,
            events_per_sec = r.events_accepted as f64 / secs.max(1e-9),
            "simulation progress"
        );
    }

    fn finish(self) -> SimReport {
        let mut r = self.report;
        r.elapsed_secs = self.started.elapsed().as_secs_f64();
        r.events_per_sec = r.events_accepted as f64 / r.elapsed_secs.max(1e-9);
        r.truth = self.truth.finish();
        let mut ms = self.ack_ms;
        ms.sort_unstable();
        let pct = |p: f64| -> Option<u32> {
            let i = ((ms.len() as f64 - 1.0) * p).round() as usize;
            ms.get(i).copied()
        };
        r.ack_ms_p50 = pct(0.5);
        r.ack_ms_p99 = pct(0.99);
        r.ack_ms_max = ms.last().copied();
        r
    }
}
