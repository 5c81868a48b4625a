//! What a run did, and the ground truth of what it delivered, per release.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use vitals_i18n::{Lang, Msg};
use vitals_protocol::{Batch, Event, SessionPhase, SessionStatus};

/// The outcome of [`super::run`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Batches sent at least once.
    pub batches_sent: u64,
    /// Batches the collector accepted (any 2xx, normally 202).
    pub batches_accepted: u64,
    /// Batches refused without retry, by HTTP status.
    pub batches_rejected: BTreeMap<u16, u64>,
    /// Re-sends after 429 / 5xx / connection errors.
    pub retries: u64,
    /// Batches given up on (retries exhausted, or stopped while waiting).
    pub failed: u64,
    pub events_sent: u64,
    pub events_accepted: u64,
    pub elapsed_secs: f64,
    /// Accepted events per second of wall time.
    pub events_per_sec: f64,
    /// Ground truth of the accepted batches, by release version.
    pub truth: BTreeMap<String, ReleaseTruth>,
    /// Milliseconds from sending a batch to its acknowledgement (retries
    /// included), over accepted batches: median, 99th percentile, worst.
    #[serde(default)]
    pub ack_ms_p50: Option<u32>,
    #[serde(default)]
    pub ack_ms_p99: Option<u32>,
    #[serde(default)]
    pub ack_ms_max: Option<u32>,
}

impl SimReport {
    /// Total rejected batches over all statuses.
    pub fn rejected_total(&self) -> u64 {
        self.batches_rejected.values().sum()
    }

    /// The one-line summary for the CLI (`cli.simulate.report`).
    pub fn render(&self, lang: Lang) -> String {
        Msg::CliSimulateReport.render(
            lang,
            &[
                ("sent", &self.batches_sent),
                ("events", &self.events_sent),
                ("accepted", &self.batches_accepted),
                ("rejected", &self.rejected_total()),
                ("retries", &self.retries),
                ("secs", &format!("{:.1}", self.elapsed_secs)),
                ("rate", &format!("{:.0}", self.events_per_sec)),
            ],
        )
    }
}

/// What one release's batches contained: the numbers an analyzer should
/// reproduce.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseTruth {
    pub version: String,
    pub build: String,
    pub batches: u64,
    pub events: u64,
    /// Session `start` events.
    pub sessions_started: u64,
    /// Session `end` events with status `crashed`.
    pub sessions_crashed: u64,
    /// Session `end` events with status `abnormal`.
    pub sessions_abnormal: u64,
    /// Crash events with `fatal: true`.
    pub fatal_crashes: u64,
    /// Crash events with `fatal: false` (handled errors).
    pub nonfatal_errors: u64,
    /// Distinct user ids seen (batches without a user id are not counted).
    pub users: u64,
    /// Distinct install ids seen.
    pub installs: u64,
    pub users_with_fatal_crash: u64,
    pub installs_with_fatal_crash: u64,
}

impl ReleaseTruth {
    /// Crashed sessions / started sessions (0 when none started).
    pub fn crash_rate(&self) -> f64 {
        if self.sessions_started == 0 {
            0.0
        } else {
            self.sessions_crashed as f64 / self.sessions_started as f64
        }
    }
}

/// Counts of one batch, taken before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct BatchSummary {
    version: String,
    build: String,
    pub events: u64,
    sessions_started: u64,
    sessions_crashed: u64,
    sessions_abnormal: u64,
    fatal_crashes: u64,
    nonfatal_errors: u64,
    user_id: Option<String>,
    install_id: String,
}

impl BatchSummary {
    pub(crate) fn of(batch: &Batch) -> BatchSummary {
        let mut s = BatchSummary {
            version: batch.release.version.clone(),
            build: batch.release.build.clone(),
            events: batch.events.len() as u64,
            sessions_started: 0,
            sessions_crashed: 0,
            sessions_abnormal: 0,
            fatal_crashes: 0,
            nonfatal_errors: 0,
            user_id: batch.user_id.clone(),
            install_id: batch.install_id.clone(),
        };
        for e in &batch.events {
            match e {
                Event::Session(x) if x.phase == SessionPhase::Start => s.sessions_started += 1,
                Event::Session(x) => match x.status {
                    Some(SessionStatus::Crashed) => s.sessions_crashed += 1,
                    Some(SessionStatus::Abnormal) => s.sessions_abnormal += 1,
                    _ => {}
                },
                Event::Crash(c) if c.fatal => s.fatal_crashes += 1,
                Event::Crash(_) => s.nonfatal_errors += 1,
                _ => {}
            }
        }
        s
    }
}

#[derive(Debug, Default)]
struct ReleaseAcc {
    t: ReleaseTruth,
    users: HashSet<String>,
    installs: HashSet<String>,
    users_fatal: HashSet<String>,
    installs_fatal: HashSet<String>,
}

/// Accumulates ground truth over batches.
#[derive(Debug, Default)]
pub(crate) struct TruthAcc {
    by_release: BTreeMap<String, ReleaseAcc>,
}

impl TruthAcc {
    pub(crate) fn add(&mut self, s: &BatchSummary) {
        let acc = self.by_release.entry(s.version.clone()).or_default();
        let t = &mut acc.t;
        if t.version.is_empty() {
            t.version = s.version.clone();
            t.build = s.build.clone();
        }
        t.batches += 1;
        t.events += s.events;
        t.sessions_started += s.sessions_started;
        t.sessions_crashed += s.sessions_crashed;
        t.sessions_abnormal += s.sessions_abnormal;
        t.fatal_crashes += s.fatal_crashes;
        t.nonfatal_errors += s.nonfatal_errors;
        if let Some(u) = &s.user_id {
            acc.users.insert(u.clone());
            if s.fatal_crashes > 0 {
                acc.users_fatal.insert(u.clone());
            }
        }
        acc.installs.insert(s.install_id.clone());
        if s.fatal_crashes > 0 {
            acc.installs_fatal.insert(s.install_id.clone());
        }
    }

    pub(crate) fn finish(self) -> BTreeMap<String, ReleaseTruth> {
        self.by_release
            .into_iter()
            .map(|(k, a)| {
                let mut t = a.t;
                t.users = a.users.len() as u64;
                t.installs = a.installs.len() as u64;
                t.users_with_fatal_crash = a.users_fatal.len() as u64;
                t.installs_with_fatal_crash = a.installs_fatal.len() as u64;
                (k, t)
            })
            .collect()
    }
}

/// Ground truth of `batches` by release version: the same figures
/// [`SimReport::truth`] holds for the batches a run delivered.
pub fn ground_truth(batches: &[Batch]) -> BTreeMap<String, ReleaseTruth> {
    let mut acc = TruthAcc::default();
    for b in batches {
        acc.add(&BatchSummary::of(b));
    }
    acc.finish()
}
