//! Collector settings: serde structs with defaults (`[collector]`,
//! `[limits]`… in the config file).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use vitals_protocol::Limits;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct CollectorConfig {
    pub limits: Limits,
    pub auth: AuthConfig,
    pub replay: ReplayConfig,
    pub rate_limit: RateLimitConfig,
    pub spool: SpoolConfig,
    pub writer: WriterConfig,
    pub privacy: PrivacyConfig,
    pub sentry: crate::sentry::SentryConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Largest accepted difference between request timestamp and server
    /// time, seconds (6.4.3).
    pub max_skew_secs: u32,
    /// Most nonces remembered in memory per signing key (each for
    /// 2 × max_skew_secs), so one key's traffic never pushes out another
    /// key's nonces. The control plane keeps every nonce of the window
    /// (`[collector.replay]`); this bounds only the in-process cache.
    pub max_nonces: usize,
    /// How often ingest keys are re-read from the control plane, seconds
    /// (so a revocation by the CLI takes effect within this time).
    pub key_refresh_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            max_skew_secs: 300,
            max_nonces: 2_000_000,
            key_refresh_secs: 5,
        }
    }
}

/// The replay ledger (`[collector.replay]`): nonces and acknowledged batch
/// ids kept in the control plane, so replays are refused and re-sent
/// batches answered `duplicate: true` after a restart and on every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Record nonces and batch ids in the control plane (false: in this
    /// process's memory only, forgotten at a restart).
    pub durable: bool,
    /// Seconds an acknowledged batch id is remembered: a re-sent batch
    /// within this time is answered `duplicate: true` (it is stored once
    /// whenever it comes).
    pub batch_window_secs: u64,
    /// Most milliseconds an ingest request waits for the control plane at
    /// each step (nonce claim, batch lookup, batch record); beyond it the
    /// in-memory answer is used and counted.
    pub timeout_ms: u64,
    /// Most operations waiting for the ledger thread; beyond it, requests
    /// use the in-memory answer at once.
    pub queue: usize,
    /// Most operations in one control-plane transaction.
    pub max_group: usize,
    /// Seconds between deletions of expired nonces and batch ids.
    pub prune_every_secs: u64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            durable: true,
            batch_window_secs: 3600,
            timeout_ms: 500,
            queue: 100_000,
            max_group: 4096,
            prune_every_secs: 10,
        }
    }
}

/// A setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("collector.{key} {reason}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub reason: &'static str,
}

impl CollectorConfig {
    /// Checks the settings whose zero would break the collector.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let at_least_one = |key, v: u64| {
            if v == 0 {
                Err(InvalidSetting {
                    key,
                    reason: "must be at least 1",
                })
            } else {
                Ok(())
            }
        };
        let r = &self.replay;
        at_least_one("auth.max_skew_secs", u64::from(self.auth.max_skew_secs))?;
        at_least_one("auth.max_nonces", self.auth.max_nonces as u64)?;
        at_least_one("replay.batch_window_secs", r.batch_window_secs)?;
        at_least_one("replay.timeout_ms", r.timeout_ms)?;
        at_least_one("replay.queue", r.queue as u64)?;
        at_least_one("replay.max_group", r.max_group as u64)?;
        at_least_one("replay.prune_every_secs", r.prune_every_secs)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained events per second per app; 0 disables the limit.
    pub events_per_sec: u64,
    /// Bucket size: events an app may send in a burst.
    pub burst_events: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            events_per_sec: 200_000,
            burst_events: 400_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// Spool directory; default `<data_dir>/spool`.
    pub dir: Option<PathBuf>,
    /// Disk cap: beyond it new batches are refused with 503.
    pub max_bytes: u64,
    /// Segment file size before rotation; at most a quarter of
    /// `max_bytes` is used (a segment is deleted only once drained and
    /// left, so this keeps room free after a drain).
    pub segment_bytes: u64,
    /// Seconds a client is told to wait (Retry-After) when the spool is full.
    pub retry_after_secs: u32,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: None,
            max_bytes: 2 << 30,
            segment_bytes: 32 << 20,
            retry_after_secs: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    /// Most events per store insert.
    pub max_events: usize,
    /// How long the writer waits to fill a block before inserting anyway, ms.
    pub linger_ms: u64,
    /// Retry back-off bounds after a failed insert, ms.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_events: 50_000,
            linger_ms: 200,
            retry_min_ms: 200,
            retry_max_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct PrivacyConfig {
    /// Extra regular expressions whose matches are masked in crash messages
    /// (in addition to ID-card, mobile and bank-card/account numbers).
    pub extra_patterns: Vec<String>,
}
