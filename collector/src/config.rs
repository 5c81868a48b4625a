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
    /// Most nonces remembered at once (each for 2 × max_skew_secs).
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
