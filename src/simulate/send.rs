//! Delivery of one batch: encode (optionally gzip), sign, POST, and retry
//! per the protocol's rules.

use super::SimError;
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::Rng;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use vitals_protocol::Batch;
use vitals_protocol::sign::{HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign};

/// The ingest path, signed as part of the canonical string.
pub(crate) const BATCH_PATH: &str = "/api/v1/batch";
const BACKOFF_BASE_MS: u64 = 100;
const BACKOFF_CAP_MS: u64 = 5_000;
/// Longest `Retry-After` honoured, seconds.
const RETRY_AFTER_CAP_SECS: f64 = 300.0;

/// How a batch ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    Accepted,
    /// Refused with this status; not retried.
    Rejected {
        status: u16,
        detail: String,
    },
    /// Retries exhausted, a request that cannot be built, or stopped.
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub delivery: Delivery,
    pub retries: u32,
}

/// Sends batches to one collector with one ingest key.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    client: reqwest::Client,
    url: String,
    key_id: String,
    secret: Vec<u8>,
    gzip: bool,
    max_retries: u32,
}

impl Sender {
    pub(crate) fn new(
        target: &str,
        key_id: &str,
        key_secret: &str,
        gzip: bool,
        max_retries: u32,
        timeout: Duration,
        pool: usize,
    ) -> Result<Sender, SimError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(pool)
            .user_agent(concat!("vitals-simulate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SimError::Client(e.to_string()))?;
        Ok(Sender {
            client,
            url: format!("{}{BATCH_PATH}", target.trim_end_matches('/')),
            key_id: key_id.to_string(),
            secret: key_secret.as_bytes().to_vec(),
            gzip,
            max_retries,
        })
    }

    /// The body exactly as it goes on the wire.
    pub(crate) fn encode(&self, batch: &Batch) -> Result<Vec<u8>, SimError> {
        encode_body(batch, self.gzip)
    }

    /// Sends `body` until it is accepted, rejected, retries run out, or
    /// `stop` turns true during a wait.
    pub(crate) async fn send(
        &self,
        batch_id: &str,
        body: Vec<u8>,
        stop: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let mut retries = 0u32;
        loop {
            let wait = match self.attempt(&body).await {
                Attempt::Accepted => {
                    return Outcome {
                        delivery: Delivery::Accepted,
                        retries,
                    };
                }
                Attempt::Rejected(status, detail) => {
                    return Outcome {
                        delivery: Delivery::Rejected { status, detail },
                        retries,
                    };
                }
                Attempt::Fatal(reason) => {
                    return Outcome {
                        delivery: Delivery::Failed { reason },
                        retries,
                    };
                }
                Attempt::Retry {
                    retry_after,
                    reason,
                } => {
                    if retries >= self.max_retries {
                        let reason = format!("gave up after {retries} retries: {reason}");
                        return Outcome {
                            delivery: Delivery::Failed { reason },
                            retries,
                        };
                    }
                    let wait = match retry_after {
                        Some(secs) => retry_after_wait(secs),
                        None => backoff(retries),
                    };
                    tracing::debug!(batch_id, retry = retries + 1, wait_ms = wait.as_millis() as u64, %reason, "retrying batch");
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped(stop) => {
                    let reason = "stopped while waiting to retry".to_string();
                    return Outcome { delivery: Delivery::Failed { reason }, retries };
                }
            }
            retries += 1;
        }
    }

    /// One signed request: fresh timestamp and nonce every time.
    async fn attempt(&self, body: &[u8]) -> Attempt {
        let ts = unix_secs();
        let nonce = new_nonce();
        let signature = sign(&self.secret, "POST", BATCH_PATH, ts, &nonce, body);
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(HEADER_KEY, &self.key_id)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_NONCE, &nonce)
            .header(HEADER_SIGNATURE, signature)
            .body(body.to_vec());
        if self.gzip {
            req = req.header("content-encoding", "gzip");
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Attempt::Fatal(format!("cannot build request: {e}"));
            }
            Err(e) => {
                return Attempt::Retry {
                    retry_after: None,
                    reason: format!("transport error: {e}"),
                };
            }
        };
        let status = resp.status().as_u16();
        match status {
            200..=299 => Attempt::Accepted,
            429 | 503 => Attempt::Retry {
                retry_after: resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
                reason: format!("HTTP {status}"),
            },
            408 | 500..=599 => Attempt::Retry {
                retry_after: None,
                reason: format!("HTTP {status}"),
            },
            _ => {
                let mut detail = resp.text().await.unwrap_or_default();
                if detail.len() > 300 {
                    let cut = (0..=300)
                        .rev()
                        .find(|&i| detail.is_char_boundary(i))
                        .unwrap_or(0);
                    detail.truncate(cut);
                }
                Attempt::Rejected(status, detail)
            }
        }
    }
}

enum Attempt {
    Accepted,
    Rejected(u16, String),
    Retry {
        retry_after: Option<f64>,
        reason: String,
    },
    Fatal(String),
}

/// JSON, gzip-compressed when asked.
pub(crate) fn encode_body(batch: &Batch, gzip: bool) -> Result<Vec<u8>, SimError> {
    let json = serde_json::to_vec(batch).map_err(|e| SimError::Encode(e.to_string()))?;
    if !gzip {
        return Ok(json);
    }
    let mut enc = GzEncoder::new(Vec::with_capacity(json.len() / 4 + 64), Compression::fast());
    enc.write_all(&json)
        .map_err(|e| SimError::Encode(e.to_string()))?;
    enc.finish().map_err(|e| SimError::Encode(e.to_string()))
}

/// `Retry-After` as delta-seconds (integer or decimal). HTTP dates are not
/// used by vitals and fall back to backoff.
pub(crate) fn parse_retry_after(v: &str) -> Option<f64> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs.min(RETRY_AFTER_CAP_SECS))
}

/// The server's delay plus up to 10% (at least 50 ms, at most 1 s) of jitter.
pub(crate) fn retry_after_wait(secs: f64) -> Duration {
    let base_ms = (secs * 1000.0) as u64;
    let jitter_max = (base_ms / 10).clamp(50, 1000);
    Duration::from_millis(base_ms + rand::thread_rng().gen_range(0..=jitter_max))
}

/// Exponential backoff with "equal jitter": half the step fixed, half random.
pub(crate) fn backoff(retry: u32) -> Duration {
    let step = BACKOFF_BASE_MS
        .saturating_mul(1u64 << retry.min(16))
        .min(BACKOFF_CAP_MS);
    Duration::from_millis(step / 2 + rand::thread_rng().gen_range(0..=step / 2))
}

/// 32 random hex characters from the OS-seeded thread RNG (never from the
/// simulation seed: a re-run with the same seed must not replay nonces).
pub(crate) fn new_nonce() -> String {
    hex::encode(rand::thread_rng().r#gen::<[u8; 16]>())
}

pub(crate) fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Resolves once `stop` holds `true`; never, if its sender is gone.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
